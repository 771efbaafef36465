#!/bin/bash
# kill -9 of 'dsync snapshot' at random moments, on a large folder: after
# each kill the next snapshot succeeds, 'git fsck --full' finds no error and
# no garbage, no temporary or lock file is left behind, no earlier version
# is lost, and the last snapshot is complete (a restore of it equals the
# folder byte for byte).
#
# Seeded: T05_SEED (default 20240517) fixes the folder's changes and the
# delays; T05_KILLS (default 20) is how many snapshots must actually be
# killed mid-way.  The moment a kill lands still depends on the machine's
# speed, so each trial prints its seed, delay and what the kill interrupted.
. "$(dirname "$0")/lib.sh"
# LeakSanitizer cannot run under ptrace: in a sanitizer build, leave leak
# checking to the other tests
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

SEED=${T05_SEED:-20240517}
WANT_KILLS=${T05_KILLS:-20}
MAX_TRIALS=$((WANT_KILLS * 2))
RANDOM=$SEED
echo "# seed $SEED"

F=$TMP/big
G=$F/.dsync
git_() { git --git-dir="$G" "$@"; }

# fast_digest DIR: like files_digest (type, executable bit, path, content
# hash of every file and link, .dsync left out) with a few processes rather
# than two per file: the folder has thousands of files and is compared twice
# per trial.
fast_digest() {
	(cd "$1" &&
		find . -path ./.dsync -prune -o ! -type d -printf '%y %m %p -> %l\n' |
		awk '{ m = substr($2, length($2) - 2, 1); $2 = (m % 2) ? "x" : "-"; print }' |
		LC_ALL=C sort &&
		find . -path ./.dsync -prune -o -type f -print0 | LC_ALL=C sort -z |
		xargs -0 -r sha256sum)
}

# leftovers: what a writer leaves in .dsync while it is mid-way; after a
# successful snapshot this must be empty
leftovers() {
	find "$G" \( -name '*_git2_*' -o -name 'tmp_*' -o \( -name '*.lock' ! -path "$G/dsync.lock" \) \) -print
}

# ---------------------------------------------------------------- folder
# 30 nested folders of ~100 files each (text and binary, 2-16 KiB), and 12
# binary files of 2-8 MiB: ~3,000 files, ~80 MB
mkdir -p "$F"
sizes=(2 4 6 8 12 16)
for a in 0 1 2 3 4 5; do
	for b in 0 1 2 3 4; do
		d=$F/docs/part$a/sect$b
		mkdir -p "$d"
		kib=${sizes[$(((a * 5 + b) % 6))]}
		if (((a + b) % 2)); then
			head -c $((100 * kib * 1024 * 3 / 4)) /dev/urandom | base64 -w 76 |
				split -b "${kib}k" -a 3 -d --additional-suffix=.txt - "$d/note"
		else
			head -c $((100 * kib * 1024)) /dev/urandom |
				split -b "${kib}k" -a 3 -d --additional-suffix=.bin - "$d/data"
		fi
	done
done
mkdir -p "$F/media"
for i in 0 1 2 3 4 5 6 7 8 9 10 11; do
	head -c $(((2 + i % 7) * 1048576)) /dev/urandom > "$F/media/v$i.bin"
done
mkdir -p "$F/new"
printf '#!/bin/sh\necho hi\n' > "$F/tool.sh"; chmod 755 "$F/tool.sh"
ln -s docs/part0/sect0/data000.bin "$F/link"

cd "$F"
mapfile -t SMALL < <(find docs -type f | LC_ALL=C sort)
BIG=(media/v*.bin)
echo "# folder: $(find . -path ./.dsync -prune -o -type f -print | wc -l) files, $(du -sm --exclude=.dsync . | cut -f1) MB"

t0=$(now_ms)
ok "init takes the first snapshot of the large folder" dsync init --device-name box
echo "# first snapshot: $(($(now_ms) - t0)) ms"

# ---------------------------------------------------------------- changes
# mutate N: a seeded batch of changes -- edits (appends, rewrites, same-size
# in-place edits), adds, deletes, a rename, one or two big files rewritten.
# Uses $RANDOM in this shell only (a subshell would reseed it).
mutate() {
	local n=$1 i k p q edits adds dels
	edits=$((120 + RANDOM % 60))
	for ((i = 0; i < edits; i++)); do
		p=${SMALL[$((RANDOM % ${#SMALL[@]}))]}
		case $((RANDOM % 3)) in
		0) printf 'edit %s.%d %d\n' "$n" "$i" "$RANDOM" >> "$p" ;;
		1) printf 'rewritten in trial %s (%d)\n%s\n' "$n" "$RANDOM" "$p" > "$p" ;;
		2) # same size, in place: only the stat data (mtime) tells
			exec 3<> "$p"; printf 'Z%05d' "$RANDOM" >&3; exec 3>&- ;;
		esac
	done
	adds=$((RANDOM % 12))
	for ((i = 0; i < adds; i++)); do
		p=new/t$n-$i.txt
		printf 'added in trial %s, %d\n' "$n" "$RANDOM" > "$p"
		SMALL+=("$p")
	done
	dels=$((RANDOM % 6))
	for ((i = 0; i < dels; i++)); do
		k=$((RANDOM % ${#SMALL[@]}))
		rm -f -- "${SMALL[$k]}"
		unset 'SMALL[k]'
		SMALL=("${SMALL[@]}")
	done
	k=$((RANDOM % ${#SMALL[@]}))
	p=${SMALL[$k]}
	q=$(dirname "$p")/renamed-$n-$(basename "$p")
	mv -- "$p" "$q"
	SMALL[k]=$q
	# two big files: one replaced by 4 MiB of new bytes, one with 1 MiB
	# rewritten in place (the same amount of work each trial, so that the
	# calibrated duration holds)
	i=$((RANDOM % ${#BIG[@]}))
	k=$(((i + 1 + RANDOM % (${#BIG[@]} - 1)) % ${#BIG[@]}))
	head -c 4194304 /dev/urandom > "${BIG[i]}"
	dd if=/dev/urandom of="${BIG[k]}" bs=1M count=1 seek=$((RANDOM % 2)) conv=notrunc status=none
}

# ---------------------------------------------------------------- calibrate
# three uninterrupted snapshots of a trial's worth of changes: the delays
# are spread over the median duration
durs=()
for c in 1 2 3; do
	mutate "c$c"
	t0=$(now_ms)
	ok "calibration snapshot $c" dsync snapshot
	durs+=($(($(now_ms) - t0)))
done
dur=$(printf '%s\n' "${durs[@]}" | sort -n | sed -n 2p)
((dur < 20)) && dur=20
echo "# uninterrupted snapshots: ${durs[*]} ms; delays spread over $dur ms"

# ---------------------------------------------------------------- trials
# before_kill: what the checks after the kill compare with
before_kill() {
	git_ rev-list refs/heads/main > "$TMP/before-commits"
	before_head=$(head_id "$F")
	before_index=$(stat -c '%Y.%y' "$G/index")
	before_objects=$(find "$G/objects" -type f | wc -l)
}

# after_kill LABEL RC: names what the kill interrupted (in $phase), then
# checks: the ref is intact, the next snapshot succeeds, fsck is clean,
# nothing is left behind, no earlier version is lost, and the last
# snapshot restores to the folder exactly
after_kill() {
	local t=$1 rc=$2 left after_head lost

	left=$(leftovers | wc -l)
	after_head=$(git_ rev-parse -q --verify refs/heads/main || echo BROKEN)
	if [ "$rc" = 0 ]; then
		phase="finished-before-kill"
	elif [ "$rc" != 137 ]; then
		phase="exit-$rc"
	elif [ "$after_head" != "$before_head" ]; then
		phase="after-ref-move"
	elif [ -e "$G/refs/heads/main.lock" ]; then
		phase="moving-ref"
	elif [ "$(stat -c '%Y.%y' "$G/index")" != "$before_index" ]; then
		phase="after-index-write"
	elif [ -e "$G/index.lock" ]; then
		phase="writing-index"
	elif [ "$(find "$G/objects" -type f | wc -l)" != "$before_objects" ] || [ "$left" -gt 0 ]; then
		phase="writing-objects"
	else
		phase="scanning"
	fi
	echo "# $t: $phase, $left temporary/lock file(s) left"
	if [ "$rc" != 0 ] && [ "$rc" != 137 ]; then
		fail "$t: the snapshot exited $rc before the kill"
		sed 's/^/#   /' "$TMP/bg.err" | head -10
	fi
	if grep -qE 'Sanitizer|runtime error' "$TMP/bg.err"; then
		fail "$t: sanitizer report"; sed 's/^/#   /' "$TMP/bg.err" | head -30
	fi

	# the ref is intact after the kill: the old snapshot or one on top of it
	if [ "$after_head" = BROKEN ]; then
		fail "$t: refs/heads/main unreadable after the kill"
	elif [ "$after_head" != "$before_head" ] &&
		! git_ merge-base --is-ancestor "$before_head" "$after_head"; then
		fail "$t: refs/heads/main moved to a snapshot not on top of the last one"
	fi

	# the next snapshot succeeds
	if "$DSYNC" snapshot > "$TMP/out" 2> "$TMP/err"; then
		pass "$t: the next snapshot succeeds"
	else
		fail "$t: the next snapshot fails (exit $?)"
		sed 's/^/#   /' "$TMP/out" "$TMP/err" | head -20
	fi
	if grep -qE 'Sanitizer|runtime error' "$TMP/err"; then
		fail "$t: sanitizer report"; sed 's/^/#   /' "$TMP/err" | head -30
	fi

	# fsck: no error, no garbage (dangling objects from the killed run are fine)
	rc=0
	git_ fsck --full > "$TMP/fsck" 2>&1 || rc=$?
	grep -v '^dangling ' "$TMP/fsck" > "$TMP/fsck-bad" || true
	if [ "$rc" = 0 ] && ! grep -qiE 'error|garbage|bad|missing|broken|corrupt|invalid|fatal' "$TMP/fsck-bad"; then
		pass "$t: git fsck --full is clean"
	else
		fail "$t: git fsck --full (exit $rc)"
		sed 's/^/#   /' "$TMP/fsck" | head -20
	fi

	# no temporary or lock file left behind
	leftovers > "$TMP/left"
	if [ -s "$TMP/left" ]; then
		fail "$t: files left in .dsync"
		sed 's/^/#   /' "$TMP/left" | head -10
	else
		pass "$t: no temporary or lock file left"
	fi

	# no earlier version lost (and the changes were recorded)
	git_ rev-list refs/heads/main > "$TMP/after-commits"
	lost=$(LC_ALL=C comm -23 <(LC_ALL=C sort "$TMP/before-commits") <(LC_ALL=C sort "$TMP/after-commits") | wc -l)
	if [ "$lost" = 0 ] && [ "$(wc -l < "$TMP/after-commits")" -gt "$(wc -l < "$TMP/before-commits")" ]; then
		pass "$t: every earlier version is still there"
	else
		fail "$t: $lost earlier version(s) lost ($(wc -l < "$TMP/before-commits") before, $(wc -l < "$TMP/after-commits") after)"
	fi

	# the last snapshot is the folder, complete and byte for byte
	rm -rf "$TMP/restored"
	if "$DSYNC" restore . --to "$TMP/restored" > "$TMP/out" 2> "$TMP/err" &&
		[ "$(fast_digest "$TMP/restored")" = "$(fast_digest "$F")" ]; then
		pass "$t: the last snapshot restores to the folder exactly"
	else
		fail "$t: the last snapshot does not restore to the folder"
		sed 's/^/#   /' "$TMP/out" "$TMP/err" | head -10
		diff <(fast_digest "$TMP/restored") <(fast_digest "$F") | head -10 | sed 's/^/#   /'
	fi
	if grep -qE 'Sanitizer|runtime error' "$TMP/err"; then
		fail "$t: sanitizer report"; sed 's/^/#   /' "$TMP/err" | head -30
	fi
	rm -rf "$TMP/restored"
}

# random moments: kill -9 after a seeded delay, until WANT_KILLS snapshots
# were killed mid-way (a snapshot quicker than its delay is a trial too)
trial=0
kills=0
declare -A phases=()
while ((kills < WANT_KILLS && trial < MAX_TRIALS)); do
	trial=$((trial + 1))
	mutate "$trial"
	# half the trials anywhere in the run, half in its last part, where
	# the short steps are (index write, flush, ref move, flush)
	if ((trial % 2)); then
		delay_ms=$((RANDOM % (dur + 1)))
	else
		delay_ms=$((dur * 3 / 4 + RANDOM % (dur * 7 / 20 + 1)))
	fi
	delay=$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))
	echo "# trial $trial: seed $SEED, delay ${delay}s (estimate ${dur} ms)"
	before_kill

	"$DSYNC" snapshot -m "trial $trial" > "$TMP/bg.out" 2> "$TMP/bg.err" &
	pid=$!
	STARTED_PIDS+=("$pid")
	sleep "$delay"
	kill -9 "$pid" 2> /dev/null || true
	rc=0
	{ wait "$pid"; } 2> /dev/null || rc=$?	# (no "Killed" job notice)
	unset 'STARTED_PIDS[-1]'

	after_kill "trial $trial" "$rc"
	[ "$rc" = 137 ] && kills=$((kills + 1))
	# the machine's speed drifts (other load): a snapshot that beat its
	# delay means the estimate is long, a late kill still writing objects
	# means it is short
	if [ "$phase" = finished-before-kill ]; then
		dur=$((dur * 9 / 10))
	elif ((trial % 2 == 0)) && [[ $phase = writing-objects || $phase = scanning ]]; then
		dur=$((dur * 11 / 10))
	fi
	((dur < 20)) && dur=20
	phases[$phase]=$((${phases[$phase]:-0} + 1))
done
summary=""
for p in "${!phases[@]}"; do summary="$summary $p=${phases[$p]}"; done
echo "# $trial trials, $kills killed mid-way:$summary"
check "at least $WANT_KILLS snapshots killed mid-way (in $trial trials)" "$kills" -ge "$WANT_KILLS"

# exact moments: the short steps at the end are seldom hit at random, so
# strace delivers SIGKILL on entry to each of them (a snapshot this big
# writes its files, trees and commit into a pack, flushed with fdatasync()
# before it is renamed into place; libgit2 publishes the index and the ref
# with rename() once link() finds the old one in the way).  WHERE is "syscall:when=N", or "syscall:when=N@PATH"
# to count only the calls on .dsync/PATH (strace matches the first path of a
# rename), and the phase the kill must leave.
if ! command -v strace > /dev/null; then
	fail "strace is missing (contrib/install-deps.sh --tests installs it): exact-moment kills not run"
else
	for spec in "fdatasync:when=1 writing-objects" "rename:when=1@index.lock writing-index" \
		"syncfs:when=1 after-index-write" "rename:when=1@refs/heads/main.lock moving-ref" \
		"syncfs:when=2 after-ref-move"; do
		where=${spec% *}
		want=${spec#* }
		sc=${where%%:*}
		only=()
		[[ $where = *@* ]] && only=(-P "$PWD/.dsync/${where#*@}")
		when=${where#*:}
		when=${when%@*}
		exact=$((${exact:-0} + 1))
		mutate "x-$sc-$exact"
		echo "# exact kill on entry to $where"
		before_kill
		rc=0
		{ strace -f -qq -o /dev/null "${only[@]}" -e trace="$sc" -e inject="$sc:signal=KILL:$when" \
			"$DSYNC" snapshot -m "kill at $where" > "$TMP/bg.out" 2> "$TMP/bg.err"; } 2> /dev/null || rc=$?
		after_kill "kill at $where" "$rc"
		check "kill at $where: interrupted $want (got $phase)" "$phase" = "$want"
	done
fi

ok "history intact at the end" git_ fsck --full --no-dangling
finish
