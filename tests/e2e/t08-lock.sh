#!/bin/bash
# One writer per folder: a second writer waits a little, then exits 4 naming
# the holder; a dead holder's lock is taken over; the stale lock files a
# killed writer leaves in .dsync (index.lock, refs/heads/main.lock, ...) do
# not stop the next snapshot.
. "$(dirname "$0")/lib.sh"

F=$TMP/docs
mkdir -p "$F/sub"
cd "$F"
echo one > a.txt
echo sub > sub/b.txt
ok "init" dsync init --device-name box
S1=$(head_id "$F")
LOCK=$F/.dsync/dsync.lock

# hold LOCK the way dsync does (flock), with the holder's pid inside; the
# lock belongs to the flock process alone (-o), so killing it frees the lock
hold_lock() { # SECONDS
	rm -f "$TMP/sleeper"
	flock -o "$LOCK" sh -c 'echo $PPID > "$1"; echo $$ > "$2"; exec sleep "$3"' \
		sh "$LOCK" "$TMP/sleeper" "$1" &
	HOLDER=$!
	STARTED_PIDS+=("$HOLDER")
	disown "$HOLDER"   # no "Killed" notice from bash
	local i
	for i in $(seq 100); do
		[ -s "$TMP/sleeper" ] && [ "$(cat "$LOCK" 2>/dev/null)" = "$HOLDER" ] && break
		sleep 0.1
	done
	STARTED_PIDS+=("$(cat "$TMP/sleeper")")
}
gone() { # PID: wait until it has exited (and been reaped)
	local i
	for i in $(seq 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
}

# --- a held lock: the second writer waits, then exits 4 naming the holder
hold_lock 60
check "setup: the lock is held" "$(cat "$LOCK")" = "$HOLDER"
echo two > a.txt
t0=$(now_ms)
fails 4 "snapshot while another holds the lock: exit 4" dsync snapshot
waited=$(( $(now_ms) - t0 ))
check "it waited a little first (${waited} ms)" "$waited" -ge 2000
check "but not for ever (${waited} ms)" "$waited" -lt 30000
contains "the message names the holder's pid" "$TMP/err" "pid $HOLDER"
contains "the message is a dsync error" "$TMP/err" "dsync: error: "
check "the message is one line" "$(wc -l < "$TMP/err")" = 1
check "nothing recorded" "$(head_id "$F")" = "$S1"

fails 4 "restore in place while the lock is held: exit 4" dsync restore a.txt --at "$S1"
contains "restore names the holder" "$TMP/err" "pid $HOLDER"
check "restore wrote nothing" "$(cat a.txt)" = two
check "restore recorded nothing" "$(head_id "$F")" = "$S1"

# --- the holder dies (kill -9): its lock is taken over
kill -9 "$HOLDER"
gone "$HOLDER"
check "setup: the dead holder's pid is still in the lock file" "$(cat "$LOCK")" = "$HOLDER"
t0=$(now_ms)
ok "snapshot after the holder died" dsync snapshot
waited=$(( $(now_ms) - t0 ))
check "it did not wait for the dead holder (${waited} ms)" "$waited" -lt 4000
check "the change is recorded" "$(git --git-dir=.dsync show refs/heads/main:a.txt)" = two
S2=$(head_id "$F")
check "one more snapshot" "$(commit_count "$F")" = 2

# --- a lock released while the second writer waits: it goes ahead
hold_lock 2
echo three > a.txt
t0=$(now_ms)
ok "snapshot waits for a short holder, then goes ahead" dsync snapshot
waited=$(( $(now_ms) - t0 ))
check "it waited for the holder (${waited} ms)" "$waited" -ge 1000
check "the change is recorded after waiting" "$(git --git-dir=.dsync show refs/heads/main:a.txt)" = three

# --- a dsync killed while working: its lock is taken over too
head -c 60000000 /dev/urandom > big1.bin
head -c 60000000 /dev/urandom > big2.bin
"$DSYNC" snapshot > "$TMP/killed.out" 2>&1 &
VICTIM=$!
STARTED_PIDS+=("$VICTIM")
disown "$VICTIM"
for i in $(seq 200); do
	[ "$(cat "$LOCK" 2>/dev/null)" = "$VICTIM" ] && break
	kill -0 "$VICTIM" 2>/dev/null || break
	sleep 0.02
done
sleep 0.3
if kill -9 "$VICTIM" 2>/dev/null; then
	echo "# killed a working dsync snapshot (pid $VICTIM)"
else
	echo "# the dsync snapshot finished before it could be killed"
fi
gone "$VICTIM"
ok "snapshot after a dsync was killed mid-way" dsync snapshot
check "it did not find the folder busy" -z "$(grep busy "$TMP/err")"
check "the big files are stored" \
	"$(dsync show HEAD:big2.bin | wc -c)" = 60000000
check "the big file's bytes" \
	"$(dsync show HEAD:big1.bin | cmp - big1.bin && echo same)" = same
ok "fsck after the kill" git --git-dir=.dsync fsck --full --no-dangling
rm big1.bin big2.bin
ok "snapshot the removal of the big files" dsync snapshot

# --- stale git lock files left by a crashed writer
N=$(commit_count "$F")
: > .dsync/index.lock
mkdir -p .dsync/refs/heads
git --git-dir=.dsync rev-parse refs/heads/main > .dsync/refs/heads/main.lock
: > .dsync/HEAD.lock
: > .dsync/packed-refs.lock
: > .dsync/config.lock
echo four > a.txt
echo new > sub/new.txt
ok "snapshot with stale git lock files" dsync snapshot
check "the snapshot is recorded" "$(commit_count "$F")" = $((N + 1))
check "the edit is stored" "$(git --git-dir=.dsync show refs/heads/main:a.txt)" = four
check "the new file is stored" "$(git --git-dir=.dsync show refs/heads/main:sub/new.txt)" = new
check "stale index.lock gone" ! -e .dsync/index.lock
check "stale refs/heads/main.lock gone" ! -e .dsync/refs/heads/main.lock
check "stale HEAD.lock gone" ! -e .dsync/HEAD.lock
ok "status afterwards" dsync status
contains "nothing left unrecorded" "$TMP/out" "nothing changed"

# and a restore in place with a stale lock left over
: > .dsync/index.lock
: > .dsync/refs/heads/main.lock
ok "restore in place with stale git lock files" dsync restore a.txt --at "$S2"
check "restored content" "$(cat a.txt)" = two
check "the version replaced is in history" \
	"$(git --git-dir=.dsync log --format=%H refs/heads/main | while read -r c; do
		git --git-dir=.dsync show "$c:a.txt" 2>/dev/null | grep -x four > /dev/null && echo yes && break; done)" = yes

ok "git fsck is clean" git --git-dir=.dsync fsck --full --no-dangling
finish
