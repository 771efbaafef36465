#!/bin/bash
# Big files as chunk trees (docs/chunks.md): byte-for-byte round trips at the
# threshold's edges and across it in both directions, the stored forms, one
# change per big file in log and versions, shared chunks, git fsck and plain
# git log, a merge of a big file changed on two devices (a conflict copy that
# is itself a big file), and a 5 GiB sparse file with random regions kept,
# restored and merged into another device's folder in under 64 MB of memory.
. "$(dirname "$0")/lib.sh"

# peak RSS of a command in KiB (GNU time)
peak() { /usr/bin/time -f %M -o "$TMP/rss" "$DSYNC" "$@" > "$TMP/out" 2> "$TMP/err"; }
# the bound: 64 MB. Under AddressSanitizer freed memory waits in a
# quarantine (256 MB by default) and every byte has shadow: the quarantine is
# made small and the bound doubled for the sanitizer's own memory.
LIMIT=65536
if ldd "$DSYNC" 2> /dev/null | grep libasan > /dev/null; then
	export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}quarantine_size_mb=4"
	LIMIT=131072
fi

F=$TMP/alpha
mkdir -p "$F"
cd "$F"
ok "init" dsync init --device-name alpha
T=1048576
git --git-dir=.dsync config dsync.chunkThreshold $T
head -c $((T - 1)) /dev/urandom > below
head -c $T /dev/urandom > at
head -c $((T + 1)) /dev/urandom > above
: > empty
head -c $((3 * T)) /dev/urandom > run.bin
chmod +x run.bin
ok "snapshot at the threshold's edges" dsync snapshot
type_of() { git --git-dir="$F/.dsync" cat-file -t "refs/heads/main:$1"; }
check "threshold - 1: a blob" "$(type_of below)" = blob
check "threshold: a blob" "$(type_of at)" = blob
check "threshold + 1: a chunk tree" "$(type_of above)" = tree
check "the chunk tree's marker" "$(git --git-dir=.dsync cat-file blob refs/heads/main:above/.dsync-chunks)" = \
	"$(printf 'dsync chunked file\nversion 1\nsize %d\nmode 100644' $((T + 1)))"
ok "status: nothing changed" dsync status
contains "status says so" "$TMP/out" "nothing changed"
ok "log" dsync log -n 1
contains "log: the big file once" "$TMP/out" "A above"
check "log: no chunk paths" "$(grep -c 'dsync-chunks\|/g0000' "$TMP/out")" = 0
before=$(files_digest "$F")
rm -f below at above empty run.bin
ok "restore everything" dsync restore .
check "restored byte for byte, modes too" "$(files_digest "$F")" = "$before"
ok "show a big file" dsync show HEAD:above
check "show: its bytes" "$(cmp "$TMP/out" above && echo same)" = same

# across the threshold, both ways
cp below "$TMP/below.v1"
cp above "$TMP/above.v1"
head -c $((T + 4096)) /dev/urandom > below
head -c 100 /dev/urandom > above
ok "snapshot: one grows past, one shrinks below" dsync snapshot
check "grown: a chunk tree" "$(type_of below)" = tree
check "shrunk: a blob" "$(type_of above)" = blob
ok "log across the threshold" dsync log -n 1
contains "log: grown is modified" "$TMP/out" "M below"
contains "log: shrunk is modified" "$TMP/out" "M above"
ok "versions across the threshold" dsync versions below
contains "versions: the newest is the grown one" <(head -1 "$TMP/out") "modified"
ok "restore the versions before" dsync restore below above --at HEAD~1 --to "$TMP/old"
check "the old small one" "$(cmp "$TMP/old/below" "$TMP/below.v1" && echo same)" = same
check "the old big one" "$(cmp "$TMP/old/above" "$TMP/above.v1" && echo same)" = same

# the same content twice: one chunk tree
cp run.bin copy.bin
ok "snapshot a copy of a big file" dsync snapshot
check "a copy shares the chunk tree" \
	"$(git --git-dir=.dsync rev-parse HEAD:run.bin)" = "$(git --git-dir=.dsync rev-parse HEAD:copy.bin)"
ok "git fsck --full" git --git-dir=.dsync fsck --full
ok "plain git log" git --git-dir=.dsync log --stat -n 2
ok "diff of a big file" dsync diff HEAD~1 HEAD
contains "diff: binary" "$TMP/out" "Binary files a/copy.bin and b/copy.bin differ"

# a big file renamed: a deletion and an addition, no chunk paths
mv copy.bin moved.bin
ok "snapshot a renamed big file" dsync snapshot
ok "log of the rename" dsync log -n 1
contains "log: the old name deleted" "$TMP/out" "D copy.bin"
contains "log: the new name added" "$TMP/out" "A moved.bin"
ok "versions of the new name" dsync versions moved.bin
check "versions: no chunk paths" "$(grep -c 'g0000\|dsync-chunks' "$TMP/out")" = 0
# a file crossing the threshold: one binary change in a diff
ok "diff across the threshold" dsync diff HEAD~3 HEAD~2 -- below
check "diff: one entry for it" "$(grep -c '^diff --git' "$TMP/out")" = 1
contains "diff: binary" "$TMP/out" "Binary files a/below and b/below differ"

# two devices edit the big file: one keeps it, the other's is a copy
B=$TMP/beta
cp -a "$F" "$B"
git --git-dir="$B/.dsync" config dsync.deviceId bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
git --git-dir="$B/.dsync" config dsync.deviceName beta
dd if=/dev/urandom of="$F/run.bin" bs=4096 count=1 seek=100 conv=notrunc 2> /dev/null
ok "alpha edits the big file" dsync snapshot
cp run.bin "$TMP/run.alpha"
sleep 1.1
dd if=/dev/urandom of="$B/run.bin" bs=4096 count=1 seek=300 conv=notrunc 2> /dev/null
(cd "$B" && dsync snapshot -q)
cp "$B/run.bin" "$TMP/run.beta"
git --git-dir=.dsync fetch -q "$B/.dsync" +main:refs/remotes/usb/beta
chmod 700 "$F/moved.bin" # executable, like run.bin it was copied from
(cd "$B" && dd if=/dev/urandom of=moved.bin bs=4096 count=1 seek=20 conv=notrunc 2> /dev/null && dsync snapshot -q)
git --git-dir=.dsync fetch -q "$B/.dsync" +main:refs/remotes/usb/beta
fails 3 "merge: a conflict on the big file" dsync merge refs/remotes/usb/beta
check "a big file the merge rewrote keeps its permissions" "$(stat -c %a moved.bin)" = 700
check "the later version keeps the path" "$(cmp run.bin "$TMP/run.beta" && echo same)" = same
copy=$(ls run.sync-conflict-*-alpha.bin 2>/dev/null)
check "alpha's version is a copy" "$(cmp "$copy" "$TMP/run.alpha" && echo same)" = same
check "the copy is stored as a big file" "$(type_of "$copy")" = tree
ok "conflicts lists it" dsync conflicts
contains "conflicts: the big file" "$TMP/out" "$copy"
ok "status clean after the merge" dsync status
contains "status after the merge" "$TMP/out" "nothing changed"

# 5 GiB, sparse, with random regions; default threshold
G=$TMP/huge
mkdir -p "$G"
cd "$G"
ok "init the huge folder" dsync init --device-name alpha
truncate -s 5G huge.img
for off in 1 1500 3072 5000; do
	dd if=/dev/urandom of=huge.img bs=1M count=1 seek=$off conv=notrunc 2> /dev/null
done
sum=$(sha256sum < huge.img)
peak snapshot
check "snapshot of 5 GiB: done" "$?" = 0
rss=$(cat "$TMP/rss")
check "snapshot of 5 GiB within the bound (peak $rss KiB)" "$rss" -lt $LIMIT
check "its store is small (zeros dedup)" "$(du -sk .dsync | cut -f1)" -lt 65536
rm huge.img
peak restore huge.img
rss=$(cat "$TMP/rss")
check "restore of 5 GiB within the bound (peak $rss KiB)" "$rss" -lt $LIMIT
check "restored byte for byte" "$(sha256sum < huge.img)" = "$sum"
rm huge.img
# another device takes it through a merge: the working-tree update
H=$TMP/huge2
mkdir -p "$H"
(cd "$H" && dsync init --device-name beta > /dev/null)
git --git-dir="$H/.dsync" fetch -q "$G/.dsync" +main:refs/remotes/usb/alpha
cd "$H"
peak merge refs/remotes/usb/alpha
rss=$(cat "$TMP/rss")
check "merge writing 5 GiB within the bound (peak $rss KiB)" "$rss" -lt $LIMIT
check "merged byte for byte" "$(sha256sum < huge.img)" = "$sum"
ok "status: the huge file is clean" dsync status
contains "status: nothing changed" "$TMP/out" "nothing changed"
rm -f "$H/huge.img"

finish
