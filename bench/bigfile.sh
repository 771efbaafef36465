#!/bin/bash
# Big-file benchmark: how much a store grows after a 64 KiB overwrite in the
# middle of a 1 GiB file, dsync against bup in the same run.
#
#   bench/bigfile.sh [--quick]
#
# A file of random bytes (1 GiB; --quick: 128 MiB) is saved once by each
# tool; then 64 KiB in its middle are overwritten with other random bytes and
# it is saved again. Reported: each store's growth from the second save (du
# of the store, after dsync gc so that loose chunks are packed like bup's),
# the time of both saves, and dsync's growth as a ratio of bup's (the target
# is at most 2). Needs bup (Debian: apt-get install bup).
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

head -c $((mib * 1024 * 1024)) /dev/urandom > "$tmp/data/big.img"
head -c 65536 /dev/urandom > "$tmp/patch"
now() { date +%s.%N; }
kib() { du -sk "$1" | cut -f1; }

# dsync
"$DSYNC" init --device-name bench "$tmp/data" > /dev/null
t0=$(now)
(cd "$tmp/data" && "$DSYNC" snapshot -q && "$DSYNC" gc -q)
t1=$(now)
d1=$(kib "$tmp/data/.dsync")
dd if="$tmp/patch" of="$tmp/data/big.img" bs=65536 seek=$((mib * 8)) conv=notrunc 2> /dev/null
t2=$(now)
(cd "$tmp/data" && "$DSYNC" snapshot -q && "$DSYNC" gc -q)
t3=$(now)
d2=$(kib "$tmp/data/.dsync")

# bup, on the same two versions (the first one back from dsync's history)
mkdir -p "$tmp/b"
bup init > /dev/null 2>&1
(cd "$tmp/data" && "$DSYNC" show HEAD~1:big.img > "$tmp/b/big.img")
t4=$(now)
bup index "$tmp/b" > /dev/null && bup save -q -n bench "$tmp/b"
t5=$(now)
b1=$(kib "$tmp/bup")
cp "$tmp/data/big.img" "$tmp/b/big.img"
t6=$(now)
bup index "$tmp/b" > /dev/null && bup save -q -n bench "$tmp/b"
t7=$(now)
b2=$(kib "$tmp/bup")

dg=$((d2 - d1))
bg=$((b2 - b1))
printf 'file %d MiB, 64 KiB overwritten in the middle\n' "$mib"
printf '%-6s first save %7.2f s, store %8d KiB; second save %6.2f s, growth %6d KiB\n' \
	dsync "$(echo "$t1 - $t0" | bc)" "$d1" "$(echo "$t3 - $t2" | bc)" "$dg"
printf '%-6s first save %7.2f s, store %8d KiB; second save %6.2f s, growth %6d KiB\n' \
	bup "$(echo "$t5 - $t4" | bc)" "$b1" "$(echo "$t7 - $t6" | bc)" "$bg"
if [ "$bg" -gt 0 ]; then
	printf 'growth ratio %.2f (dsync / bup; target <= 2)\n' "$(echo "scale=4; $dg / $bg" | bc)"
fi
