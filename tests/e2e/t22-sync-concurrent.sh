#!/bin/bash
# Two devices syncing through one file:// store at the same time, 50 rounds:
# no update is lost. Each round both devices write a new token file, append a
# line to their own log, and add a line to a shared file (A at the top, B at
# the bottom: a clean merge), then both run dsync sync at once. At the end,
# after a few quiet rounds, both folders hold every token, every log line and
# every shared line, with one head, and no conflict copy.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE
ROUNDS=${ROUNDS:-50}

R=$TMP/remote
URL=file://$R
PASS=$TMP/pass
echo "concurrent passphrase" > "$PASS"

# on X CMD... (synclib.sh): dsync CMD in X's folder ($TMP/X) with X's HOME, no terminal
mkdir -p "$TMP/home-A" "$TMP/home-B"

A=$TMP/A
B=$TMP/B
mkdir -p "$A/tokens"
# the shared file: A adds lines above the fence, B below it
printf 'fence 1\nfence 2\nfence 3\nfence 4\nfence 5\n' > "$A/shared.txt"
ok "A: init" on A init --device-name alpha
ok "A: remote add" on A remote add origin "$URL" --passphrase-file "$PASS"
ok "A: push" on A push
mkdir -p "$B"
ok "B: join" on B join "$URL" --device-name beta --passphrase-file "$PASS"
check "B: A's files" "$(files_digest "$B")" = "$(files_digest "$A")"

# one round: both edit, then both sync at once; exit 0 (or 3: conflicts
# wait, which should not happen here but loses nothing) is fine
bad=0
start=$(date +%s)
for i in $(seq "$ROUNDS"); do
	echo "A $i" > "$A/tokens/a-$i"
	echo "B $i" > "$B/tokens/b-$i"
	echo "A round $i" >> "$A/log-a.txt"
	echo "B round $i" >> "$B/log-b.txt"
	sed -i "1i A top $i" "$A/shared.txt"
	echo "B bottom $i" >> "$B/shared.txt"
	(cd "$A" && HOME="$TMP/home-A" exec setsid "$DSYNC" sync --quiet < /dev/null > "$TMP/a.out" 2>&1) &
	pa=$!
	(cd "$B" && HOME="$TMP/home-B" exec setsid "$DSYNC" sync --quiet < /dev/null > "$TMP/b.out" 2>&1) &
	pb=$!
	STARTED_PIDS=("$pa" "$pb")   # killed on exit only while running
	ra=0; rb=0
	wait "$pa" || ra=$?
	wait "$pb" || rb=$?
	STARTED_PIDS=()
	for x in "A $ra a" "B $rb b"; do
		set -- $x
		if [ "$2" != 0 ] && [ "$2" != 3 ]; then
			bad=$((bad + 1))
			echo "# round $i: $1's sync exited $2"
			sed 's/^/#   /' "$TMP/$3.out" | head -5
		fi
	done
done
echo "# $ROUNDS rounds in $(($(date +%s) - start)) s"
check "every concurrent sync exited 0 or 3" "$bad" = 0

# quiet rounds until both have one head (at most 4), then one more changes
# nothing; ok03 (synclib.sh) takes exit 0, or 3 (conflicts wait: none should,
# but the checks below say which files, and a conflict loses nothing)
same=0
for r in 1 2 3 4; do
	ok03 "settle $r: A syncs" on A sync
	ok03 "settle $r: B syncs" on B sync
	if [ "$(head_id "$A")" = "$(head_id "$B")" ]; then same=1; break; fi
done
check "one head after $r quiet rounds" "$same" = 1
H=$(head_id "$A")
ok03 "stable: A syncs" on A sync
ok03 "stable: B syncs" on B sync
check "stable: A's head unchanged" "$(head_id "$A")" = "$H"
check "stable: B's head unchanged" "$(head_id "$B")" = "$H"

# every line of FILE's lines is in FILE or in one of its conflict copies
# (nothing lost, even where a merge made a copy): prints the missing ones
lines_lost() { # FOLDER NAME EXT EXPECTED-LINES
	cat "$1/$2.$3" "$1/$2".sync-conflict-*."$3" 2> /dev/null | LC_ALL=C sort -u > "$TMP/have"
	LC_ALL=C sort -u <<< "$4" | LC_ALL=C comm -23 - "$TMP/have"
}

# nothing lost
check "the same files on both" "$(files_digest "$A")" = "$(files_digest "$B")"
for d in A B; do
	F=$TMP/$d
	check "$d: no line of log-a.txt lost (file or copies)" \
		-z "$(lines_lost "$F" log-a txt "$(seq -f 'A round %g' "$ROUNDS")")"
	check "$d: no line of log-b.txt lost (file or copies)" \
		-z "$(lines_lost "$F" log-b txt "$(seq -f 'B round %g' "$ROUNDS")")"
	check "$d: no line of shared.txt lost (file or copies)" \
		-z "$(lines_lost "$F" shared txt "$(seq -f 'A top %g' "$ROUNDS"; seq -f 'B bottom %g' "$ROUNDS")")"
	# and no conflict at all: each log has one writer, the shared file's
	# edits are far apart
	missing=0
	for i in $(seq "$ROUNDS"); do
		[ "$(cat "$F/tokens/a-$i" 2> /dev/null)" = "A $i" ] || missing=$((missing + 1))
		[ "$(cat "$F/tokens/b-$i" 2> /dev/null)" = "B $i" ] || missing=$((missing + 1))
	done
	check "$d: all $((2 * ROUNDS)) tokens" "$missing" = 0
	check "$d: A's log whole" "$(cat "$F/log-a.txt" 2> /dev/null)" = "$(seq -f 'A round %g' "$ROUNDS")"
	check "$d: B's log whole" "$(cat "$F/log-b.txt" 2> /dev/null)" = "$(seq -f 'B round %g' "$ROUNDS")"
	check "$d: the shared file has every line, in order" "$(cat "$F/shared.txt")" = \
		"$(seq -f 'A top %g' "$ROUNDS" | tac; printf 'fence %d\n' 1 2 3 4 5; seq -f 'B bottom %g' "$ROUNDS")"
	check "$d: no conflict copies" -z "$(find "$F" -name '*sync-conflict*' ! -path '*/.dsync/*')"
	ok "$d: git fsck" git --git-dir="$F/.dsync" fsck --full
	ok "$d: check" on "$d" check
done
check "the store: one manifest per device" "$(find "$R/devices" -type f ! -name '.*' | wc -l)" = 2
check "the store: no temporary files left" -z "$(find "$R" -name '.*' ! -path "$R")"

finish
