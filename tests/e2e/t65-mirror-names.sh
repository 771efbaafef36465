#!/bin/bash
# Names a phone's shared storage can't hold (acceptance 6; FAT-like: no
# ':', case-insensitive, no symlinks, no trailing '.'): `a:b.txt`,
# `README.txt` beside `readme.TXT`, a symbolic link and `trailing.` in the
# computer's folder are not written to the phone; `dsync mirror list` (and
# --json) lists them as kept on the computer only, with the reason; later
# rounds change nothing on either side (no new commit in history, the
# folder and the phone as they were), also after the phone edits the
# README.txt it got (the edit lands on README.txt, not on readme.TXT) and
# after one of them is deleted on the computer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/mirrorlib.sh"

mirror_test_start openssh

D=$PC/$PC_SUB
mkdir -p "$D/sub"
echo "fine" > "$D/fine.txt"
echo "a colon" > "$D/a:b.txt"
echo "upper" > "$D/README.txt"
echo "lower, longer" > "$D/readme.TXT"
ln -s fine.txt "$D/link"
echo "a trailing dot" > "$D/trailing."
echo "deeper, fine" > "$D/sub/ok.txt"
echo "deeper, a question" > "$D/sub/why?.txt"
phone_random IMG_0001.jpg 50000
KEPT="a:b.txt link readme.TXT sub/why?.txt trailing."

ok "init the computer's folder" as pc init "$PC" --device-name pc
ok "mirror add" on pc mirror add phone "$PHONE_URL" --path-in-folder "$PC_SUB"
mround "the first round"
contains "... says how many stay on the computer only" "$TMP/out" "5 kept on the computer only"
check "the phone got the names it can hold, and only those" \
	"$(phone_files | tr '\n' ' ')" = "IMG_0001.jpg README.txt fine.txt sub/ok.txt "
check "the phone's README.txt is the computer's README.txt" "$(cat "$PHONE_DIR/README.txt")" = upper
check "nothing of dsync's on the phone" -z "$(phone_leftovers)"

ok "mirror list" on pc mirror list
contains "mirror list: kept on the computer only (5)" "$TMP/out" "kept on the computer only (5):"
contains "... a:b.txt, its name has ':'" "$TMP/out" "$PC_SUB/a:b.txt  (name has ':')"
contains "... readme.TXT, it differs only in case" "$TMP/out" \
	"$PC_SUB/readme.TXT  (differs from '$PC_SUB/README.txt' only in case)"
contains "... the link" "$TMP/out" "$PC_SUB/link  (symbolic link)"
contains "... trailing." "$TMP/out" "$PC_SUB/trailing.  ("
contains "... sub/why?.txt" "$TMP/out" "$PC_SUB/sub/why?.txt  ("
ok "mirror list --json" on pc mirror list --json
check "--json: the same five paths" \
	"$(jq -r '.mirrors[0].kept[].path' "$TMP/out" 2> /dev/null | sed "s:^$PC_SUB/::" | LC_ALL=C sort | tr '\n' ' ')" = "$KEPT "
check "--json: each with a reason" \
	"$(jq -r '[.mirrors[0].kept[] | select((.reason | type) == "string" and .reason != "")] | length' "$TMP/out" 2> /dev/null)" = 5
check "--json: the link's reason" \
	"$(jq -r --arg p "$PC_SUB/link" '.mirrors[0].kept[] | select(.path == $p) | .reason' "$TMP/out" 2> /dev/null)" = "symbolic link"

# later rounds: nothing changes, on either side
pc_before=$(tree_digest "$PC")
phone_before=$(tree_digest "$PHONE_DIR")
n=$(commit_count "$PC")
ref=$(git_of pc rev-parse refs/mirrors/phone 2> /dev/null)
for r in 2 3; do
	mround "round $r"
	contains "round $r: ... up to date" "$TMP/out" "phone: up to date"
	check "round $r: no new commit in history" "$(commit_count "$PC")" = "$n"
	check "round $r: the mirror's ref stays" "$(git_of pc rev-parse refs/mirrors/phone 2> /dev/null)" = "$ref"
	check "round $r: the folder is as it was (the five included)" "$(tree_digest "$PC")" = "$pc_before"
	check "round $r: the phone is as it was" "$(tree_digest "$PHONE_DIR")" = "$phone_before"
done

# the phone edits the README.txt it holds: the edit lands on README.txt only
echo "upper, edited on the phone" | phone_write README.txt
mround "a round after the phone edited README.txt"
check "the folder's README.txt has the edit" "$(cat "$D/README.txt")" = "upper, edited on the phone"
check "... readme.TXT is untouched" "$(cat "$D/readme.TXT")" = "lower, longer"
check "... and so are the others kept on the computer" \
	"$(cat "$D/a:b.txt" "$D/trailing." "$D/sub/why?.txt"; readlink "$D/link")" = \
	"$(printf 'a colon\na trailing dot\ndeeper, a question\nfine.txt')"
mlog_has "the phone's edit is recorded as the phone's" phone "M $PC_SUB/README.txt"
check "the phone's snapshots never deleted what it can't hold" \
	-z "$(mlog phone | grep '^D ')"

# one deleted on the computer: nothing happens on the phone
rm "$D/a:b.txt"
phone_before=$(tree_digest "$PHONE_DIR")
mround "a round after a:b.txt was deleted on the computer"
check "the phone is as it was" "$(tree_digest "$PHONE_DIR")" = "$phone_before"
ok "mirror list" on pc mirror list
contains "... 4 left on the computer only" "$TMP/out" "kept on the computer only (4):"
n=$(commit_count "$PC")
mround "one more round"
check "... records nothing" "$(commit_count "$PC")" = "$n"
check "no conflict copy anywhere" -z "$(find "$PC" "$PHONE_DIR" -name '*sync-conflict*')"

# A phone whose storage is case-sensitive after all (Termux's home, an ext4
# card) holds two names differing in case: both are recorded once, and the
# second, which the rules keep on the computer only, is never written back,
# so the phone's copy goes stale: it must not undo the computer's edit, nor
# its deletion there count as a deletion
echo "upper case" | phone_write Clash.jpg
echo "lower case" | phone_write clash.jpg
mround "a round after the phone made Clash.jpg and clash.jpg"
check "both are in the folder" "$(cat "$D/Clash.jpg" "$D/clash.jpg" 2> /dev/null)" = "$(printf 'upper case\nlower case')"
ok "mirror list" on pc mirror list
contains "... clash.jpg is kept on the computer only" "$TMP/out" \
	"$PC_SUB/clash.jpg  (differs from '$PC_SUB/Clash.jpg' only in case)"
echo "lower case, edited on the computer" > "$D/clash.jpg"
mround "a round after the computer edited clash.jpg"
mround "one more round"
check "the computer's edit of clash.jpg stays" "$(cat "$D/clash.jpg")" = "lower case, edited on the computer"
check "the phone's stale copy was not recorded as its edit" -z "$(mlog phone | grep -Fx "M $PC_SUB/clash.jpg")"
phone_rm clash.jpg
mround "a round after the phone deleted clash.jpg"
check "the computer keeps clash.jpg" "$(cat "$D/clash.jpg" 2> /dev/null)" = "lower case, edited on the computer"
check "no deletion recorded for the phone" -z "$(mlog phone | grep '^D ')"

finish
