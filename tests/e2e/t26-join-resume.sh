#!/bin/bash
# An interrupted 'dsync join' resumes, and never costs a user file.
#
# Seeded kills (kill -9, and now and then SIGINT as a Ctrl-C sends it) of a
# join into a folder that already holds files of its own, at random moments:
# early (passphrase, making the folder), while packs download and are
# indexed, while the store's files are merged in, while the join pushes.
# After each kill every file the user had is still there (at its path, or
# beside it as a conflict copy when the store had another version), and
# 'dsync join' again (odd trials) or 'dsync sync' in the folder (even ones)
# finishes the join: the store's head is in the folder's history, the
# store's files are in the folder, no mark of a join in progress is left,
# and the folder is registered.  Every fourth trial joins an empty folder
# instead (the store's files must all arrive).
#
# Then the exact moments a random kill seldom hits (strace delivers SIGKILL
# on entry to the call): the rename that makes .dsync appear, the one that
# registers the folder, the one that keeps the key.  Then failures: a store
# that fails verification leaves no key and no .dsync behind and takes no
# file (not even one put in the empty folder during the join), a resumed
# join that fails verification forgets the key it made; joining a
# half-joined folder to another store says what to run; join on a folder that
# has the store is a round, with another store it is refused; a folder whose
# init was cut off before its first snapshot can be joined.
#
# Seeded: T26_SEED (default 20261206) fixes the delays; T26_TRIALS (default
# 10; the documented long run is T26_TRIALS=50) is how many joins are
# killed; T26_SLOW_MS (default 20) slows the file store (DSYNC_TEST_SLOW: a
# pause per 64 KiB and before each rename) so a join lasts about a second.
. "$(dirname "$0")/lib.sh"
# ok03 (its own git_of and as, below, take paths and HOMEs instead)
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_TEST_SLOW
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

SEED=${T26_SEED:-20261206}
TRIALS=${T26_TRIALS:-10}
SLOW=${T26_SLOW_MS:-20}
RANDOM=$SEED
echo "# seed $SEED, $TRIALS trials, DSYNC_TEST_SLOW=$SLOW"

R=$TMP/store
PASS=$TMP/pass
echo "join crash test" > "$PASS"
A=$TMP/A

git_of() { local d=$1; shift; git --git-dir="$d/.dsync" "$@"; }
# as H CMD...: dsync CMD in $TMP with HOME $TMP/H, no terminal
as() { local h=$1; shift; mkdir -p "$TMP/$h"; (cd "$TMP" && HOME="$TMP/$h" setsid -w "$DSYNC" "$@" < /dev/null); }
# indir DIR H CMD...: dsync CMD in DIR with HOME $TMP/H
indir() { local d=$1 h=$2; shift 2; (cd "$d" && HOME="$TMP/$h" setsid -w "$DSYNC" "$@" < /dev/null); }
keys_of() { ls "$TMP/$1/.config/dsync/keys" 2> /dev/null | wc -l; }
registered() { grep -qxF "$2" "$TMP/$1/.config/dsync/folders" 2> /dev/null; }

# ---------------------------------------------------------------- the store
# four 1 MiB files, two of 200 KiB, twenty notes, in three pushes (three
# packs): about 5 MB to download, index and merge
mkdir -p "$A/media" "$A/notes"
for i in 0 1; do head -c 1048576 /dev/urandom > "$A/media/m$i.bin"; done
for i in $(seq -w 0 19); do printf 'note %s\nline two\n' "$i" > "$A/notes/n$i.txt"; done
ok "A: init" as hA init "$A" --device-name alpha
ok "A: remote add" indir "$A" hA remote add origin "$R" --passphrase-file "$PASS"
ok "A: push 1" indir "$A" hA push -q
for i in 2 3; do head -c 1048576 /dev/urandom > "$A/media/m$i.bin"; done
echo "note 00, v2" >> "$A/notes/n00.txt"
ok "A: push 2" indir "$A" hA push -q
for i in 0 1; do head -c 204800 /dev/urandom > "$A/media/s$i.bin"; done
ok "A: push 3" indir "$A" hA push -q
A_HEAD=$(head_id "$A")
(cd "$A" && find . -path ./.dsync -prune -o -type f -printf '%P\n' | LC_ALL=C sort) > "$TMP/a-files"
echo "# store: $(ls "$R/packs" | wc -l) packs, $(du -sm "$R" | cut -f1) MB"

# ---------------------------------------------------------------- helpers
# user_files DIR T: files of the user's own in DIR (one that the store has
# too, with other content; one identical to the store's; a folder)
user_files() {
	local d=$1 t=$2
	mkdir -p "$d/mine/deep" "$d/notes"
	printf 'mine, trial %s\n' "$t" > "$d/mine/own-$t.txt"
	head -c $((20000 + RANDOM % 10000)) /dev/urandom > "$d/mine/deep/blob.bin"
	printf 'the user version of n01, trial %s\n' "$t" > "$d/notes/n01.txt"
	cp "$A/notes/n02.txt" "$d/notes/n02.txt"
	echo "a top-level file" > "$d/top.txt"
	(cd "$d" && find . -path ./.dsync -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
		while IFS= read -r p; do printf '%s %s\n' "$(sha "$p")" "$p"; done) > "$TMP/user-$t"
}

# user_kept T DIR: every user file's content is still in DIR: at its path,
# or (when the store had another version there) in a conflict copy of it
user_kept() {
	local t=$1 d=$2 h p stem ext found missing=0 c
	while read -r h p; do
		found=
		if [ -f "$d/$p" ] && [ "$(sha "$d/$p")" = "$h" ]; then
			found=1
		else
			stem=${p%.*}
			ext=${p##*.}
			for c in "$d/$stem".sync-conflict-*."$ext"; do
				[ -f "$c" ] && [ "$(sha "$c")" = "$h" ] && found=1
			done
		fi
		if [ -z "$found" ]; then
			missing=$((missing + 1))
			echo "#   missing: $p"
		fi
	done < "$TMP/user-$t"
	[ "$missing" = 0 ]
}

# store_arrived DIR: every file of the store is in DIR (as A has it, or as
# a conflict copy beside the user's version)
store_arrived() {
	local d=$1 p stem ext c found missing=0
	while IFS= read -r p; do
		found=
		if [ -f "$d/$p" ] && [ "$(sha "$d/$p")" = "$(sha "$A/$p")" ]; then
			found=1
		else
			stem=${p%.*}
			ext=${p##*.}
			for c in "$d/$stem".sync-conflict-*."$ext"; do
				[ -f "$c" ] && [ "$(sha "$c")" = "$(sha "$A/$p")" ] && found=1
			done
		fi
		[ -n "$found" ] || { missing=$((missing + 1)); echo "#   not arrived: $p"; }
	done < "$TMP/a-files"
	[ "$missing" = 0 ]
}

# phase DIR: how far the killed join got
phase_of() {
	local d=$1
	if [ ! -e "$d/.dsync" ]; then
		echo before-the-folder
	elif [ -z "$(git_of "$d" config dsync.joinRemote 2> /dev/null)" ]; then
		echo finished
	elif [ -z "$(git_of "$d" for-each-ref refs/remotes/)" ]; then
		echo fetching
	elif ! git_of "$d" merge-base --is-ancestor "$A_HEAD" refs/heads/main 2> /dev/null; then
		echo merging
	else
		echo pushing
	fi
}

# background H DIR: a slowed join into DIR as $TMP/H's user; PID its pid.
# SIGNAL=INT: SIGINT restored to its default (a background job has it
# ignored; a terminal's Ctrl-C reaches a foreground one that has not).
background() {
	local h=$1 d=$2
	mkdir -p "$TMP/$h"
	(cd "$TMP" && export HOME="$TMP/$h" DSYNC_TEST_SLOW=$SLOW &&
		exec env --default-signal=INT "$DSYNC" join "$R" "$d" --passphrase-file "$PASS" -q \
		> "$TMP/bg.out" 2> "$TMP/bg.err") &
	PID=$!
	STARTED_PIDS+=("$PID")
}
reap() {
	RC=0
	{ wait "$PID"; } 2> /dev/null || RC=$?
	unset 'STARTED_PIDS[-1]'
	if grep -qE 'Sanitizer|runtime error' "$TMP/bg.err"; then
		fail "sanitizer report"; sed 's/^/#   /' "$TMP/bg.err" | head -30
	fi
}

# finished T DIR H: the join is complete in DIR
finished() {
	local t=$1 d=$2 h=$3
	check "$t: no join left in progress" -z "$(git_of "$d" config dsync.joinRemote 2> /dev/null)"
	check "$t: the store's head is in the folder's history" \
		-n "$(git_of "$d" merge-base --is-ancestor "$A_HEAD" refs/heads/main 2> /dev/null && echo yes)"
	check "$t: every file of the store arrived" -n "$(store_arrived "$d" && echo yes)"
	check "$t: the folder is registered" -n "$(registered "$h" "$d" && echo yes)"
	check "$t: the key is kept" "$(keys_of "$h")" = 1
	check "$t: every ref's objects are there" -n "$(git_of "$d" rev-list --objects --all > /dev/null 2>&1 && echo yes)"
}

# ---------------------------------------------------------------- calibration
durs=()
for c in 1 2 3; do
	d=$TMP/cal$c
	mkdir -p "$d"
	user_files "$d" "cal$c"
	t0=$(now_ms)
	background hcal$c "$d"
	reap
	durs+=($(($(now_ms) - t0)))
	check "calibration $c: the join exits 0 or 3" -n "$({ [ "$RC" = 0 ] || [ "$RC" = 3 ]; } && echo yes)"
	[ "$RC" = 0 ] || [ "$RC" = 3 ] || sed 's/^/#   /' "$TMP/bg.err" | head -5
	check "calibration $c: the user's files kept" -n "$(user_kept "cal$c" "$d" && echo yes)"
	rm -rf "$d"
done
DUR=$(printf '%s\n' "${durs[@]}" | sort -n | sed -n 2p)
((DUR < 50)) && DUR=50
echo "# uninterrupted joins: ${durs[*]} ms; kills spread over $DUR ms"

# ---------------------------------------------------------------- seeded kills
declare -A phases=()
kills=0
for trial in $(seq "$TRIALS"); do
	t="trial $trial"
	d=$TMP/J$trial
	h=hJ$trial
	if ((trial % 4 == 0)); then
		mkdir -p "$d"
		: > "$TMP/user-$trial"
	else
		mkdir -p "$d"
		user_files "$d" "$trial"
	fi
	# a third early (the passphrase, making the folder), a third anywhere,
	# a third in the last part (the end of the download, indexing, the
	# merge, the push)
	case $((trial % 3)) in
	1) ms=$((RANDOM % 120)) ;;
	2) ms=$((RANDOM % (DUR + 1))) ;;
	0) ms=$((DUR * 4 / 5 + RANDOM % (DUR / 4 + 1))) ;;
	esac
	sig=KILL
	((trial % 5 == 2)) && sig=INT
	echo "# $t: seed $SEED, SIG$sig after ${ms} ms$( ((trial % 4 == 0)) && echo ', empty folder')"
	background "$h" "$d"
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -"$sig" "$PID" 2> /dev/null || true
	reap
	phase=$(phase_of "$d")
	[ "$RC" = 0 ] || [ "$RC" = 3 ] && phase=finished-before-the-kill
	[ "$RC" != 0 ] && [ "$RC" != 3 ] && kills=$((kills + 1))
	phases[$phase]=$((${phases[$phase]:-0} + 1))
	echo "# $t: exit $RC, $phase"
	# late kills that land in the download: the join takes longer than
	# estimated (a loaded machine), and the other way round
	if ((trial % 3 == 0)); then
		case $phase in
		fetching | before-the-folder) DUR=$((DUR * 11 / 10)) ;;
		finished*) DUR=$((DUR * 9 / 10)) ;;
		esac
	fi
	if [ "$RC" != 0 ] && [ "$RC" != 3 ] && [ "$RC" != 137 ] && [ "$RC" != 130 ]; then
		fail "$t: the join failed on its own (exit $RC)"
		sed 's/^/#   /' "$TMP/bg.err" | head -10
	fi
	check "$t: every user file kept after the kill" -n "$(user_kept "$trial" "$d" && echo yes)"
	if ((trial % 2)) || [ ! -e "$d/.dsync" ]; then
		ok03 "$t: join again finishes" as "$h" join "$R" "$d" --passphrase-file "$PASS"
	else
		ok03 "$t: sync in the folder finishes the join" indir "$d" "$h" sync --passphrase-file "$PASS"
		if [[ $phase != finished* ]]; then
			contains "$t: sync says it finished the join" "$TMP/out" "finished the join"
		fi
	fi
	check "$t: every user file kept after that" -n "$(user_kept "$trial" "$d" && echo yes)"
	finished "$t" "$d" "$h"
	ok03 "$t: a sync after it" indir "$d" "$h" sync
	rm -rf "$d"
done
summary=""
for p in "${!phases[@]}"; do summary="$summary $p=${phases[$p]}"; done
echo "# $TRIALS trials, $kills killed mid-way:$summary"
check "at least half the joins were killed mid-way" $((kills * 2)) -ge "$TRIALS"

# ---------------------------------------------------------------- exact moments
if command -v strace > /dev/null; then
	d=$TMP/traced
	mkdir -p "$d"
	user_files "$d" traced
	(cd "$TMP" && HOME="$TMP/htraced" strace -f -qq -o "$TMP/trace" -e trace=rename,renameat \
		"$DSYNC" join "$R" "$d" --passphrase-file "$PASS" -q > /dev/null 2>&1)
	# ordinal SYSCALL REGEX [AFTER]: 1-based place, among SYSCALL's calls in
	# the trace, of the first whose arguments match REGEX (and that comes
	# after the first matching AFTER); "-" when there is none
	ordinal() {
		local from=1 n
		if [ -n "${3:-}" ]; then
			from=$(grep -E "^[0-9]+ +$1\(" "$TMP/trace" | grep -nE -- "$3" | head -1 | cut -d: -f1)
			[ -n "$from" ] || { echo -; return; }
		fi
		n=$(grep -E "^[0-9]+ +$1\(" "$TMP/trace" | tail -n +"$from" | grep -nE -- "$2" | head -1 | cut -d: -f1)
		if [ -n "$n" ]; then echo $((from + n - 1)); else echo -; fi
	}
	# the last SYSCALL matching REGEX
	last() {
		local n
		n=$(grep -E "^[0-9]+ +$1\(" "$TMP/trace" | grep -nE -- "$2" | tail -1 | cut -d: -f1)
		echo "${n:--}"
	}
	for spot in "rename $(ordinal rename '\.dsync-tmp-init-.*\.dsync"') making-the-folder" \
		"rename $(ordinal rename '/folders"') registering-the-folder" \
		"rename $(ordinal rename '/keys/[0-9a-f]{32}"') keeping-the-key" \
		"rename $(ordinal rename '/dsync-remotes/origin/packs"') recording-the-fetched-packs" \
		"rename $(ordinal rename '/dsync-merge"') publishing-the-merge-journal" \
		"rename $(ordinal rename '/index"' '/dsync-merge"') merging-before-the-index" \
		"rename $(ordinal rename '/refs/heads/main"' '/dsync-merge"') merging-before-the-ref" \
		"renameat $(ordinal renameat '"[0-9]{16}"') publishing-the-manifest" \
		"rename $(last rename '/\.dsync/config"') ending-the-join"; do
		read -r sc k name <<< "$spot"
		t="exact: killed $name ($sc #$k)"
		if [ "$k" = - ]; then
			fail "$t: not found in the traced join"
			continue
		fi
		d=$TMP/X-$name
		h=hX-$name
		mkdir -p "$d" "$TMP/$h"
		user_files "$d" "$name"
		RC=0
		{ (cd "$TMP" && HOME="$TMP/$h" exec strace -f -qq -o /dev/null -e trace="$sc" \
			-e inject="$sc:signal=KILL:when=$k" "$DSYNC" join "$R" "$d" --passphrase-file "$PASS" -q \
			> /dev/null 2>&1); } 2> /dev/null || RC=$?
		echo "# $t: exit $RC, $(phase_of "$d")"
		check "$t: killed" "$RC" = 137
		check "$t: every user file kept" -n "$(user_kept "$name" "$d" && echo yes)"
		ok03 "$t: join again finishes" as "$h" join "$R" "$d" --passphrase-file "$PASS"
		check "$t: every user file kept after that" -n "$(user_kept "$name" "$d" && echo yes)"
		finished "$t" "$d" "$h"
		rm -rf "$d"
	done
else
	fail "strace is missing (contrib/install-deps.sh --tests installs it): exact-moment kills not run"
fi

# ---------------------------------------------------------------- failures
# a copy of the store with its packs damaged (a byte each: the store may hold
# packs no manifest names any more, consolidated ones kept an hour for readers
# in flight, which a join never fetches): verification fails (exit 6)
cp -a "$R" "$TMP/bad"
for P1 in "$TMP/bad"/packs/*; do
	printf 'X' | dd of="$P1" bs=1 seek=200 conv=notrunc status=none
done

d=$TMP/V
mkdir -p "$d"
user_files "$d" V
fails 6 "a damaged store: join fails verification (exit 6)" as hV join "$TMP/bad" "$d" --passphrase-file "$PASS"
check "damaged: the key it unsealed is not kept" "$(keys_of hV)" = 0
check "damaged: no .dsync left" ! -e "$d/.dsync"
check "damaged: not registered" -z "$(registered hV "$d" && echo yes)"
check "damaged: every user file kept" -n "$(user_kept V "$d" && echo yes)"

# the same into an empty folder, with a file saved in it while the join runs
d=$TMP/V2
mkdir -p "$d"
(cd "$TMP" && export HOME="$TMP/hV2" DSYNC_TEST_SLOW=$((SLOW * 3)) &&
	exec "$DSYNC" join "$TMP/bad" "$d" --passphrase-file "$PASS" -q > "$TMP/bg.out" 2> "$TMP/bg.err") &
PID=$!
STARTED_PIDS+=("$PID")
for _ in $(seq 100); do [ -e "$d/.dsync" ] && break; sleep 0.05; done
echo "saved during the join" > "$d/saved-meanwhile.txt"
reap
check "damaged, empty folder: exit 6" "$RC" = 6
check "damaged, empty folder: the file saved meanwhile is kept" \
	"$(cat "$d/saved-meanwhile.txt" 2> /dev/null)" = "saved during the join"
check "damaged, empty folder: no .dsync left" ! -e "$d/.dsync"
check "damaged, empty folder: no key kept" "$(keys_of hV2)" = 0

# a join killed half-way, resumed against a store that now fails verification
d=$TMP/V3
mkdir -p "$d"
user_files "$d" V3
cp -a "$R" "$TMP/good2"
(cd "$TMP" && export HOME="$TMP/hV3" DSYNC_TEST_SLOW=$((SLOW * 3)) &&
	exec "$DSYNC" join "$TMP/good2" "$d" --passphrase-file "$PASS" -q > "$TMP/bg.out" 2> "$TMP/bg.err") &
PID=$!
STARTED_PIDS+=("$PID")
for _ in $(seq 200); do [ "$(keys_of hV3)" = 1 ] && break; sleep 0.02; done
kill -9 "$PID" 2> /dev/null
reap
check "half-joined: a join in progress" "$(phase_of "$d")" = fetching
check "half-joined: the key kept meanwhile" "$(keys_of hV3)" = 1
rm -rf "$TMP/good2"/packs/*
cp "$TMP/bad"/packs/* "$TMP/good2/packs/"
fails 6 "half-joined, the store damaged since: join again fails verification" \
	as hV3 join "$TMP/good2" "$d" --passphrase-file "$PASS"
check "half-joined, damaged: the key the join made is forgotten" "$(keys_of hV3)" = 0
check "half-joined, damaged: every user file kept" -n "$(user_kept V3 "$d" && echo yes)"
# another store given to a half-joined folder: says what to run
mkdir -p "$TMP/other"
echo other > "$TMP/other/o.txt"
ok "another folder: init" as hO init "$TMP/other"
ok "another folder: its own store" indir "$TMP/other" hO remote add origin "$TMP/other-store" --passphrase-file "$PASS"
fails 1 "half-joined: join with another store is refused" \
	as hV3 join "$TMP/other-store" "$d" --passphrase-file "$PASS"
contains "half-joined, another store: names the command that finishes it" "$TMP/err" \
	"dsync join file://$TMP/good2"
rm -rf "$d"

# a folder joined (or synced) with the store already: join again is a round;
# with another store it is refused and nothing changes
O_HEAD=$(head_id "$TMP/other")
fails 1 "join into a dsync folder of another store: exit 1" as hO join "$R" "$TMP/other" --passphrase-file "$PASS"
contains "another store: says it is a dsync folder already" "$TMP/err" "already a dsync folder"
check "another store: its head unchanged" "$(head_id "$TMP/other")" = "$O_HEAD"
check "another store: no remote added" "$(git_of "$TMP/other" config --get-regexp '^remote\..*\.url$' | wc -l)" = 1
ok03 "join into a dsync folder that has the store already: a round" \
	as hO join "$TMP/other-store" "$TMP/other" --passphrase-file "$PASS"
check "the same store: the folder's files as they were" "$(cat "$TMP/other/o.txt")" = other

# a folder whose init was cut off before its first snapshot (neither
# history nor remote): joined as it is
d=$TMP/I
mkdir -p "$d"
user_files "$d" I
ok "I: init" as hI init "$d"
# as if killed before the first snapshot: no ref, and no record of one
git_of "$d" update-ref -d refs/heads/main
rm -f "$d/.dsync/dsync-head"
check "I: no history now" -z "$(git_of "$d" rev-parse -q --verify refs/heads/main)"
fails 1 "I: sync has no remote" indir "$d" hI sync
ok03 "I: join into it" as hI join "$R" "$d" --passphrase-file "$PASS"
check "I: every user file kept" -n "$(user_kept I "$d" && echo yes)"
finished "I" "$d" hI

finish
