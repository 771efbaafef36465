#!/bin/bash
# dsync pause / resume (docs/watch.md, "Pause") with a real 'dsync daemon':
# while the user's pause is on, a save is not recorded and no sync round
# runs (the file:// store is unchanged byte for byte), and 'dsync status
# --all [--json]' from another process says paused by the user, why and
# since when; after 'dsync resume' the save is recorded and pushed within
# seconds.  The watcher's own pause (most files vanished at once) is seen by
# status from another process with its reason, runs no sync round, and is
# not ended by 'dsync resume'; a watcher killed with -9 is seen as not
# watching; the user's pause holds across a watcher's restart.  Hostile: a
# path outside any folder, a reason with a newline, 10 KB or not UTF-8, a
# damaged pause file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watchlib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE

PASS=$TMP/passphrase
echo "correct horse battery staple" > "$PASS"
A=$TMP/A
R=$TMP/store
LOG=$TMP/daemon.log

# field EXPR: a python expression on the JSON in $TMP/out (j: the whole; f:
# the first folder), as JSON
field() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); f=j["folders"][0]; print(json.dumps(eval(sys.argv[2])))' \
		"$TMP/out" "$1"
}
# store_digest: every file of the store with its size and content hash
store_digest() { (cd "$R" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum; }
# lines_after N ERE: lines of the log after line N that match ERE
lines_after() { tail -n +"$(($1 + 1))" "$LOG" | grep -cE -- "$2"; }

ok "init" dsync init "$A" --device-name alpha
echo one > "$A/a.txt"
ok "a remote (file:// store)" bash -c "cd '$A' && '$DSYNC' remote add r 'file://$R' --passphrase-file '$PASS'"
ok "first sync" bash -c "cd '$A' && '$DSYNC' sync"
git --git-dir="$A/.dsync" config sync.interval 1

cd "$A" || exit 1
ok "status --all --json before any watcher" dsync status --all --json
check "no watcher: watched false" "$(field 'f["watched"]')" = false
check "no watcher: not paused" "$(field 'f["paused"]')" = false
ok "status --all before any watcher" dsync status --all
contains "the text says not watched" "$TMP/out" "not watched (no dsync daemon or watch running)"

start_watch "$LOG" daemon --delay 0.2 --verbose
if wait_log "$LOG" "$WATCHING" 1 30; then pass "the daemon watches the folder"; else fail "the daemon did not start"; show_log "$LOG"; fi
wait_log "$LOG" "$SYNC_PUSHED|sync: up to date" 1 10 >/dev/null
ok "status --all --json with the daemon" dsync status --all --json
check "watched true" "$(field 'f["watched"]')" = true
check "the watcher's pid" "$(field 'f["watcher_pid"]')" = "$WPID"

# --- the user's pause
ok "dsync pause --why" dsync pause --why "moving the photos"
contains "pause says what stops" "$TMP/out" "no snapshot and no sync by the watcher until 'dsync resume'"
if wait_text "$LOG" "paused by the user: moving the photos" 5; then pass "the watcher hears of the pause at once"
else fail "the watcher did not log the pause"; show_log "$LOG"; fi
n_pause=$(wc -l < "$LOG")
B=$(tip "$A")
S=$(store_digest)
echo "saved while paused" > "$A/paused.txt"
sleep 4   # the delay 20 times over, the sync interval 4 times
check "a save while paused is not recorded" "$(tip "$A")" = "$B"
check "no sync round while paused (the store unchanged)" "$(store_digest)" = "$S"
check "no sync line in the log while paused" "$(lines_after "$n_pause" ' /.*: (sync|mirror)')" = 0
check "no snapshot line in the log while paused" "$(lines_after "$n_pause" "$SNAPSHOT")" = 0

ok "status --all --json while paused (another process)" dsync status --all --json
check "paused true" "$(field 'f["paused"]')" = true
check "paused by the user" "$(field 'f["paused_by"]')" = '"user"'
check "the user's reason" "$(field 'f["paused_why"]')" = '"moving the photos"'
check "what ends it" "$(field 'f["paused_until"]')" = '"dsync resume"'
check "since: a time of this test" "$(field 'f["paused_since_timestamp"] >= '"$(($(date +%s) - 60))")" = true
check "still watched" "$(field 'f["watched"]')" = true
ok "status --all while paused" dsync status --all
contains "text: paused since ... and why" "$TMP/out" ": moving the photos"
contains "text: by the user" "$TMP/out" "(by the user: 'dsync resume' ends it)"
contains "text: watching" "$TMP/out" "watching (pid $WPID)"
ok "pause again (a new reason)" dsync pause --why "still moving"
contains "pausing twice says still paused" "$TMP/out" "still paused"
ok "status --all --json" dsync status --all --json
check "the new reason replaces the old" "$(field 'f["paused_why"]')" = '"still moving"'

# --- resume: recorded and pushed within seconds
n_resume=$(wc -l < "$LOG")
t0=$(now_ms)
ok "dsync resume" dsync resume
contains "resume says it" "$TMP/out" "resumed"
if wait_commit "$A" "$B" 10; then pass "after resume the save is recorded"; else fail "no snapshot after resume"; show_log "$LOG"; fi
t1=$(now_ms)
check "... within 3 s of the resume ($((t1 - t0)) ms)" "$((t1 - t0))" -lt 3000
check "the snapshot holds the save" "$(git --git-dir="$A/.dsync" show refs/heads/main:paused.txt)" = "saved while paused"
end=$((SECONDS + 10))
while [ "$(lines_after "$n_resume" "$SYNC_PUSHED")" = 0 ] && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done
check "... and pushed (a sync line says so)" "$(lines_after "$n_resume" "$SYNC_PUSHED")" -ge 1
check "the store changed" "$(store_digest)" != "$S"
ok "status --all --json after resume" dsync status --all --json
check "not paused after resume" "$(field 'f["paused"]')" = false
check "the why is null" "$(field 'f["paused_why"]')" = null
ok "resume when not paused" dsync resume
contains "... says it was not paused" "$TMP/out" "was not paused"

# --- the watcher's own pause: most files vanish at once
mkdir "$A/many"
for i in $(seq -w 1 40); do echo "$i" > "$A/many/f$i.txt"; done
B=$(tip "$A")
wait_commit "$A" "$B" 10 || fail "the 40 files were not recorded"
wait_log "$LOG" "$SYNC_PUSHED" "$(($(grep -cE "$SYNC_PUSHED" "$LOG") + 1))" 10 >/dev/null
sleep 1
B=$(tip "$A")
cp -a "$A/many" "$TMP/many-copy"
# gone in one step, as when a drive is unmounted (an rm -r could be seen
# half-way by a slow watcher, and its first deletions recorded)
mv "$A/many" "$TMP/many-gone"
PAUSED='^[^ ]+ warning /.*: paused: 40 of [0-9]+ files vanished at once'
if wait_log "$LOG" "$PAUSED" 1 10; then pass "the watcher pauses on the mass deletion"; else fail "no pause"; show_log "$LOG"; fi
n_auto=$(wc -l < "$LOG")
ok "status --all --json sees the watcher's pause" dsync status --all --json
check "paused true" "$(field 'f["paused"]')" = true
check "paused by the watcher" "$(field 'f["paused_by"]')" = '"watcher"'
check "the watcher's reason, in the log's words" \
	"$(field '"40 of " in f["paused_why"] and "files vanished at once (an unmounted drive?)" in f["paused_why"]')" = true
check "what ends it names --allow-mass-delete" "$(field '"--allow-mass-delete" in f["paused_until"]')" = true
ok "status --all (text)" dsync status --all
contains "text: the reason" "$TMP/out" "files vanished at once (an unmounted drive?)"
contains "text: by the watcher" "$TMP/out" "(by the watcher: it ends when the files return"
sleep 3   # the sync interval 3 times
check "no sync round while the watcher's pause is on" "$(lines_after "$n_auto" ' /.*: (sync|mirror)')" = 0
check "nothing recorded" "$(tip "$A")" = "$B"
ok "dsync resume during the watcher's pause" dsync resume
contains "resume says the watcher's pause stays" "$TMP/out" "still paused by the watcher"
ok "status --all --json" dsync status --all --json
check "resume does not confirm a mass deletion" "$(field 'f["paused_by"]')" = '"watcher"'

# --- a watcher killed with -9 is seen as not watching
kill -9 "$WPID"
wait "$WPID" 2>/dev/null
ok "status --all --json after kill -9" dsync status --all --json
check "killed: watched false" "$(field 'f["watched"]')" = false
check "killed: its pause is not shown (nobody is paused)" "$(field 'f["paused"]')" = false
check "killed: no pid" "$(field 'f["watcher_pid"]')" = null
ok "status --all after kill -9" dsync status --all
contains "text: not watched" "$TMP/out" "not watched (no dsync daemon or watch running)"

# --- the user's pause holds across a watcher's start
cp -a "$TMP/many-copy" "$A/many"
ok "pause with no watcher running" dsync pause
contains "pause says no watcher runs" "$TMP/out" "no watcher runs for it now"
B=$(tip "$A")
echo "saved before the start" > "$A/before.txt"
start_watch "$LOG.2" daemon --delay 0.2 --verbose
if wait_text "$LOG.2" "paused by the user;" 20; then pass "a new watcher starts paused"
else fail "a new watcher did not say it is paused"; show_log "$LOG.2"; fi
sleep 2
check "... and records nothing" "$(tip "$A")" = "$B"
ok "status --all --json" dsync status --all --json
check "watched again, paused by the user with the default reason" \
	"$(field '[f["watched"], f["paused_by"], f["paused_why"]]')" = '[true, "user", "paused by the user"]'
ok "manual snapshot still works while paused" dsync snapshot
check "... it recorded the save" "$(git --git-dir="$A/.dsync" show refs/heads/main:before.txt)" = "saved before the start"
B=$(tip "$A")
echo "after" > "$A/after.txt"
ok "resume" dsync resume
LOG=$LOG.2
if wait_commit "$A" "$B" 10; then pass "the new watcher records after resume"; else fail "nothing after resume"; show_log "$LOG"; fi

# --- a folder the watcher cannot read (a FIFO as .dsyncignore): its pause is
# seen too, and the watcher still counts as watching it
stop_watch TERM
check "the second watcher stopped cleanly" "$WRC" = 0
mkfifo "$TMP/fifo"
mv "$TMP/fifo" "$A/.dsyncignore"
start_watch "$TMP/daemon.log.3" daemon --delay 0.2
if wait_text "$TMP/daemon.log.3" "paused: cannot read" 20; then pass "a watcher started on a FIFO .dsyncignore pauses"
else fail "no pause on a FIFO .dsyncignore"; show_log "$TMP/daemon.log.3"; fi
ok "status --all --json on the unreadable folder" timeout 20 "$DSYNC" status --all --json
check "paused by the watcher, still watched" "$(field '[f["paused_by"], f["watched"], f["watcher_pid"]]')" \
	= "[\"watcher\", true, $WPID]"
check "the reason names the FIFO" "$(field '"not a regular file (a FIFO)" in f["paused_why"]')" = true
rm "$A/.dsyncignore"
kill -HUP "$WPID"
if wait_text "$TMP/daemon.log.3" "resumed: the folder is back" 20; then pass "back once the FIFO is gone (SIGHUP)"
else fail "not back after the FIFO went"; show_log "$TMP/daemon.log.3"; fi
ok "status --all --json" dsync status --all --json
check "the watcher's pause is gone" "$(field '[f["paused"], f["watched"]]')" = "[false, true]"
LOG=$TMP/daemon.log.3

# --- hostile input
B=$(tip "$A")
fails 1 "pause outside any folder: exit 1" dsync pause "$TMP"
check "... one line of error" "$(wc -l < "$TMP/err")" = 1
contains "... that names the fix" "$TMP/err" "is not in a dsync folder"
fails 2 "a reason with a newline: refused (exit 2)" dsync pause --why "$(printf 'one\ntwo')"
contains "... says why" "$TMP/err" "one line without control characters"
check "... and nothing was paused" ! -e "$A/.dsync/dsync-paused"
fails 2 "a reason of 10 KB: refused (exit 2)" dsync pause --why "$(head -c 10240 /dev/zero | tr '\0' x)"
contains "... says the limit" "$TMP/err" "at most 300"
fails 2 "a reason that is not UTF-8: refused" dsync pause --why "$(printf 'bad \377 byte')"
check "nothing paused after the refusals" ! -e "$A/.dsync/dsync-paused"
ok "pause --all" dsync pause --all
contains "--all pauses every registered folder" "$TMP/out" "paused '$A'"
# a damaged pause file: still paused, shown safely
printf 'dsync-pause 1\nsince -5\nwhy evil \033[31mred\001\nuntil x\n' > "$A/.dsync/dsync-paused"
ok "status --all --json with a damaged pause file" dsync status --all --json
check "... still paused" "$(field 'f["paused"]')" = true
check "... control characters shown as ?" "$(field 'f["paused_why"]')" = '"evil ?[31mred?"'
check "... a negative time is unknown" "$(field 'f["paused_since"]')" = null
ok "resume --all" dsync resume --all
check "... removed the damaged file" ! -e "$A/.dsync/dsync-paused"
fails 2 "resume takes no --why" dsync resume --why x

stop_watch TERM
check "the watcher stopped cleanly" "$WRC" = 0
check "no errors in the logs" "$(cat "$TMP/daemon.log" "$TMP/daemon.log.2" "$TMP/daemon.log.3" | grep -c ' error ')" = 0
finish
