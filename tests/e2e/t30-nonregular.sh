#!/bin/bash
# FIFOs (and other non-regular files) where dsync reads its own files: the
# folder registry ~/.config/dsync/folders, a kept key, .dsyncignore, the
# folder's lock, .dsync/config, .dsync/index.  Each is refused at once with
# a one-line error naming it ("not a regular file (a FIFO); remove it"),
# never opened in a way that waits for a writer; and `dsync daemon` in each
# of those states ends within a second of SIGTERM, exit 0 (and so it does in
# the middle of a long snapshot).
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/watchlib.sh"

# TIMEOUT: every command that could block on a FIFO runs under it
T=(timeout -k 2 20)
NOT_REGULAR='not a regular file (a FIFO); remove it'
# the longest a stop may take (ms): a second
STOP_MS=1000
CFG=$HOME/.config/dsync
F=$(cd "$TMP" && pwd -P)/f
LOG=$TMP/daemon.log

# stop_within WHAT: SIGTERM to the daemon, which must exit 0 within STOP_MS
# (it is killed after 10 s; the time is measured in steps of 20 ms)
stop_within() {
	local what=$1 t0 ms hung= rc
	if grep -q wait_for_partner "/proc/$WPID/wchan" 2>/dev/null; then
		fail "$what: the daemon is blocked opening a FIFO"
	fi
	t0=$(date +%s%N)
	kill -TERM "$WPID"
	while running "$WPID"; do
		if [ $(( ($(date +%s%N) - t0) / 1000000 )) -ge 10000 ]; then
			kill -9 "$WPID"
			hung=1
			break
		fi
		sleep 0.02
	done
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	rc=0
	wait "$WPID" || rc=$?
	if [ -z "$hung" ] && [ "$rc" = 0 ] && [ "$ms" -le "$STOP_MS" ]; then
		pass "$what: SIGTERM ends the daemon in $ms ms, exit 0"
	else
		fail "$what: SIGTERM: exit $rc after $ms ms${hung:+ (hung: killed)}"
		show_log "$LOG"
	fi
}

# 1. the folder registry is a FIFO
mkdir -p "$CFG"
mkfifo "$CFG/folders"
start_watch "$LOG" daemon
if wait_text "$LOG" "cannot read the folder list: cannot read '$CFG/folders': $NOT_REGULAR"; then
	pass "a FIFO as the folder registry: refused, named"
else fail "a FIFO as the folder registry: no error line"; show_log "$LOG"; fi
check "no 'no folders registered yet' after the error" -z "$(grep -F 'no folders registered yet' "$LOG")"
stop_within "registry a FIFO"
fails 1 "dsync init refuses the FIFO registry" "${T[@]}" "$DSYNC" init "$TMP/g"
contains "naming it" "$TMP/err" "cannot read '$CFG/folders': $NOT_REGULAR"
rm -rf "$TMP/g"

# the FIFO is replaced by a file: the daemon picks the registry up
start_watch "$LOG" daemon
if wait_text "$LOG" "cannot read the folder list"; then pass "daemon started on the FIFO"
else fail "daemon on the FIFO: no error line"; show_log "$LOG"; fi
rm "$CFG/folders"
ok "init once the FIFO is gone" "${T[@]}" "$DSYNC" init "$F" --device-name box
if wait_text "$LOG" "$F: watching"; then pass "the daemon picks up the folder registered then"
else fail "the daemon does not pick up the new registry"; show_log "$LOG"; fi
stop_within "registry back to a file"

cd "$F"
for i in $(seq 5); do echo "file $i" > "f$i.txt"; done
ok "a first snapshot" "${T[@]}" "$DSYNC" snapshot -q

# 2. .dsyncignore is a FIFO (put in place while the daemon watches)
start_watch "$LOG" daemon
if wait_text "$LOG" "$F: watching"; then pass "daemon watching f"
else fail "daemon: not watching f"; show_log "$LOG"; fi
mkfifo "$TMP/fifo-ignore"
mv "$TMP/fifo-ignore" .dsyncignore
if wait_text "$LOG" "ignore rules not reloaded: cannot read '$F/.dsyncignore': $NOT_REGULAR"; then
	pass "a FIFO .dsyncignore while watching: the rules are not reloaded, said so"
else fail "a FIFO .dsyncignore while watching: no warning"; show_log "$LOG"; fi
if wait_text "$LOG" "snapshot failed: cannot read '$F/.dsyncignore': $NOT_REGULAR"; then
	pass "and the snapshot fails with the reason"
else fail "no failed snapshot with the reason"; show_log "$LOG"; fi
stop_within ".dsyncignore a FIFO"
fails 1 "dsync snapshot with a FIFO .dsyncignore" "${T[@]}" "$DSYNC" snapshot
contains "naming it" "$TMP/err" "cannot read '$F/.dsyncignore': $NOT_REGULAR"
fails 1 "dsync status with a FIFO .dsyncignore" "${T[@]}" "$DSYNC" status
start_watch "$LOG" daemon
if wait_text "$LOG" "paused: cannot read '$F/.dsyncignore': $NOT_REGULAR; nothing is recorded until that is fixed"; then
	pass "the daemon started on a FIFO .dsyncignore: paused, naming it"
else fail "the daemon started on a FIFO .dsyncignore: no pause naming it"; show_log "$LOG"; fi
check "not blamed on a drive" -z "$(grep -F 'unmounted drive' "$LOG")"
stop_within "started with .dsyncignore a FIFO"
rm .dsyncignore

# 3. .dsync/config is a FIFO (libgit2 would block opening it)
start_watch "$LOG" daemon
if wait_text "$LOG" "$F: watching"; then pass "daemon watching f again"
else fail "daemon: not watching f again"; show_log "$LOG"; fi
mv .dsync/config "$TMP/config.saved"
mkfifo .dsync/config
echo "a change to record" > change.txt
if wait_text "$LOG" "snapshot failed: cannot read '$F/.dsync/config': $NOT_REGULAR"; then
	pass "a FIFO .dsync/config while watching: the snapshot fails, naming it"
else fail "a FIFO .dsync/config: no failed snapshot"; show_log "$LOG"; fi
stop_within ".dsync/config a FIFO"
fails 1 "dsync log with a FIFO .dsync/config" "${T[@]}" "$DSYNC" log
contains "naming it" "$TMP/err" "cannot read '$F/.dsync/config': $NOT_REGULAR"
rm .dsync/config
mv "$TMP/config.saved" .dsync/config

# 4. the index is a FIFO
mv .dsync/index "$TMP/index.saved"
mkfifo .dsync/index
fails 1 "dsync snapshot with a FIFO index" "${T[@]}" "$DSYNC" snapshot
contains "naming it" "$TMP/err" "cannot read '$F/.dsync/index': $NOT_REGULAR"
start_watch "$LOG" daemon
if wait_text "$LOG" "$NOT_REGULAR"; then pass "the daemon on a FIFO index: says so"
else fail "the daemon on a FIFO index: no error"; show_log "$LOG"; fi
stop_within "index a FIFO"
rm .dsync/index
mv "$TMP/index.saved" .dsync/index

# 5. the folder's lock is a FIFO
mkfifo .dsync/dsync.lock.new
mv .dsync/dsync.lock.new .dsync/dsync.lock
fails 1 "dsync snapshot with a FIFO lock" "${T[@]}" "$DSYNC" snapshot
contains "naming it" "$TMP/err" "cannot open '$F/.dsync/dsync.lock': $NOT_REGULAR"
start_watch "$LOG" daemon
if wait_text "$LOG" "snapshot failed: cannot open '$F/.dsync/dsync.lock': $NOT_REGULAR"; then
	pass "the daemon on a FIFO lock: the snapshot fails, naming it"
else fail "the daemon on a FIFO lock: no error"; show_log "$LOG"; fi
stop_within "lock a FIFO"
rm .dsync/dsync.lock
# the watcher's own lock
ID=$(cat .dsync/dsync-folder)
mkdir -p "$CFG/watch"
rm -f "$CFG/watch/$ID.lock"
mkfifo "$CFG/watch/$ID.lock"
fails 1 "dsync watch with a FIFO watch lock" "${T[@]}" "$DSYNC" watch "$F"
contains "naming it" "$TMP/err" "cannot open '$CFG/watch/$ID.lock': $NOT_REGULAR"
rm "$CFG/watch/$ID.lock"

ok "a snapshot once everything is back" "${T[@]}" "$DSYNC" snapshot -q
check "with the change made meanwhile" "$(git --git-dir=.dsync show refs/heads/main:change.txt)" = "a change to record"

# 6. a kept key is a FIFO
echo "correct horse battery staple" > "$TMP/pass"
ok "remote add (keeps the key)" setsid -w "${T[@]}" "$DSYNC" remote add usb "file://$TMP/usb" \
	--passphrase-file "$TMP/pass" < /dev/null
ok "sync with the kept key" setsid -w "${T[@]}" "$DSYNC" sync < /dev/null
KEY=$(ls "$CFG/keys/"* 2>/dev/null | head -1)
check "a key is kept" -n "$KEY"
mv "$KEY" "$TMP/key.saved"
mkfifo "$KEY"
fails 1 "sync with a FIFO as the kept key" setsid -w "${T[@]}" "$DSYNC" sync < /dev/null
contains "naming it" "$TMP/err" "cannot read '$KEY': $NOT_REGULAR"
rm "$KEY"
mv "$TMP/key.saved" "$KEY"
ok "sync once the key is back" setsid -w "${T[@]}" "$DSYNC" sync < /dev/null

# 7. SIGTERM in the middle of a long snapshot (150 files of 1 MB each,
# read in half a second now: test builds pause 30 ms before each file, so
# that it takes seconds): files not read 0.3 s after the signal keep
# their previous version, what was read is recorded, the next snapshot
# records the rest
mkdir big
head -c 1000000 /dev/urandom > "$TMP/random"
for i in $(seq 150); do { cat "$TMP/random"; echo "$i"; } > "big/b$i"; done
rm "$TMP/random"
DSYNC_TEST_SCAN_PAUSE_MS=30 start_watch "$LOG" daemon
sleep 1 # the daemon's start snapshot reads the 150 files meanwhile
check "the start snapshot is still under way" -z "$(grep -F "$F: watching" "$LOG")"
stop_within "a long snapshot under way"
contains "it says what was left for the next start" "$LOG" "stopped before every changed file was read"
ok "git fsck after the stop is clean" git --git-dir=.dsync fsck --full --no-dangling
ok "a snapshot after the stop" "${T[@]}" "$DSYNC" snapshot -q
check "all 150 files are in it" "$(git --git-dir=.dsync ls-tree --name-only refs/heads/main big/ | wc -l)" = 150
ok "status after it" "${T[@]}" "$DSYNC" status
contains "nothing left unrecorded" "$TMP/out" "nothing changed"

ok "git fsck is clean" git --git-dir=.dsync fsck --full --no-dangling
finish
