#!/bin/bash
# The watcher and a .dsyncignore that leaves everything out: the snapshot
# would record every file as gone, so the folder pauses, saying that the
# ignore rules changed (not "an unmounted drive"); when .dsyncignore is
# changed back, or deleted, it resumes by itself (no SIGHUP) and new saves
# are recorded again; 'dsync snapshot --allow-mass-delete' confirms a rule
# change that was meant, and the watcher goes on from there.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/watchlib.sh"

F=$(cd "$TMP" && pwd -P)/f
G=(git --git-dir="$F/.dsync")
at() { "${G[@]}" show "refs/heads/main:$1" 2>/dev/null; }
PAUSED_RULES='paused: the ignore rules changed and would drop 20 of 20 files'
RESUMED='resumed: the folder.s files are recorded again'

mkdir -p "$F/sub"
cd "$F"
for i in $(seq 19); do echo "file $i" > "f$i.txt"; done
echo deep > sub/deep.txt
ok "init" dsync init --device-name box
ok "snapshot of 20 files" dsync snapshot -q
FIRST=$(tip "$F")
LOG=$TMP/watch.log
start_watch "$LOG" watch "$F" --delay 0.3
if wait_log "$LOG" "$WATCHING" 1 60; then pass "watching"
else fail "no 'watching' line"; show_log "$LOG"; fi

# 1. ignore everything, then change it back
B=$(tip "$F")
echo '*' > .dsyncignore
if wait_log "$LOG" "paused" 1 20; then pass "ignore everything: the folder pauses"
else fail "ignore everything: no pause"; show_log "$LOG"; fi
contains "the pause names the rule change" "$LOG" "$PAUSED_RULES"
contains "and says how to confirm it" "$LOG" "run 'dsync snapshot --allow-mass-delete' in the folder if you meant it"
check "the pause does not blame a drive" -z "$(grep -F 'unmounted drive' "$LOG")"
check "nothing recorded" "$(tip "$F")" = "$B"
echo 'sub/' > .dsyncignore.new
mv .dsyncignore.new .dsyncignore
if wait_log "$LOG" "$RESUMED" 1 20; then pass "rules changed back (renamed over): resumed without SIGHUP"
else fail "rules changed back: still paused"; show_log "$LOG"; fi
if wait_commit "$F" "$B" 20; then pass "the rules' change is recorded"
else fail "the rules' change is not recorded"; show_log "$LOG"; fi
check "the new .dsyncignore is in it" "$(at .dsyncignore)" = "sub/"
check "sub/deep.txt left out by it (a change of 1 file, no pause)" \
	"$(at f1.txt)-$(at sub/deep.txt)" = "file 1-"
B=$(tip "$F")
echo "after the first pause" > new1.txt
if wait_commit "$F" "$B" 20; then pass "a new save is recorded after the resume"
else fail "a new save after the resume is not recorded"; show_log "$LOG"; fi
check "with its content" "$(at new1.txt)" = "after the first pause"

# 2. ignore everything, then delete .dsyncignore
B=$(tip "$F")
printf '*\n!.dsyncignore\n' > .dsyncignore
if wait_log "$LOG" "paused: the ignore rules changed" 2 20; then pass "ignore everything again: paused again"
else fail "ignore everything again: no second pause"; show_log "$LOG"; fi
rm .dsyncignore
if wait_log "$LOG" "$RESUMED" 2 20; then pass ".dsyncignore deleted: resumed without SIGHUP"
else fail ".dsyncignore deleted: still paused"; show_log "$LOG"; fi
echo "after the second pause" > new2.txt
if wait_commit "$F" "$B" 20; then pass "a new save is recorded after the deletion"
else fail "a new save after the deletion is not recorded"; show_log "$LOG"; fi
sleep 1
check "with its content" "$(at new2.txt)" = "after the second pause"
check "and the files the rules left out are back (sub/deep.txt)" "$(at sub/deep.txt)" = deep
check "no snapshot dropped the 19 files" \
	"$(for c in "$FIRST" $("${G[@]}" rev-list "$FIRST..refs/heads/main"); do
		"${G[@]}" ls-tree --name-only "$c" | grep -c '^f[0-9]*\.txt$'
	done | sort -n | head -1)" = 19

# 3. a rule change that was meant: confirmed by the user
N=$(commit_count "$F")
echo 'f*.txt' > .dsyncignore
if wait_log "$LOG" "paused: the ignore rules changed and would drop 19 of" 1 20; then
	pass "leaving out 19 of 22 files: paused"
else fail "leaving out 19 files: no pause"; show_log "$LOG"; fi
check "nothing recorded meanwhile" "$(commit_count "$F")-$(at f1.txt)" = "$N-file 1"
fails 1 "a plain snapshot refuses it too" dsync snapshot
contains "naming the rule change" "$TMP/err" "the ignore rules changed and would drop 19 of"
contains "and the confirmation" "$TMP/err" "dsync snapshot --allow-mass-delete"
ok "the user confirms" dsync snapshot --allow-mass-delete
if wait_log "$LOG" "$RESUMED" 3 20; then pass "confirmed: the watcher resumes"
else fail "confirmed: the watcher stays paused"; show_log "$LOG"; fi
check "the 19 files are out of the newest snapshot" -z "$(at f1.txt)"
B=$(tip "$F")
echo "after the confirmation" > new3.txt
if wait_commit "$F" "$B" 20; then pass "a new save is recorded after the confirmation"
else fail "a new save after the confirmation is not recorded"; show_log "$LOG"; fi
check "with its content" "$(at new3.txt)" = "after the confirmation"
check "the 19 files are still on disk" "$(cat f19.txt)" = "file 19"

stop_watch TERM
check "the watcher exits 0 on SIGTERM (got $WRC)" "$WRC" = 0
ok "git fsck is clean" "${G[@]}" fsck --full --no-dangling
finish
