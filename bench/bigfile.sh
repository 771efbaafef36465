#!/bin/bash
# Big-file benchmark: how much a store grows when 64 KiB are overwritten
# inside a 1 GiB file, dsync against bup in the same run.
#
#   bench/bigfile.sh [--quick]
#
# A file of random bytes (1 GiB; --quick: 128 MiB) is saved once by each
# tool; then, four times, 64 KiB at another place are overwritten with random
# bytes and both save again. Reported per edit and in total: what each store
# gained (dsync: the on-disk size of every object the new version added, from
# git cat-file; bup: the growth of its directory) and the time; and dsync's
# total growth as a ratio of bup's (the target is at most 2). Needs bup
# (Debian: apt-get install bup).
# DSYNC=/path/to/dsync picks the binary (default: build/dsync).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
bench_args 14 "$@"
DSYNC=${DSYNC:-$here/../build/dsync}
[ -x "$DSYNC" ] || { echo "no dsync at $DSYNC; build first" >&2; exit 1; }
command -v bup > /dev/null || { echo "bup is not installed (apt-get install bup)" >&2; exit 1; }
mib=1024
[ "$quick" = 1 ] && mib=128
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dsync-bench-big.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config BUP_DIR=$tmp/bup LC_ALL=C
mkdir -p "$HOME" "$tmp/data"

"$DSYNC" init --device-name bench "$tmp/data" > /dev/null # empty: the first save is timed below
head -c $((mib * 1024 * 1024)) /dev/urandom > "$tmp/data/big.img"
head -c 65536 /dev/urandom > "$tmp/patch"
now() { date +%s.%N; }
kib() { du -sk "$1" | cut -f1; }

# the first save of each
t0=$(now)
(cd "$tmp/data" && "$DSYNC" snapshot -q)
t1=$(now)
d1=$(kib "$tmp/data/.dsync")
mkdir -p "$tmp/b"
bup init > /dev/null 2>&1
cp "$tmp/data/big.img" "$tmp/b/big.img"
t4=$(now)
bup index "$tmp/b" > /dev/null && bup save -q -n bench "$tmp/b"
t5=$(now)
b1=$(kib "$tmp/bup")

# then EDITS overwrites of 64 KiB at different places, each saved by both;
# one edit's cost depends on where it falls among the chunk boundaries, so
# the totals are compared
edits=4
dg=0 bg=0 dt=0 bt=0
for k in $(seq 1 $edits); do
	off=$((mib * 16 * k / (edits + 1)))
	head -c 65536 /dev/urandom > "$tmp/patch"
	dd if="$tmp/patch" of="$tmp/data/big.img" bs=65536 seek=$off conv=notrunc 2> /dev/null
	dd if="$tmp/patch" of="$tmp/b/big.img" bs=65536 seek=$off conv=notrunc 2> /dev/null
	t2=$(now)
	(cd "$tmp/data" && "$DSYNC" snapshot -q)
	t3=$(now)
	# what this version added to dsync's store, object by object
	added=$(git --git-dir="$tmp/data/.dsync" rev-list --objects HEAD ^HEAD~1 | cut -d' ' -f1 |
		git --git-dir="$tmp/data/.dsync" cat-file --batch-check='%(objectsize:disk)' |
		awk '{ s += $1 } END { print int((s + 1023) / 1024) }')
	before=$(kib "$tmp/bup")
	t6=$(now)
	bup index "$tmp/b" > /dev/null && bup save -q -n bench "$tmp/b"
	t7=$(now)
	grown=$(($(kib "$tmp/bup") - before))
	printf 'edit %d at %4d MiB: dsync +%4d KiB in %5.2f s, bup +%4d KiB in %5.2f s\n' "$k" $((off / 16)) \
		"$added" "$(echo "$t3 - $t2" | bc)" "$grown" "$(echo "$t7 - $t6" | bc)"
	dg=$((dg + added))
	bg=$((bg + grown))
	dt=$(echo "$dt + $t3 - $t2" | bc)
	bt=$(echo "$bt + $t7 - $t6" | bc)
done
printf 'file %d MiB, %d overwrites of 64 KiB\n' "$mib" "$edits"
printf '%-6s first save %7.2f s, store %8d KiB; %d edits %6.2f s, growth %6d KiB\n' \
	dsync "$(echo "$t1 - $t0" | bc)" "$d1" "$edits" "$dt" "$dg"
printf '%-6s first save %7.2f s, store %8d KiB; %d edits %6.2f s, growth %6d KiB\n' \
	bup "$(echo "$t5 - $t4" | bc)" "$b1" "$edits" "$bt" "$bg"
if [ "$bg" -gt 0 ]; then
	printf 'growth ratio %.2f (dsync / bup; target <= 2)\n' "$(echo "scale=4; $dg / $bg" | bc)"
fi
