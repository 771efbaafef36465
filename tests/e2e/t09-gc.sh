#!/bin/bash
# dsync gc: many one-line saves of a 1 MB text file pack into little more
# than the file; nothing is lost (every version restores, fsck is clean);
# objects nothing refers to stay, packed; gc twice is harmless; snapshots go on;
# a big snapshot's packs (one holding what nothing refers to) all go;
# a big pack stays as it is until what is added since reaches half its size.
. "$(dirname "$0")/lib.sh"

F=$TMP/f
mkdir -p "$F"
cd "$F"
python3 -c '
import random
random.seed(7)
open("big.txt", "w").write("".join("line %d %s\n" % (i, "x" * random.randint(10, 70)) for i in range(22000)))'
ok "init" dsync init --device-name gc
SAVES=150
for i in $(seq 1 $SAVES); do
	sed -i "$((i * 97))s/.*/changed in save $i/" big.txt
	dsync snapshot -q || fail "save $i"
	[ "$i" = 75 ] && { MID=$(head_id "$F"); MIDSUM=$(sha256sum < big.txt); }
done
check "one snapshot per save" "$(commit_count "$F")" = $((SAVES + 1))
before=$(du -sk .dsync/objects | cut -f1)
ok "gc" dsync gc
contains "gc reports what it packed" "$TMP/out" "removed"
after=$(du -sk .dsync/objects | cut -f1)
echo "# objects: ${before} KiB before, ${after} KiB after ($SAVES saves of a $(stat -c %s big.txt)-byte file)"
check "loose store was large (> 10 MB)" "$before" -gt 10000
check "packed store is a few MB at most (< 4 MB)" "$after" -lt 4096
git --git-dir=.dsync count-objects -v > "$TMP/count"
contains "no loose objects left" "$TMP/count" "count: 0"
ok "git fsck --full is clean" git --git-dir=.dsync fsck --full --no-dangling
check "fsck: nothing reported" -z "$(cat "$TMP/out" "$TMP/err")"
check "every snapshot still there" "$(commit_count "$F")" = $((SAVES + 1))
ok "restore a middle version from the pack" dsync restore big.txt --at "$MID" --to "$TMP/mid.txt"
check "middle version byte for byte" "$(sha256sum < "$TMP/mid.txt")" = "$MIDSUM"
ok "versions lists every save" dsync versions big.txt
check "versions count" "$(wc -l < "$TMP/out")" = $((SAVES + 1))

# an object nothing refers to (a snapshot killed half-way) stays loose
orphan=$(echo "orphan $$" | git --git-dir=.dsync hash-object -w --stdin)
ok "gc again" dsync gc
check "an unreferenced object stays" -n "$(git --git-dir=.dsync cat-file -t "$orphan" 2>/dev/null)"
git --git-dir=.dsync count-objects -v > "$TMP/count"
contains "it went into the pack: no loose object left" "$TMP/count" "count: 0"
# a loose object a power cut left cut short fails no gc: it stays, and the
# good one beside it is packed
good=$(echo "another orphan $$" | git --git-dir=.dsync hash-object -w --stdin)
bad=$(echo "to be cut short $$" | git --git-dir=.dsync hash-object -w --stdin)
badf=.dsync/objects/${bad:0:2}/${bad:2}
chmod u+w "$badf"
head -c 12 "$badf" > "$TMP/cut"
cat "$TMP/cut" > "$badf"
# older than the last flush: no power cut's wreck, which the repair that
# begins every write moves aside unsaid (t06), but a disk's fault
touch -d '-1 hour' "$badf"
ok "gc beside a loose object cut short" dsync gc
contains "gc warns of it" "$TMP/err" "1 loose object file was cut short or damaged"
check "the cut file is moved aside, whole" "$(cat ".dsync/objects/damaged/$bad" | od -An -tx1)" = "$(od -An -tx1 < "$TMP/cut")"
check "no longer among the objects" ! -f "$badf"
check "the good one is packed" ! -f ".dsync/objects/${good:0:2}/${good:2}"
check "and is read" "$(git --git-dir=.dsync cat-file -p "$good")" = "another orphan $$"
ok "gc after it: nothing damaged left" dsync gc
check "no warning then" -z "$(cat "$TMP/err")"
rm -rf .dsync/objects/damaged
check "one pack after a second gc" "$(ls .dsync/objects/pack/*.pack | wc -l)" = 1

# history goes on after gc
echo more >> big.txt
ok "snapshot after gc" dsync snapshot
ok "nothing changed after that" dsync snapshot
contains "nothing changed" "$TMP/out" "nothing changed"
ok "gc after new snapshots" dsync gc
check "still one pack (the older one is wholly in the new)" "$(ls .dsync/objects/pack/*.pack | wc -l)" = 1
ok "fsck after the last gc" git --git-dir=.dsync fsck --full --no-dangling
ok "restore the newest from the pack" dsync restore big.txt --to "$TMP/new.txt"
check "newest version" "$(sha256sum < "$TMP/new.txt")" = "$(sha256sum < big.txt)"

# a big snapshot with a big file, written as packs (files, then trees): gc
# leaves two packs, the media (the big file's chunks, random bytes, stored
# as they are, around libgit2's pack builder) and the rest, and no second
# copy of the files.  The packs also hold
# what nothing refers to (the index's tree naming the big file by its chunk
# tree): before, the pack holding it stayed whole beside the new one
G=$TMP/g
mkdir -p "$G"
cd "$G"
ok "init an empty folder" dsync init --device-name gc2
git --git-dir=.dsync config dsync.chunkThreshold 65536
head -c 4194304 /dev/urandom > big.bin
for i in $(seq 300); do echo "small file $i" > "s$i.txt"; done
cp s1.txt copy.txt
ok "a big first snapshot" dsync snapshot
check "written as two packs (the guess split)" "$(ls .dsync/objects/pack/*.pack | wc -l)" = 2
unref=$(comm -23 <(for i in .dsync/objects/pack/*.idx; do git show-index < "$i"; done | awk '{print $2}' | sort) \
	<(git --git-dir=.dsync rev-list --objects --all | awk '{print $1}' | sort) | head -1)
check "a pack holds an object nothing refers to" -n "$unref"
ok "gc of the two packs" dsync gc
contains "gc removed both older packs" "$TMP/out" "and 2 older packs"
check "two packs after gc: media and the rest" "$(ls .dsync/objects/pack/*.pack | wc -l)" = 2
bigpack=$(ls -S .dsync/objects/pack/*.pack | head -1)
# (a last chunk of 4 KiB or less is too small to be judged media: it goes
# with the rest, so the bound leaves room for one)
check "the media pack holds the chunks (no deltas, not deflated: > 4 MiB - 64 KiB)" \
	"$(stat -c %s "$bigpack")" -gt $((4194304 - 65536))
check "it has no deltas" -z "$(git verify-pack -v "${bigpack%.pack}.idx" | awk '$2 == "blob" && NF > 5')"
small=$(ls -S .dsync/objects/pack/*.pack | tail -1)
check "the rest is small (< 64 KiB: deltas, deflated)" "$(stat -c %s "$small")" -lt 65536
size=$(du -sk .dsync/objects | cut -f1)
echo "# objects after gc: ${size} KiB for 4 MiB of random bytes and 300 small files"
check "no second copy of the big file (< 6 MiB)" "$size" -lt 6144
check "what nothing refers to stays, in the new pack" -n "$(git --git-dir=.dsync cat-file -t "$unref" 2>/dev/null)"
ok "fsck after gc of the big snapshot" git --git-dir=.dsync fsck --full --no-dangling
ok "restore the big file" dsync restore big.bin --to "$TMP/big.bin"
check "the big file byte for byte" "$(sha "$TMP/big.bin")" = "$(sha big.bin)"
echo "small file 7 changed" > s7.txt
ok "a snapshot after that gc" dsync snapshot
ok "check after it" dsync check

# a big pack stays as it is while what would merge with it is under half
# its size (git's repack --geometric=2): gc's time and room grow with what
# was added, not with the history.  Packs under 64 KiB (a test build's
# knob; 32 MiB by default) always merge.  The pack of the gc above holds
# the big file: it stays; the small saves since go into a pack of their own
export DSYNC_TEST_GC_SMALL_PACK=65536
bigpack=$(ls -S .dsync/objects/pack/*.pack | head -1)
for i in 1 2 3; do
	echo "save $i" >> s9.txt
	ok "small save $i" dsync snapshot
done
ok "gc beside the big pack" dsync gc
contains "gc says the big pack stays" "$TMP/out" "1 pack left as it is"
check "the big pack is still there" -f "$bigpack"
check "beside one new pack" "$(ls .dsync/objects/pack/*.pack | wc -l)" = 2
newpack=$(ls .dsync/objects/pack/*.pack | grep -v "$bigpack")
check "the small pack went into it" ! -f "$small"
check "the new pack holds only what was added (< 64 KiB)" "$(stat -c %s "$newpack")" -lt 65536
git --git-dir=.dsync count-objects -v > "$TMP/count"
contains "no loose objects left" "$TMP/count" "count: 0"
ok "fsck with the big pack kept" git --git-dir=.dsync fsck --full --no-dangling
ok "restore the big file from the kept pack" dsync restore big.bin --to "$TMP/big2.bin"
check "the big file byte for byte" "$(sha "$TMP/big2.bin")" = "$(sha big.bin)"
ok "restore the newest small save" dsync restore s9.txt --to "$TMP/s9.txt"
check "newest small save" "$(cat "$TMP/s9.txt")" = "$(cat s9.txt)"
ok "gc again: nothing new" dsync gc
contains "the new pack alone is not written again" "$TMP/out" "nothing to pack"
check "still the two packs" "$(ls .dsync/objects/pack/*.pack | wc -l)" = 2
# a second big file of the same size: what would merge reaches half the big
# pack, so it merges too
head -c 4194304 /dev/urandom > big2.bin
ok "a second big file" dsync snapshot
ok "gc merges the big pack now" dsync gc
check "two packs left: media and the rest" "$(ls .dsync/objects/pack/*.pack | wc -l)" = 2
check "the old big pack went" ! -f "$bigpack"
check "the new media pack holds both big files (> 8 MiB)" "$(stat -c %s "$(ls -S .dsync/objects/pack/*.pack | head -1)")" -gt 8388608
ok "fsck after merging" git --git-dir=.dsync fsck --full --no-dangling
ok "restore the first big file" dsync restore big.bin --to "$TMP/big3.bin"
check "first big file byte for byte" "$(sha "$TMP/big3.bin")" = "$(sha big.bin)"
ok "check after it all" dsync check
unset DSYNC_TEST_GC_SMALL_PACK

# loose copies of packed objects (a gc killed while removing them) go, even
# when there is nothing to pack
for o in $(git show-index < "$(ls .dsync/objects/pack/*.idx | head -1)" | awk '{print $2}' | head -5); do
	t=$(git --git-dir=.dsync cat-file -t "$o")
	mkdir -p ".dsync/objects/${o:0:2}"
	git --git-dir=.dsync cat-file "$t" "$o" | python3 -c '
import sys, zlib
d = sys.stdin.buffer.read()
sys.stdout.buffer.write(zlib.compress(b"%s %d\0" % (sys.argv[1].encode(), len(d)) + d))' "$t" > ".dsync/objects/${o:0:2}/${o:2}"
done
ok "gc with loose copies of packed objects" dsync gc
contains "they go, nothing to pack" "$TMP/out" "nothing to pack; removed 5 loose copies of packed objects"
# a pack of garbage stays (check names it) and is not counted as merged:
# the next gc has nothing to pack
head -c 3000 /dev/urandom > .dsync/objects/pack/pack-2222222222222222222222222222222222222222.pack
head -c 3000 /dev/urandom > .dsync/objects/pack/pack-2222222222222222222222222222222222222222.idx
echo "one more" > s8.txt
ok "a snapshot beside a pack of garbage" dsync snapshot
ok "gc beside it" dsync gc
ok "gc again beside it" dsync gc
contains "nothing to pack the second time" "$TMP/out" "nothing to pack"
check "the pack of garbage stays" -f .dsync/objects/pack/pack-2222222222222222222222222222222222222222.pack
rm -f .dsync/objects/pack/pack-2222222222222222222222222222222222222222.*
# a wreck that can't be moved aside (a file where damaged/ should be) is
# removed: it held no object; gc does not hang on it
wreck=$(echo "a wreck $$" | git --git-dir=.dsync hash-object -w --stdin)
chmod u+w ".dsync/objects/${wreck:0:2}/${wreck:2}"
: > ".dsync/objects/${wreck:0:2}/${wreck:2}"
touch -d '-1 hour' ".dsync/objects/${wreck:0:2}/${wreck:2}"
: > .dsync/objects/damaged
ok "gc with no room aside for a wreck" timeout 60 "$DSYNC" gc
check "the wreck is gone" ! -e ".dsync/objects/${wreck:0:2}/${wreck:2}"
rm -f .dsync/objects/damaged
# a loose object over 256 MiB (chunking off) is whole: packed, not taken
# for a wreck (the check streams, whatever the size)
git --git-dir=.dsync config dsync.chunkThreshold 0
truncate -s 270M zeros.img
ok "a snapshot of a 270 MiB file, chunking off" dsync snapshot
ok "gc of its loose object" timeout 120 "$DSYNC" gc
check "not taken for a wreck" -z "$(cat "$TMP/err")"
rm -f zeros.img
ok "restore it" dsync restore zeros.img
check "270 MiB of zeros back" "$(stat -c %s zeros.img):$(tr -d '\0' < zeros.img | wc -c)" = "283115520:0"
rm -f zeros.img
ok "check after these" dsync check

# a big snapshot's pack of text (no deltas) is repacked with deltas by the
# first gc: only packs the last gc wrote are taken as done ("nothing to
# pack"); over 256 media chunks (two media packs) a second gc has nothing
# to pack all the same
H=$TMP/h
mkdir -p "$H"
cd "$H"
python3 -c '
base = ["line %d of the shared document text, with words\n" % i for i in range(3000)]
for k in range(100):
    b = list(base); b[k * 7] = "edited %d\n" % k; open("doc%03d.txt" % k, "w").write("".join(b))'
ok "init 100 near-copies of a text" dsync init --device-name gc3
before=$(du -sk .dsync/objects/pack | cut -f1)
ok "gc of the snapshot's pack" dsync gc
after=$(du -sk .dsync/objects/pack | cut -f1)
echo "# 100 near-copies: ${before} KiB packed by the snapshot, ${after} KiB after gc"
check "deltas: under a tenth" "$((after * 10))" -lt "$before"
git --git-dir=.dsync config dsync.chunkThreshold 65536
head -c 12000000 /dev/urandom > video.mp4
ok "a video of 300 chunks" dsync snapshot
ok "gc of it" dsync gc
ok "gc again" dsync gc
contains "nothing to pack the second time" "$TMP/out" "nothing to pack"
# a wreck older than the last flush (a disk's fault) under the id of a file
# about to be saved: the save writes the object anew over it
echo "precious $$" > precious.txt
p=$(git hash-object precious.txt)
mkdir -p ".dsync/objects/${p:0:2}"
: > ".dsync/objects/${p:0:2}/${p:2}"
touch -d '2020-01-01' ".dsync/objects/${p:0:2}/${p:2}"
ok "save beside an old wreck of its object" dsync snapshot
rm precious.txt
ok "restore it" dsync restore precious.txt
check "byte for byte" "$(cat precious.txt)" = "precious $$"
ok "check of it all" dsync check
cd "$F"

# locked out like every writer: the holder is the sleep itself (no flock
# parent left to kill while its child goes on), with no hold on the test's
# output, and it is ended right after
flock --no-fork .dsync/dsync.lock sleep 30 > /dev/null 2>&1 &
HOLDER=$!
STARTED_PIDS+=("$HOLDER")
for i in $(seq 50); do
	flock -n .dsync/dsync.lock true || break
	sleep 0.1
done
fails 4 "gc waits for the folder's lock" dsync gc
kill "$HOLDER"
wait "$HOLDER" 2> /dev/null
finish
