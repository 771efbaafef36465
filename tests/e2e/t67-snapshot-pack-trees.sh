#!/bin/bash
# A big snapshot writes its files, trees and commit into one pack: no loose
# object, `git fsck --full` clean, the same tree as git's own; a later big
# snapshot (70 new files, a rename, a deletion, a big chunked file) too, and its change counts
# are right.  A small one stays loose; the test builds' knob
# DSYNC_TEST_SNAPSHOT_PACK_MIN packs it, a malformed value is ignored.
. "$(dirname "$0")/lib.sh"

F=$TMP/f
mkdir -p "$F"
cd "$F"
for d in a b c/d c/e; do
	mkdir -p "$d"
	for i in $(seq 1 40); do echo "file $d $i" > "$d/f$i.txt"; done
done
loose() { find "$1/.dsync/objects" -type f ! -path '*/pack/*' ! -path '*/info/*' | wc -l; }
ok "init of 160 files" dsync init --device-name trees
check "no loose object" "$(loose "$F")" = 0
ok "fsck clean" git --git-dir=.dsync fsck --full --strict
git init -q "$TMP/g" && cp -a "$F"/a "$F"/b "$F"/c "$TMP/g"/ && git -C "$TMP/g" add -A
check "the tree is git's" "$(git --git-dir=.dsync rev-parse 'HEAD^{tree}')" = "$(git -C "$TMP/g" write-tree)"

for i in $(seq 1 70); do echo "changed $i" > "b/n$i.txt"; done
mv a/f1.txt c/moved.txt
rm c/e/f2.txt
head -c $((9 << 20)) /dev/urandom > big.bin
ok "a second big snapshot" dsync snapshot
check "still no loose object" "$(loose "$F")" = 0
ok "fsck clean again" git --git-dir=.dsync fsck --full --strict
check "two snapshots" "$(commit_count "$F")" = 2
check "the new files are stored" "$(stored "$F" | grep -c '^b/n')" = 70
msg=$(git --git-dir=.dsync log -1 --format=%s)
check "the message counts the changes ($msg)" "$msg" = "73 files changed: b/n1.txt, b/n10.txt, b/n11.txt, …"
ok "restore of the big file" dsync restore big.bin --at HEAD --to "$TMP/r"
check "the big file restores" "$(sha "$TMP/r")" = "$(sha big.bin)"

echo small > s1.txt
ok "a small snapshot" dsync snapshot
check "it goes loose" "$(loose "$F")" -gt 0
n=$(loose "$F")
echo small2 > s2.txt
DSYNC_TEST_SNAPSHOT_PACK_MIN=x ok "a small snapshot, a malformed knob" dsync snapshot
check "a malformed knob is ignored: loose" "$(loose "$F")" -gt "$n"
n=$(loose "$F")
echo small3 > s3.txt
DSYNC_TEST_SNAPSHOT_PACK_MIN=1 ok "a small snapshot, packed by the knob" dsync snapshot
check "no new loose object" "$(loose "$F")" = "$n"
ok "fsck clean at the end" git --git-dir=.dsync fsck --full --strict
finish
