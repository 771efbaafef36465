#!/bin/bash
# A mirror round killed with kill -9 at a random moment, 10 seeded trials
# (acceptance 2): each trial changes files on both sides (new files, edits,
# a deletion and a rename on the phone; new files and edits in the folder),
# starts `dsync mirror sync` (every other trial through the built-in SSH
# client, whose replacements move the old file aside first), kills it after
# a seeded random delay (between 0 and the time such a round took, or 0 to
# 200 ms into its writing back, from the first temporary name it makes on
# the phone), then runs a normal round. After it the
# phone holds only user files (no .NAME.dsync-* left, whatever the kill
# interrupted: the next round cleans up what the killed one made), the
# folder and the phone hold the same files, and nothing is lost: every
# version written on either side before the kill is in history.
#
# Seeded: T61_SEED (default 20261206) fixes the changes and the delays;
# T61_TRIALS (default 10). Where a kill lands still depends on the machine's
# speed: each trial prints its delay and whether the round was still running.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/mirrorlib.sh"
# LeakSanitizer's report of a killed process is noise
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

SEED=${T61_SEED:-20261206}
TRIALS=${T61_TRIALS:-10}
RANDOM=$SEED
echo "# seed $SEED"

mirror_test_start openssh
WRITTEN=$TMP/written   # blob ids of every version written on either side

# rand_size: 16 KB to ~400 KB
rand_size() { echo $((16384 + RANDOM * 12)); }

# a phone file: written as the phone's user, its blob id kept
pwrite() {
	phone_random "$1" "$2"
	blob_id "$PHONE_DIR/$1" >> "$WRITTEN"
}
# shuffled N: stdin's lines in an order fixed by the seed and N
shuffled() { awk -v s="$((SEED + $1))" 'BEGIN { srand(s) } { print rand() "\t" $0 }' | sort -n | cut -f2-; }

# a folder file
cwrite() {
	mkdir -p "$(dirname "$PC/$PC_SUB/$1")"
	head -c "$2" /dev/urandom > "$PC/$PC_SUB/$1"
	blob_id "$PC/$PC_SUB/$1" >> "$WRITTEN"
}

# the start: 40 photos on the phone, 40 files in the folder
for i in $(seq 40); do
	pwrite "Camera/$((i % 4))/P$i.jpg" "$(rand_size)"
	cwrite "FromPC/$((i % 3))/C$i.bin" "$(rand_size)"
done
ok "init the computer's folder" as pc init "$PC" --device-name pc
ok "mirror add" on pc mirror add phone "$PHONE_URL" --path-in-folder "$PC_SUB"
mround "the first round (80 files, both ways)"
phone_clean "after the first round"

# changes TRIAL: changes on both sides, apart (no conflicts): on the phone 3
# photos edited, one deleted, one renamed, 20 new; in the folder 3 files
# edited, 20 new. Edits, the deletion and the rename touch files an
# earlier round recorded (a version never listed can't be in history).
next=41
changes() {
	local trial=$1 i
	mapfile -t pfiles < <(phone_files | grep '^Camera/' | shuffled "$trial")
	mapfile -t cfiles < <(pc_files | grep '^FromPC/' | shuffled "$trial")
	for i in 0 1 2; do
		head -c 5000 /dev/urandom | phone_as sh -c 'cat >> "$1"' sh "$PHONE_DIR/${pfiles[$i]}"
		blob_id "$PHONE_DIR/${pfiles[$i]}" >> "$WRITTEN"
		head -c 5000 /dev/urandom >> "$PC/$PC_SUB/${cfiles[$i]}"
		blob_id "$PC/$PC_SUB/${cfiles[$i]}" >> "$WRITTEN"
	done
	phone_rm "${pfiles[3]}"
	phone_mv "${pfiles[4]}" "Renamed/$trial-$(basename "${pfiles[4]}")"
	for i in $(seq 20); do
		pwrite "Camera/$((RANDOM % 5))/P$next.jpg" "$(rand_size)"
		cwrite "FromPC/$((RANDOM % 4))/C$next.bin" "$(rand_size)"
		next=$((next + 1))
	done
}

# a round of such changes, not killed, gives the span the kills land in
changes 0
t0=$(now_ms)
mround "a round of a trial's changes, timed"
span=$(($(now_ms) - t0))
((span > 100)) || span=100
echo "# a trial's round took $span ms"
phone_clean "after the timed round"

killed=0 dirty=0
for trial in $(seq "$TRIALS"); do
	changes "$trial"
	# every other trial through the built-in client, which can't replace a
	# name atomically: its replacements move the old file aside first
	mode=openssh
	((trial % 2)) || mode=builtin
	on pc mirror set phone ssh "$mode" > /dev/null

	# trials 1, 2, 5, 6, 9, 10: a random moment of the round's time; the
	# others: a random moment of the writing back's first 200 ms, from the
	# first temporary name dsync makes on the phone (a round's time varies
	# too much on a busy machine for a delay alone to find that phase)
	delay=$((RANDOM * 32768 + RANDOM))
	anywhere=$(((trial - 1) / 2 % 2 == 0))
	if ((anywhere)); then
		delay=$((delay % span))
	else
		delay=$((delay % 200))
	fi
	(cd "$PC" && HOME="$TMP/home-pc" exec "$DSYNC" mirror sync phone) < /dev/null > "$TMP/killed.out" 2>&1 &
	pid=$!
	STARTED_PIDS+=("$pid")
	if ((!anywhere)); then
		while kill -0 "$pid" 2> /dev/null && [ -z "$(phone_leftovers)" ]; do
			sleep 0.005
		done
	fi
	sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
	kill -9 "$pid" 2> /dev/null || true
	rc=0
	{ wait "$pid"; } 2> /dev/null || rc=$?	# (no "Killed" job notice)
	unset 'STARTED_PIDS[-1]'
	if [ "$rc" = 137 ]; then
		killed=$((killed + 1))
		state="killed mid-round"
	else
		state="had ended (exit $rc)"
	fi
	n=$(phone_leftovers | wc -l)
	((n == 0)) || dirty=$((dirty + 1))
	echo "# trial $trial ($mode): delay $delay ms$( ((anywhere)) || echo " into the writing back"): $state; $n of dsync's names on the phone after it"

	mround "trial $trial: the round after the kill"
	if ((n > 0)); then
		contains "trial $trial: ... removed what the killed round left there" "$TMP/out" \
			"removed $n left there by a round cut off"
	fi
	phone_clean "trial $trial"
	missing=$(comm -23 <(sort -u "$WRITTEN") <(history_blobs pc))
	check "trial $trial: every version written on either side is in history" -z "$missing"
done
echo "# $killed of $TRIALS rounds killed mid-way, $dirty left names of dsync's on the phone for the next round"
check "kills landed mid-round in at least half the trials" "$killed" -ge $((TRIALS / 2))
ok "dsync check" on pc check

finish
