#!/bin/bash
# Restore never loses what a user has: --to inside the folder is a restore
# in place (what it replaces is snapshotted first); --to elsewhere never
# replaces a different file unless --force, and checks everything before it
# writes anything; in place, a file no version holds (ignored, not a file)
# is not replaced either.  A restore killed mid-write leaves its temporary
# files (.dsync-tmp-XXXXXX), in the folder or in DEST, only until the next
# command that takes the lock.
. "$(dirname "$0")/lib.sh"

F=$TMP/docs
O=$TMP/elsewhere
mkdir -p "$F/sub" "$O"
cd "$F"
echo one > a.txt
echo sub one > sub/s.txt
ok "init" dsync init --device-name box
S1=$(head_id "$F")
echo two > a.txt
ok "snapshot two" dsync snapshot
echo three > a.txt
ok "snapshot three" dsync snapshot
S3=$(head_id "$F")
at() { git --git-dir="$F/.dsync" show "$1:$2" 2>/dev/null; }
temps() { find "$@" -name '.dsync-tmp-*' 2>/dev/null | wc -l; }

# --- 1. --to inside the folder: the unsaved edit goes into history first
echo EDIT > a.txt
ok "restore --to . (inside the folder)" dsync restore a.txt --at "$S1" --to .
check "a.txt is the old version" "$(cat a.txt)" = one
contains "it says where the replaced version is" "$TMP/out" "kept in snapshot"
check "the unsaved edit is in a version" "$(at HEAD~1 a.txt)" = EDIT
check "the restore is recorded" "$(at HEAD a.txt)" = one

echo EDIT2 > sub/a.txt
ok "restore --to sub (a folder inside)" dsync restore a.txt --at "$S3" --to sub
check "sub/a.txt is the restored version" "$(cat sub/a.txt)" = three
check "the edit it replaced is in a version" "$(at HEAD~1 sub/a.txt)" = EDIT2
check "a.txt is left alone" "$(cat a.txt)" = one
H=$(head_id "$F")
ok "restore --to a new name inside" dsync restore a.txt --at "$S3" --to "$F/sub/new/a-three.txt"
check "written there" "$(cat sub/new/a-three.txt)" = three
check "and recorded" "$(at HEAD sub/new/a-three.txt)" = three
ln -s "$F/sub" "$TMP/into-folder"
echo EDIT3 > sub/a.txt
ok "restore --to a link from elsewhere to a folder inside" dsync restore a.txt --at "$S1" --to "$TMP/into-folder"
contains "it is a restore in place" "$TMP/out" "kept in snapshot"
check "the edit it replaced is in a version" "$(at HEAD~1 sub/a.txt)" = EDIT3
check "sub/a.txt restored" "$(cat sub/a.txt)" = one
ln -s "$F/.dsync" "$TMP/into-dsync"
fails 2 "restore --to a link to .dsync: usage error" dsync restore a.txt --to "$TMP/into-dsync"
fails 2 "restore --to inside .dsync: usage error" dsync restore a.txt --to .dsync/x
contains "the message names .dsync" "$TMP/err" "inside dsync's own '.dsync'"
check "nothing written in .dsync" ! -e .dsync/x

# in place, a file no version holds is not replaced without --force
printf '*.log\n' > .dsyncignore
echo "ignored log" > keep.log
ok "snapshot with an ignore rule" dsync snapshot
git --git-dir="$F/.dsync" show HEAD:a.txt > /dev/null
H=$(head_id "$F")
fails 1 "restore --to over an ignored file: refused" dsync restore a.txt --at "$S1" --to keep.log
contains "the message names the file" "$TMP/err" "keep.log"
contains "the message gives the way out" "$TMP/err" "--force"
check "the ignored file is untouched" "$(cat keep.log)" = "ignored log"
check "nothing recorded" "$(head_id "$F")" = "$H"
ok "the same with --force" dsync restore a.txt --at "$S1" --to keep.log --force
check "replaced" "$(cat keep.log)" = one
mkfifo sub/pipe
fails 1 "restore --to over a FIFO in the folder: refused" dsync restore a.txt --to sub/pipe
check "the FIFO is still there" -p sub/pipe
rm sub/pipe

# in place, a file that cannot be read (its newest version is not in history)
# is not replaced either; permissions mean nothing to root, so as root dsync
# runs as 'nobody' (via setpriv), in a folder nobody owns
U=$TMP/u
mkdir -p "$U/home" "$U/docs"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	NOGROUP=$(id -gn nobody)
	ud() { setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups env HOME="$U/home" "$DSYNC" "$@"; }
	chown_user() { chown -R "nobody:$NOGROUP" "$@"; }
else
	ud() { env HOME="$U/home" "$DSYNC" "$@"; }
	chown_user() { :; }
fi
echo "secret one" > "$U/docs/secret.txt"
chown_user "$U"
cd "$U/docs"
ok "unreadable: init" ud init --device-name box
echo "secret two, unsaved" > secret.txt
chmod 000 secret.txt
fails 1 "restore over an unreadable file: refused" ud restore secret.txt
contains "the message names it" "$TMP/err" "secret.txt"
check "the unreadable file is untouched" "$(cat secret.txt)" = "secret two, unsaved"
ok "with --force it is replaced" ud restore secret.txt --force
check "replaced" "$(cat secret.txt)" = "secret one"
cd "$F"

# --- 2. --to outside: never replaces a different file unprompted
echo mine > "$O/a.txt"
fails 1 "restore --to a folder holding a different a.txt: refused" dsync restore a.txt --at "$S1" --to "$O"
contains "the message names the file" "$TMP/err" "$O/a.txt"
contains "the message says how to go on" "$TMP/err" "--force"
check "the message is one line" "$(wc -l < "$TMP/err")" = 1
check "the user's file is untouched" "$(cat "$O/a.txt")" = mine
fails 1 "restore --to the existing file itself: refused" dsync restore a.txt --at "$S1" --to "$O/a.txt"
check "still untouched" "$(cat "$O/a.txt")" = mine
fails 1 "several paths, one in the way: refused" dsync restore sub a.txt --at "$S1" --to "$O"
check "nothing of it was written (sub first in line)" ! -e "$O/sub"
ok "--force replaces it" dsync restore a.txt --at "$S1" --to "$O" --force
check "replaced" "$(cat "$O/a.txt")" = one
ok "the same content again: nothing to refuse" dsync restore a.txt --at "$S1" --to "$O"
check "still the restored content" "$(cat "$O/a.txt")" = one
fails 1 "a different version over it: refused" dsync restore a.txt --at "$S3" --to "$O"
check "kept" "$(cat "$O/a.txt")" = one
mkdir "$O/empty"
ok "into an existing empty folder" dsync restore sub a.txt --at "$S1" --to "$O/empty"
check "both written" "$(cat "$O/empty/a.txt") $(cat "$O/empty/sub/s.txt")" = "one sub one"
ok "onto a path that does not exist" dsync restore a.txt --at "$S1" --to "$O/new/deeper/a.txt"
check "written" "$(cat "$O/new/deeper/a.txt")" = one
echo "my notes" > "$O/notes"
fails 1 "a folder --to an existing file: refused" dsync restore sub --to "$O/notes"
check "the file is untouched" "$(cat "$O/notes")" = "my notes"
fails 1 "a file inside an existing file: refused" dsync restore a.txt --to "$O/notes/a.txt"
check "still untouched" "$(cat "$O/notes")" = "my notes"
ln -s "$O/notes" "$O/link"
fails 1 "--to a link to a file: refused" dsync restore a.txt --to "$O/link"
check "the link is kept" -L "$O/link"
check "its file is untouched" "$(cat "$O/notes")" = "my notes"
ok "--force replaces the link itself" dsync restore a.txt --at "$S1" --to "$O/link" --force
check "a file now, not a link" -f "$O/link" -a ! -L "$O/link"
check "with the restored content" "$(cat "$O/link")" = one
check "the file the link named is untouched" "$(cat "$O/notes")" = "my notes"
mkdir "$O/real"
ln -s "$O/real" "$O/dirlink"
ok "--to a link to a folder: goes inside it" dsync restore a.txt --at "$S1" --to "$O/dirlink"
check "written in the linked folder" "$(cat "$O/real/a.txt")" = one
check "the link is kept" -L "$O/dirlink"
mkdir -p "$O/whole/sub"
echo "theirs" > "$O/whole/sub/s.txt"
fails 1 "the whole folder over a different file deep inside: refused" dsync restore . --at "$S1" --to "$O/whole"
check "nothing written" ! -e "$O/whole/a.txt"
check "the file is untouched" "$(cat "$O/whole/sub/s.txt")" = theirs
rm -r "$O/whole"
mkdir -p "$O/whole"
ln -s "$O/real" "$O/whole/sub"
fails 1 "a link where a restored folder goes: refused" dsync restore . --at "$S1" --to "$O/whole"
check "nothing written through it" ! -e "$O/real/s.txt"
check "nothing written beside it" ! -e "$O/whole/a.txt"
fails 1 "--force does not replace a link with a folder either" dsync restore . --at "$S1" --to "$O/whole" --force
mkdir -p "$O/x1" "$O/x2"
fails 2 "two paths with one name into one folder: usage error" \
	dsync restore a.txt sub/a.txt --to "$O/x1"
contains "the message names both" "$TMP/err" "'a.txt' and 'sub/a.txt'"
check "nothing written" ! -e "$O/x1/a.txt"

# --- 16. a restore killed mid-write: its temporary files go with the next lock
head -c $((48 * 1024 * 1024)) /dev/urandom > big.bin
ok "snapshot a big file" dsync snapshot
B1=$(sha256sum < big.bin)
BIG1=$(head_id "$F")
head -c $((48 * 1024 * 1024)) /dev/urandom > big.bin
ok "snapshot another big file" dsync snapshot
B2=$(sha256sum < big.bin)

# kill RESTORE-ARGS... in DIR once a temporary file appears there
kill_mid_write() {
	local dir=$1 i
	shift
	"$DSYNC" restore "$@" > /dev/null 2>&1 &
	local pid=$!
	for i in $(seq 400); do
		[ "$(temps "$dir")" -gt 0 ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}
left_in=0
left_out=0
for round in 1 2 3; do
	kill_mid_write "$F" big.bin --at "$BIG1"
	[ "$(temps "$F")" -gt 0 ] && left_in=$((left_in + 1))
	ok "round $round: a locking command after the kill" dsync snapshot
	check "round $round: no .dsync-tmp-* left in the folder" "$(temps "$F")" = 0
	sum=$(sha256sum < big.bin)
	check "round $round: big.bin intact (old or restored)" "$sum" = "$B1" -o "$sum" = "$B2"

	mkdir -p "$O/k$round"
	kill_mid_write "$O/k$round" big.bin --at "$BIG1" --to "$O/k$round"
	[ "$(temps "$O/k$round")" -gt 0 ] && left_out=$((left_out + 1))
	ok "round $round: a locking command after killing restore --to" dsync snapshot
	check "round $round: no .dsync-tmp-* left in DEST" "$(temps "$O/k$round")" = 0
	if [ -e "$O/k$round/big.bin" ]; then
		check "round $round: the copy is whole" "$(sha256sum < "$O/k$round/big.bin")" = "$B1"
	fi
done
check "the kills landed mid-write in the folder ($left_in of 3)" "$left_in" -gt 0
check "the kills landed mid-write in DEST ($left_out of 3)" "$left_out" -gt 0
# a locking command while a restore --to is writing leaves its files alone
mkdir -p "$O/live"
"$DSYNC" restore big.bin --at "$BIG1" --to "$O/live" > /dev/null 2> "$TMP/live-err" &
LIVE=$!
for i in $(seq 400); do
	[ "$(temps "$O/live")" -gt 0 ] && break
	kill -0 "$LIVE" 2>/dev/null || break
	sleep 0.01
done
ok "a locking command while restore --to writes" dsync snapshot
rc=0
wait "$LIVE" || rc=$?
check "the running restore --to still succeeds" "$rc" = 0
check "and its copy is whole" "$(sha256sum < "$O/live/big.bin")" = "$B1"
mkdir -p "$O/deep"
kill_mid_write "$O/deep" . --at "$BIG1" --to "$O/deep"
ok "a locking command after killing a whole-folder restore --to" dsync snapshot
check "no .dsync-tmp-* left anywhere below DEST" "$(temps "$O/deep")" = 0
check "no restore record left in .dsync" "$(ls "$F/.dsync" | grep -c '^restore-')" = 0
# the interrupted copy can be finished: identical files are not in the way
ok "the same restore again finishes the copy" dsync restore . --at "$BIG1" --to "$O/deep"
check "the copy is whole" "$(sha256sum < "$O/deep/big.bin")" = "$B1"

# --- a DEST ending in '/' is a folder, made when missing; each PATH goes inside
cd "$F" || exit 1
ok "restore --to newsub/ (inside, missing)" dsync restore a.txt --at "$S1" --to newsub/
check "newsub is a folder" -d newsub
check "a.txt went inside it" "$(cat newsub/a.txt 2>/dev/null)" = one
ok "restore --to a missing folder outside, with '/'" dsync restore a.txt --at "$S1" --to "$O/made/deeper/"
check "the folder was made, the file inside" "$(cat "$O/made/deeper/a.txt" 2>/dev/null)" = one
ok "restore a folder --to a missing DEST/" dsync restore sub --at "$S1" --to "$O/subcopy/"
check "the folder goes inside DEST" "$(cat "$O/subcopy/sub/s.txt" 2>/dev/null)" = "sub one"
echo keep > "$O/plainfile"
fails 1 "restore --to FILE/: an existing file is no folder" dsync restore a.txt --at "$S1" --to "$O/plainfile/"
contains "says it is a file" "$TMP/err" "it is a file, not a folder"
check "the file is untouched" "$(cat "$O/plainfile")" = keep

finish
