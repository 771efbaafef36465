#!/bin/bash
# dsync gc: many one-line saves of a 1 MB text file pack into little more
# than the file; nothing is lost (every version restores, fsck is clean);
# objects nothing refers to stay; gc twice is harmless; snapshots go on.
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
