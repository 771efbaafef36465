#!/bin/bash
# The watcher syncs: two devices each run 'dsync watch' on a folder with the
# same remote; a save on one reaches the other (after a snapshot the change is
# pushed; the other fetches on its sync.interval timer) without any command,
# with the kept key only (no passphrase in the environment).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watchlib.sh"
export DSYNC_TEST_KDF=min

R="$TMP/remote"
mkdir -p "$TMP/hA" "$TMP/hB"
HOME="$TMP/hA" dsync init "$TMP/A" --device-name alpha >/dev/null
echo "from alpha" > "$TMP/A/alpha.txt"
ok "A makes a store" env HOME="$TMP/hA" DSYNC_PASSPHRASE=pw bash -c "cd '$TMP/A' && '$DSYNC' remote add r '$R' && '$DSYNC' sync"
ok "B joins" env HOME="$TMP/hB" DSYNC_PASSPHRASE=pw "$DSYNC" join "$R" "$TMP/B" --device-name beta
git --git-dir="$TMP/A/.dsync" config sync.interval 1
git --git-dir="$TMP/B/.dsync" config sync.interval 1

# wait_file FILE TEXT SECONDS
wait_file() {
	local end=$((SECONDS + $3))
	while [ "$(cat "$1" 2>/dev/null)" != "$2" ]; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.2
	done
}

HOME="$TMP/hA" start_watch "$TMP/wA.log" watch "$TMP/A" --delay 0.2
PA=$WPID
HOME="$TMP/hB" start_watch "$TMP/wB.log" watch "$TMP/B" --delay 0.2
PB=$WPID
echo "saved on alpha" > "$TMP/A/new-on-a.txt"
check "a save on A reaches B by itself" "$(wait_file "$TMP/B/new-on-a.txt" "saved on alpha" 30 && echo yes)" = yes
echo "saved on beta" > "$TMP/B/new-on-b.txt"
check "a save on B reaches A by itself" "$(wait_file "$TMP/A/new-on-b.txt" "saved on beta" 30 && echo yes)" = yes
echo "A edits" > "$TMP/A/alpha.txt"
check "an edit reaches B" "$(wait_file "$TMP/B/alpha.txt" "A edits" 30 && echo yes)" = yes
sleep 3
WPID=$PA; stop_watch TERM
check "A's watcher stopped cleanly" "$WRC" = 0
WPID=$PB; stop_watch TERM
check "B's watcher stopped cleanly" "$WRC" = 0
# a sync that failed says "sync: <why>" as a warning: only a round that
# pushed counts
check "A's log reports a sync that pushed" "$(grep -cE "$SYNC_PUSHED" "$TMP/wA.log")" -ge 1
check "B's log reports a sync that pushed" "$(grep -cE "$SYNC_PUSHED" "$TMP/wB.log")" -ge 1
check "no errors in A's log" "$(grep -c ' error ' "$TMP/wA.log")" = 0
check "no errors in B's log" "$(grep -c ' error ' "$TMP/wB.log")" = 0
check "the same files on both" "$(files_digest "$TMP/A")" = "$(files_digest "$TMP/B")"
finish
