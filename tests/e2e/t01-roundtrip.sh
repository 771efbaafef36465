#!/bin/bash
# Every kind of change round-trips through snapshot and restore, byte for
# byte (mode and link target too); deleted files and folders come back;
# restoring over a modified file leaves that modification in history.
. "$(dirname "$0")/lib.sh"

F=$TMP/docs
mkdir -p "$F/sub/deep" "$F/gone/inner"
cd "$F"
echo hello > a.txt
printf 'line1\nline2\n' > sub/deep/b.md
: > empty
ln -s a.txt link
ln -s ../missing/target dangling
printf '#!/bin/sh\necho hi\n' > run.sh; chmod 755 run.sh
echo spaces > "name with spaces.txt"
echo utf > "ünïcödé – ✓.txt"
echo odd > $'odd\x01\xff\tname'
head -c 3000000 /dev/urandom > big.bin
echo g1 > gone/one.txt; echo g2 > gone/inner/two.txt
echo doomed > doomed.txt
mkdir -p "empty folder/inner"

ok "init takes the first snapshot" dsync init --device-name laptop
contains "init names the device" "$TMP/out" "device 'laptop'"
S1=$(head_id "$F")
tree_digest "$F" > "$TMP/d1"

fails 0 "nothing changed: exit 0" dsync snapshot
contains "nothing changed: says so" "$TMP/out" "nothing changed"
check "nothing changed: no commit" "$(commit_count "$F")" = 1

# every kind of change
echo more >> a.txt                       # edit
rm doomed.txt                            # delete
mv sub/deep/b.md sub/renamed.md          # rename
chmod 644 run.sh                         # executable bit off
chmod 755 a.txt                          # executable bit on
rm link; ln -s sub/renamed.md link       # link retargeted
rm empty; echo now-full > empty          # empty file filled
: > newempty                             # new empty file
echo new > "new file ✓.txt"              # add
rm -r gone                               # delete a folder
echo now-full > "empty folder/inner/f"   # empty folder filled
head -c 100 /dev/urandom >> big.bin      # binary edit
ok "status lists the changes" dsync status
contains "status: edit" "$TMP/out" "M a.txt"
contains "status: delete" "$TMP/out" "D doomed.txt"
contains "status: add" "$TMP/out" "A newempty"
ok "snapshot records the changes" dsync snapshot -m "second"
S2=$(head_id "$F")
check "one commit per snapshot" "$(commit_count "$F")" = 2
tree_digest "$F" > "$TMP/d2"
ok "log shows the snapshot" dsync log --all-files
contains "log: message" "$TMP/out" "second"
contains "log: rename" "$TMP/out" "sub/deep/b.md -> sub/renamed.md"
contains "log: device" "$TMP/out" "laptop"

# whole-folder restores to elsewhere give each version back exactly
ok "restore the first version elsewhere" dsync restore . --at "$S1" --to "$TMP/out1"
tree_digest "$TMP/out1" > "$TMP/r1"
check "first version round-trips byte for byte" "$(cat "$TMP/d1")" = "$(cat "$TMP/r1")"
ok "restore the second version elsewhere" dsync restore . --at "$S2" --to "$TMP/out2"
tree_digest "$TMP/out2" > "$TMP/r2"
check "second version round-trips byte for byte" "$(cat "$TMP/d2")" = "$(cat "$TMP/r2")"
check "--to left the folder alone" "$(tree_digest "$F")" = "$(cat "$TMP/d2")"
check "link target kept" "$(readlink "$TMP/out1/link")" = "a.txt"
check "dangling link kept" "$(readlink "$TMP/out1/dangling")" = "../missing/target"
check "executable bit kept" -x "$TMP/out1/run.sh"
check "empty file kept" "$(stat -c %s "$TMP/out1/empty")" = 0
check "empty folder kept" -d "$TMP/out1/empty folder/inner"
check "empty folder: no marker file written" -z "$(ls -A "$TMP/out1/empty folder/inner")"

# deleted file and deleted folder come back in place
ok "restore a deleted file" dsync restore doomed.txt --at "$S1"
check "deleted file is back" "$(cat doomed.txt)" = doomed
ok "restore a deleted folder" dsync restore gone --at "$S1"
check "deleted folder is back" "$(cat gone/inner/two.txt)" = g2
check "deleted folder: every file" "$(cat gone/one.txt)" = g1

# restore over a modified file: the modification stays in history
echo "unsaved edit" > a.txt
ok "restore over a modified file" dsync restore a.txt --at "$S1"
check "old content restored" "$(cat a.txt)" = hello
check "old mode restored" ! -x a.txt
contains "says where the replaced version is" "$TMP/out" "kept in snapshot"
ok "versions of the file" dsync versions a.txt
contains "versions: modification kept" "$TMP/out" "before restoring"
found=""
for c in $(git --git-dir=.dsync rev-list refs/heads/main); do
	if [ "$(git --git-dir=.dsync show "$c:a.txt" 2>/dev/null)" = "unsaved edit" ]; then found=$c; fi
done
check "the replaced modification is in history" -n "$found"
ok "show REV:PATH gives the bytes" dsync show "$found:a.txt"
check "show output" "$(cat "$TMP/out")" = "unsaved edit"

# restore of the whole folder in place brings back every file of S1
ok "restore the whole folder in place" dsync restore . --at "$S1"
tree_digest "$F" > "$TMP/d3"
while IFS= read -r line; do
	grep -qxF -- "$line" "$TMP/d3" || { fail "in-place restore: $line"; continue; }
done < "$TMP/d1"
pass "in-place restore brings back every file of the first version"
check "files added since stay" -f newempty

# a restored copy of a binary matches
check "big binary round-trips" "$(sha256sum < big.bin)" = "$(sha256sum < "$TMP/out1/big.bin")"

# fsck of the history
ok "git fsck --full is clean" git --git-dir=.dsync fsck --full --no-dangling
finish
