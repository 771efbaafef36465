#!/bin/bash
# kill -9 of 'dsync push' and of 'dsync fetch' at random moments: after each
# kill the next sync succeeds, no version is lost (every commit the pushing
# device ever had reaches the other device; the fetching device ends up with
# the pusher's head), every ref points at objects that are all there, and
# 'dsync check --read-data' passes on both devices.
#
# DSYNC_TEST_SLOW spreads a transfer out (the file:// transport sleeps after
# each 64 KiB and before each rename) so that a push or fetch of about 1 MiB
# lasts most of a second, and the kills land in every part of it: before the
# upload, inside a pack, between the pack and the manifest, between the new
# manifest and the removal of the old one.
#
# Seeded: T21_SEED (default 20240611) fixes the edits and the delays; T21_KILLS
# (default 20) is how many pushes and how many fetches must actually be killed
# mid-way.  Each trial prints its seed, delay and what the kill interrupted.
. "$(dirname "$0")/lib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_TEST_SLOW
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

SEED=${T21_SEED:-20240611}
WANT_KILLS=${T21_KILLS:-20}
MAX_TRIALS=$((WANT_KILLS * 2))
SLOW=${T21_SLOW_MS:-40}
RANDOM=$SEED
echo "# seed $SEED, DSYNC_TEST_SLOW=$SLOW"

REMOTE=$TMP/remote
PASS=$TMP/pass
echo "crash test passphrase" > "$PASS"
A=$TMP/A
B=$TMP/B
mkdir -p "$TMP/hA" "$TMP/hB"

on() { local dev=$1; shift; (cd "$TMP/$dev" && export HOME="$TMP/h$dev" && "$@"); }
git_() { local d=$1; shift; git --git-dir="$TMP/$d/.dsync" "$@"; }
blobs() { (cd "$REMOTE" && find . -type f ! -name '.*' -printf '%P\n' | LC_ALL=C sort); }
temps() { find "$REMOTE" -name '.*' ! -path "$REMOTE" | wc -l; }

# ---------------------------------------------------------------- corpus
# four 1 MiB files, two of 200 KiB, twenty small text files: ~4.5 MB
mkdir -p "$A/media" "$A/notes"
for i in 0 1 2 3; do head -c 1048576 /dev/urandom > "$A/media/m$i.bin"; done
for i in 0 1; do head -c 204800 /dev/urandom > "$A/media/s$i.bin"; done
for i in $(seq -w 0 19); do printf 'note %s\nline two\n' "$i" > "$A/notes/n$i.txt"; done

ok "alpha: init" dsync init --device-name alpha "$A"
ok "alpha: remote add" on A dsync remote add origin "$REMOTE" --passphrase-file "$PASS"
ok "alpha: first push" on A dsync push
ok "beta: join" bash -c 'cd "$1" && HOME="$2" "$3" join "$4" "$5" --device-name beta --passphrase-file "$6"' \
	_ "$TMP" "$TMP/hB" "$DSYNC" "$REMOTE" "$B" "$PASS"
check "beta has alpha's files" "$(files_digest "$B")" = "$(files_digest "$A")"
AID=$(git_ A config dsync.deviceId)

# every commit alpha ever had (a killed push may leave a snapshot behind: it
# must survive too)
ALL_A=$TMP/all-a
: > "$ALL_A"
record_a() { git_ A rev-list refs/heads/main >> "$ALL_A"; LC_ALL=C sort -u -o "$ALL_A" "$ALL_A"; }
record_a

# mutate N: one 1 MiB file rewritten whole or in part (64 KiB blocks), a note
# edited, now and then a note added or removed.  $RANDOM in this shell only.
mutate() {
	local t=$1 f k
	f=$A/media/m$((RANDOM % 4)).bin
	if ((RANDOM % 2)); then
		head -c 1048576 /dev/urandom > "$f"
	else
		k=$((4 + RANDOM % 8))
		dd if=/dev/urandom of="$f" bs=64K count=$k seek=$((RANDOM % (16 - k + 1))) \
			conv=notrunc status=none
	fi
	k=$((RANDOM % 20))
	printf 'trial %s: %d\n' "$t" "$RANDOM" >> "$A/notes/n$(printf %02d "$k").txt"
	case $((RANDOM % 4)) in
	0) printf 'added in %s\n' "$t" > "$A/notes/extra-$t.txt" ;;
	1) rm -f "$(find "$A/notes" -name 'extra-*' | LC_ALL=C sort | head -1)" 2> /dev/null ;;
	esac
}

# refs_whole DEV: every ref's objects are all there
refs_whole() { git_ "$1" rev-list --objects --all > /dev/null 2>&1; }

# checks_after T DEV: both devices' read-data checks pass, the refs are whole
checks_after() {
	local t=$1 d
	for d in A B; do
		if on "$d" dsync check --read-data > "$TMP/out" 2> "$TMP/err"; then
			pass "$t: $d: check --read-data"
		else
			fail "$t: $d: check --read-data (exit $?)"
			sed 's/^/#   /' "$TMP/out" "$TMP/err" | head -10
		fi
		check "$t: $d: every ref's objects are there" -n "$(refs_whole "$d" && echo yes)"
	done
}

# sync_ok T DEV: the device's sync succeeds (0, or 3 for conflicts)
sync_ok() {
	local t=$1 d=$2 rc=0
	on "$d" dsync sync > "$TMP/out" 2> "$TMP/err" || rc=$?
	if [ "$rc" = 0 ] || [ "$rc" = 3 ]; then
		pass "$t: $d: the next sync succeeds"
	else
		fail "$t: $d: the next sync fails (exit $rc)"
		sed 's/^/#   /' "$TMP/out" "$TMP/err" | head -10
	fi
}

# background DEV CMD: runs "$DSYNC" CMD in DEV's folder, slowed, in the
# background; PID is its pid
background() {
	local d=$1
	shift
	(cd "$TMP/$d" && export HOME="$TMP/h$d" DSYNC_TEST_SLOW=$SLOW &&
		exec "$DSYNC" "$@" > "$TMP/bg.out" 2> "$TMP/bg.err") &
	PID=$!
	STARTED_PIDS+=("$PID")
}
# reap: waits for PID; RC is its exit status (137: killed)
reap() {
	RC=0
	{ wait "$PID"; } 2> /dev/null || RC=$?
	unset 'STARTED_PIDS[-1]'
	if grep -qE 'Sanitizer|runtime error' "$TMP/bg.err"; then
		fail "sanitizer report"; sed 's/^/#   /' "$TMP/bg.err" | head -30
	fi
}

# calibrate CMD DEV: median duration of three unkilled, slowed runs (after
# PREP each time)
calibrate() {
	local what=$1 durs=() c t0
	for c in 1 2 3; do
		"prep_$what" "c$c"
		t0=$(now_ms)
		background "$2" "$what" -q
		reap
		durs+=($(($(now_ms) - t0)))
		check "calibration $what $c: exits 0" "$RC" = 0
		[ "$RC" = 0 ] || sed 's/^/#   /' "$TMP/bg.err" | head -5
		"after_$what" "c$c"
	done
	DUR=$(printf '%s\n' "${durs[@]}" | sort -n | sed -n 2p)
	((DUR < 20)) && DUR=20
	echo "# uninterrupted ${what}es: ${durs[*]} ms; delays spread over $DUR ms"
}

# delay T: a seeded delay in seconds: odd trials anywhere in the run, even
# ones in its last part (manifest write, rename, removal of the old one)
delay_for() {
	local t=$1 ms
	if ((t % 2)); then
		ms=$((RANDOM % (DUR + 1)))
	else
		ms=$((DUR * 3 / 4 + RANDOM % (DUR * 7 / 20 + 1)))
	fi
	DELAY=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
}

# ---------------------------------------------------------------- push
# push_before: what push_after compares with
push_before() {
	blobs > "$TMP/blobs-before"
	temp_names > "$TMP/temps-before"
	oldman=$(grep "^devices/$AID/" "$TMP/blobs-before" | tail -1)
}
temp_names() { (cd "$REMOTE" && find . -name '.*' ! -name . -printf '%P\n' | LC_ALL=C sort); }

# push_after T: names what the kill interrupted (in $phase), then checks:
# alpha's refs are whole, alpha's next sync succeeds, beta's sync brings
# every version alpha ever had, alpha lost none, both check --read-data
push_after() {
	local t=$1 newman lost   # newpacks, newtemps: the caller reads them too
	record_a
	blobs > "$TMP/blobs-after"
	newpacks=$(LC_ALL=C comm -13 "$TMP/blobs-before" "$TMP/blobs-after" | grep -c '^packs/')
	newtemps=$(temp_names | LC_ALL=C comm -13 "$TMP/temps-before" - | tr '\n' ' ')
	newman=$(grep "^devices/$AID/" "$TMP/blobs-after" | tail -1)
	if [ "$RC" = 0 ]; then
		phase=finished-before-kill
	elif [ "$RC" != 137 ]; then
		phase=exit-$RC
	elif [ "$newman" != "$oldman" ]; then
		if grep -qxF "$oldman" "$TMP/blobs-after"; then phase=manifest-written; else phase=old-manifest-removed; fi
	elif [[ $newtemps = *devices/* ]]; then
		phase=writing-manifest
	elif [ "$newpacks" -gt 0 ]; then
		phase=packs-written
	elif [ -n "$newtemps" ]; then
		phase=uploading-pack
	else
		phase=before-upload
	fi
	echo "# $t: $phase ($newpacks new pack(s); new temporary files: ${newtemps:-none})"
	if [ "$RC" != 0 ] && [ "$RC" != 137 ]; then
		fail "$t: the push exited $RC before the kill"
		sed 's/^/#   /' "$TMP/bg.err" | head -10
	fi

	check "$t: alpha's refs are whole after the kill" -n "$(refs_whole A && echo yes)"
	sync_ok "$t" A
	record_a
	sync_ok "$t" B
	git_ B rev-list refs/heads/main | LC_ALL=C sort -u > "$TMP/b-commits"
	lost=$(LC_ALL=C comm -23 "$ALL_A" "$TMP/b-commits" | wc -l)
	check "$t: every version alpha ever had reached beta ($lost missing)" "$lost" = 0
	lost=$(git_ A rev-list refs/heads/main | LC_ALL=C sort -u | LC_ALL=C comm -23 "$ALL_A" - | wc -l)
	check "$t: alpha lost no version ($lost missing)" "$lost" = 0
	checks_after "$t"
}

prep_push() { mutate "$1"; }
after_push() { record_a; sync_ok "$1" A; sync_ok "$1" B; }

calibrate push A

kills=0
trial=0
declare -A phases=()
while ((kills < WANT_KILLS && trial < MAX_TRIALS)); do
	trial=$((trial + 1))
	t="push trial $trial"
	mutate "p$trial"
	delay_for "$trial"
	echo "# $t: seed $SEED, delay ${DELAY}s (estimate $DUR ms)"
	push_before
	background A push -q
	sleep "$DELAY"
	kill -9 "$PID" 2> /dev/null || true
	reap
	push_after "$t"
	[ "$RC" = 137 ] && kills=$((kills + 1))
	phases[$phase]=$((${phases[$phase]:-0} + 1))
	if [ "$phase" = finished-before-kill ]; then
		DUR=$((DUR * 9 / 10))
	elif ((trial % 2 == 0)) && [[ $phase = before-upload || $phase = uploading-pack ]]; then
		DUR=$((DUR * 11 / 10))
	fi
	((DUR < 20)) && DUR=20
done
summary=""
for p in "${!phases[@]}"; do summary="$summary $p=${phases[$p]}"; done
echo "# push: $trial trials, $kills killed mid-way:$summary"
check "at least $WANT_KILLS pushes killed mid-way (in $trial trials)" "$kills" -ge "$WANT_KILLS"

# ---------------------------------------------------------------- fetch
# alpha pushes (not slowed, not killed); beta's fetch is killed
prep_fetch() {
	mutate "$1"
	if ! on A dsync push -q > "$TMP/out" 2> "$TMP/err"; then
		fail "$1: alpha's push (exit $?)"; sed 's/^/#   /' "$TMP/err" | head -5
	fi
	record_a
	A_HEAD=$(head_id "$A")
}
after_fetch() { sync_ok "$1" B; }

RREF=refs/remotes/origin/$AID
fetch_before() {
	before_ref=$(git_ B rev-parse -q --verify "$RREF" || echo none)
	before_head=$(head_id "$B")
}
# fetch_after T: names what the kill interrupted, then checks: beta's
# remote ref is the old head or alpha's new one, its own head did not move,
# its refs are whole, its next sync succeeds and brings alpha's head and
# every version alpha ever had, both check --read-data
fetch_after() {
	local t=$1 after_ref lost
	after_ref=$(git_ B rev-parse -q --verify "$RREF" || echo none)
	if [ "$RC" = 0 ]; then
		phase=finished-before-kill
	elif [ "$RC" != 137 ]; then
		phase=exit-$RC
	elif [ "$after_ref" = "$A_HEAD" ]; then
		phase=after-ref-move
	else
		phase=before-ref-move
	fi
	echo "# $t: $phase"
	if [ "$RC" != 0 ] && [ "$RC" != 137 ]; then
		fail "$t: the fetch exited $RC before the kill"
		sed 's/^/#   /' "$TMP/bg.err" | head -10
	fi
	check "$t: beta's remote ref is the old head or alpha's new one" -n \
		"$({ [ "$after_ref" = "$before_ref" ] || [ "$after_ref" = "$A_HEAD" ]; } && echo yes)"
	check "$t: beta's own head did not move" "$(head_id "$B")" = "$before_head"
	check "$t: beta's refs are whole after the kill" -n "$(refs_whole B && echo yes)"
	sync_ok "$t" B
	check "$t: beta's history holds alpha's head" -n \
		"$(git_ B merge-base --is-ancestor "$A_HEAD" refs/heads/main && echo yes)"
	git_ B rev-list refs/heads/main | LC_ALL=C sort -u > "$TMP/b-commits"
	lost=$(LC_ALL=C comm -23 "$ALL_A" "$TMP/b-commits" | wc -l)
	check "$t: every version alpha ever had is in beta ($lost missing)" "$lost" = 0
	checks_after "$t"
}

calibrate fetch B

kills=0
trial=0
phases=()
while ((kills < WANT_KILLS && trial < MAX_TRIALS)); do
	trial=$((trial + 1))
	t="fetch trial $trial"
	prep_fetch "f$trial"
	delay_for "$trial"
	echo "# $t: seed $SEED, delay ${DELAY}s (estimate $DUR ms)"
	fetch_before
	background B fetch -q
	sleep "$DELAY"
	kill -9 "$PID" 2> /dev/null || true
	reap
	fetch_after "$t"
	[ "$RC" = 137 ] && kills=$((kills + 1))
	phases[$phase]=$((${phases[$phase]:-0} + 1))
	if [ "$phase" = finished-before-kill ]; then
		DUR=$((DUR * 9 / 10))
	elif ((trial % 2 == 0)) && [ "$phase" = before-ref-move ]; then
		DUR=$((DUR * 11 / 10))
	fi
	((DUR < 20)) && DUR=20
done
summary=""
for p in "${!phases[@]}"; do summary="$summary $p=${phases[$p]}"; done
echo "# fetch: $trial trials, $kills killed mid-way:$summary"
check "at least $WANT_KILLS fetches killed mid-way (in $trial trials)" "$kills" -ge "$WANT_KILLS"

# ---------------------------------------------------------------- exact
# The short steps (publishing a pack, the manifest, removing the old one,
# the local state files) are seldom hit at random: strace delivers SIGKILL on
# entry to each.  Where they are is read from a traced, unkilled run: the
# ordinal of the syscall among those of its kind (a push after a snapshot,
# a fetch of one pack, do the same calls each time).
if ! command -v strace > /dev/null; then
	fail "strace is missing (contrib/install-deps.sh --tests installs it): exact-moment kills not run"
	finish
fi

# traced DEV CMD...: runs "$DSYNC" CMD in DEV under strace into $TMP/trace
traced() {
	local d=$1
	shift
	(cd "$TMP/$d" && export HOME="$TMP/h$d" &&
		strace -f -qq -o "$TMP/trace" -e trace=rename,renameat,unlink,unlinkat,link "$DSYNC" "$@" > "$TMP/out" 2> "$TMP/err")
}
# ordinal SYSCALL REGEX: 1-based place, among SYSCALL's calls in the trace,
# of the first whose arguments match REGEX ("-" when there is none)
ordinal() {
	local n
	n=$(grep -E "^[0-9]+ +$1\(" "$TMP/trace" | grep -nE -- "$2" | head -1 | cut -d: -f1)
	echo "${n:--}"
}
# exact_kill DEV SYSCALL N CMD...: RC is the exit status
exact_kill() {
	local d=$1 sc=$2 k=$3
	shift 3
	RC=0
	{ (cd "$TMP/$d" && export HOME="$TMP/h$d" &&
		exec strace -f -qq -o /dev/null -e trace="$sc" -e inject="$sc:signal=KILL:when=$k" \
			"$DSYNC" "$@" > "$TMP/bg.out" 2> "$TMP/bg.err"); } 2> /dev/null || RC=$?
}

# push: alpha snapshots first, so that the push itself makes no snapshot
mutate x0
ok "exact: alpha's snapshot before the traced push" on A dsync snapshot -q
# the traced push must be a plain one: a push that also consolidated
# alpha's small packs (how many the random trials left decides when) makes
# more calls, and would place every later spot too late: trace again then
for attempt in 1 2 3; do
	push_before
	ok "exact: traced push ($attempt)" traced A push -q
	after_push "exact: traced push ($attempt)"
	blobs > "$TMP/blobs-after"
	tracedpacks=$(LC_ALL=C comm -13 "$TMP/blobs-before" "$TMP/blobs-after" | grep -c '^packs/')
	[ "$tracedpacks" != 1 ] && [ "$attempt" -lt 3 ] || break
	echo "# the traced push wrote $tracedpacks new packs (it consolidated): again"
	mutate "x0-$attempt"
	on A dsync snapshot -q > /dev/null 2>&1
done
check "exact: the traced push wrote one pack ($tracedpacks)" "$tracedpacks" = 1
R=$REMOTE
# the store's blobs are renamed and removed relative to their folder
declare -a PUSH_SPOTS=(
	"renameat $(ordinal renameat '"\.[0-9a-f]{64}\.tmp-') uploading-pack publishing-the-pack"
	"rename $(ordinal rename '/seq"') packs-written recording-the-seq"
	"renameat $(ordinal renameat '"\.[0-9]{16}\.tmp-') writing-manifest publishing-the-manifest"
	"unlinkat $(ordinal unlinkat '"[0-9]{16}"') manifest-written removing-the-old-manifest"
	"rename $(ordinal rename '/packs"') old-manifest-removed recording-the-packs"
)
for spot in "${PUSH_SPOTS[@]}"; do
	read -r sc k want name <<< "$spot"
	t="push killed $name ($sc #$k)"
	if [ "$k" = - ] || [ "$want" = "" ]; then
		fail "$t: not found in the traced push"
		sed 's/^/#   /' "$TMP/trace" | head -40
		continue
	fi
	for attempt in 1 2 3; do
		mutate "x-$name-$attempt"
		on A dsync snapshot -q > /dev/null 2>&1
		push_before
		exact_kill A "$sc" "$k" push -q
		push_after "$t"
		# a push that also consolidated alpha's small packs (more than
		# 32 by now) makes more calls than the traced one: once more.  It
		# shows as more than one new pack, or as one new pack and a
		# second one's temporary file (killed as it published that one)
		[ "$phase" != "$want" ] && [ "$attempt" -lt 3 ] &&
			{ [ "$newpacks" -gt 1 ] || { [ "$newpacks" = 1 ] && [[ $newtemps = *packs/* ]]; }; } || break
		echo "# $t: that push also consolidated ($newpacks new pack(s), temporary: ${newtemps:-none}); again"
	done
	check "$t: interrupted $want (got $phase)" "$phase" = "$want"
done

# fetch: one pack from alpha
prep_fetch x1
fetch_before
ok "exact: traced fetch" traced B fetch -q
after_fetch "exact: traced fetch"
declare -a FETCH_SPOTS=(
	"link $(ordinal link '\.idx"') before-ref-move publishing-the-index"
	"link $(ordinal link '\.pack"') before-ref-move publishing-the-pack"
	"rename $(ordinal rename 'refs/remotes/') before-ref-move moving-the-ref"
	"rename $(ordinal rename '/seen"') after-ref-move recording-what-was-seen"
	"rename $(ordinal rename '/packs"') after-ref-move recording-the-packs"
)
for spot in "${FETCH_SPOTS[@]}"; do
	read -r sc k want name <<< "$spot"
	t="fetch killed $name ($sc #$k)"
	if [ "$k" = - ] || [ "$want" = "" ]; then
		fail "$t: not found in the traced fetch"
		sed 's/^/#   /' "$TMP/trace" | head -40
		continue
	fi
	prep_fetch "x-$name"
	fetch_before
	exact_kill B "$sc" "$k" fetch -q
	fetch_after "$t"
	check "$t: interrupted $want (got $phase)" "$phase" = "$want"
done

# ---------------------------------------------------------------- end
sync_ok "end" A
sync_ok "end" B
sync_ok "end again" A
check "both devices hold the same files" "$(files_digest "$A")" = "$(files_digest "$B")"
check "both devices at one head" "$(head_id "$A")" = "$(head_id "$B")"
echo "# store: $(blobs | grep -c '^packs/') packs, $(du -sm "$REMOTE" | cut -f1) MB, $(temps) temporary file(s)"
finish
