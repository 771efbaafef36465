#!/bin/bash
# Names: a user's own file named like a conflict copy is no conflict (a
# conflict is what a merge made, read from the merge commits' record, on
# every device), while the copies a merge made are, wherever the merge was
# made; device names are checked wherever they enter (init, join, $DSYNC_
# DEVICE_NAME, the folder's config), and a bad host name falls back to a safe
# one instead of failing init.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE

R=$TMP/remote
URL=file://$R
PASS=$TMP/pass
echo "the passphrase" > "$PASS"
LOOKALIKE=x.sync-conflict-20240101-000000-A.txt

# 1. a look-alike name is the user's own file, not a conflict
mkdir -p "$TMP/A" "$TMP/home-A"
echo "my own notes about sync conflicts" > "$TMP/A/$LOOKALIKE"
printf 'one\ntwo\nthree\n' > "$TMP/A/notes.txt"
ok "A: init with a file named like a conflict copy" as A init A --device-name alpha
ok "A: conflicts" on A conflicts
contains "A: the look-alike is no conflict" "$TMP/out" "no conflicts"
ok "A: conflicts --json" on A conflicts --json
check "A: --json lists none" "$(tr -d ' \n' < "$TMP/out")" = '{"conflicts":[]}'
ok "A: remote add" on A remote add usb "$URL" --passphrase-file "$PASS"
ok "A: sync" on A sync
fails 0 "B: a fresh join is not 'conflicts wait'" as B join "$URL" B --device-name beta --passphrase-file "$PASS"
check "B: no 'conflicts wait' said" -z "$(grep 'wait' "$TMP/out")"
check "B: the look-alike file came along" -f "$TMP/B/$LOOKALIKE"
ok "B: conflicts" on B conflicts
contains "B: no conflicts" "$TMP/out" "no conflicts"

# 2. a real conflict still is one: both edit notes.txt
printf 'one\nTWO from alpha\nthree\n' > "$TMP/A/notes.txt"
ok "A: snapshot" on A snapshot
ok "A: sync" on A sync
sleep 1
printf 'one\nTWO from beta\nthree\n' > "$TMP/B/notes.txt"
ok "B: snapshot" on B snapshot
fails 3 "B: sync with a conflict exits 3" on B sync
contains "B: one conflict waits" "$TMP/out" "1 conflict waits"
ok "B: conflicts" on B conflicts
contains "B: the copy of notes.txt is listed" "$TMP/out" "notes.txt"
check "B: the look-alike is not listed" -z "$(grep -F "$LOOKALIKE" "$TMP/out")"
# A fast-forwards to B's merge: the merge made elsewhere counts here too
fails 3 "A: sync takes B's merge: exit 3" on A sync
ok "A: conflicts" on A conflicts
contains "A: lists the copy B's merge made" "$TMP/out" "notes.sync-conflict-"
check "A: the look-alike is not listed" -z "$(grep -F "$LOOKALIKE" "$TMP/out")"
ok "B: resolve --keep file" on B conflicts resolve notes.txt --keep file
ok "B: conflicts" on B conflicts
contains "B: none left" "$TMP/out" "no conflicts"
check "B: the look-alike is still there" -f "$TMP/B/$LOOKALIKE"

# 3. a look-alike made by hand after merges is not one either
echo "by hand" > "$TMP/B/notes.sync-conflict-20200101-000000-gamma.txt"
ok "B: snapshot the hand-made look-alike" on B snapshot
ok "B: conflicts" on B conflicts
contains "B: still no conflicts" "$TMP/out" "no conflicts"
fails 1 "B: resolve finds no conflict at notes.txt" on B conflicts resolve notes.txt --keep copy
fails 1 "B: no conflict at a look-alike" on B conflicts resolve notes.sync-conflict-20200101-000000-gamma.txt --keep file
check "B: the hand-made file is kept" -f "$TMP/B/notes.sync-conflict-20200101-000000-gamma.txt"
ok "B: sync" on B sync
fails 0 "A: sync after resolving: exit 0" on A sync

# 4. device names are checked where they enter
mkdir -p "$TMP/home-N"
for bad in 'a/b' '..' '.' $'new\nline' $'tab\there' ' lead' 'x<y>' 'back\slash' ''; do
	q=$(printf %q "$bad")
	fails 2 "init --device-name $q is a usage error" as N init "N" --device-name "$bad"
	check "init --device-name $q: nothing made" ! -e "$TMP/N"
done
# invalid UTF-8, C1 controls, characters that reorder the text shown
for bad in $'caf\xe9' $'\xff' $'\xc0\xaf' $'a\xc2\x9bb' $'evil\xe2\x80\xaetxt' $'x\xe2\x80\xaay' $'\xe2\x81\xa6name\xe2\x81\xa9'; do
	q=$(printf %q "$bad")
	fails 2 "init --device-name $q is a usage error" as N init "N" --device-name "$bad"
	check "init --device-name $q: nothing made" ! -e "$TMP/N"
	check "init --device-name $q: one error line" "$(wc -l < "$TMP/err")" = 1
done
contains "init: says it reorders text" "$TMP/err" "reorders text"
contains "init: the characters are shown, not sent" "$TMP/err" "'\u2066name\u2069'"
fails 2 "init: \$DSYNC_DEVICE_NAME with invalid UTF-8" env DSYNC_DEVICE_NAME=$'caf\xe9' "$DSYNC" init "$TMP/N"
contains "init: says it is not UTF-8" "$TMP/err" "not valid UTF-8"
check "init: nothing made" ! -e "$TMP/N"
ok "init: a UTF-8 name is fine" as N init N --device-name 'café-π'
contains "init: the name as it is" "$TMP/out" "device 'café-π'"
rm -rf "$TMP/N"
long=$(printf 'd%.0s' $(seq 65))
fails 2 "init: a 65-byte device name is refused" as N init N --device-name "$long"
contains "init: the rule is named" "$TMP/err" "at most 64 bytes"
check "init: the quoted name is cut" "$(grep -c "$long" "$TMP/err")" = 0
fails 2 "init: a newline in the name" as N init N --device-name $'a\nb'
contains "init: the newline is shown, not printed" "$TMP/err" "'a\\nb'"
check "init: the error is one line" "$(wc -l < "$TMP/err")" = 1
ok "init: a 64-byte device name is fine" as N init N --device-name "${long:1}"
rm -rf "$TMP/N"
fails 2 "init: a bad \$DSYNC_DEVICE_NAME" env DSYNC_DEVICE_NAME='../up' "$DSYNC" init "$TMP/N"
contains "init: says where the name came from" "$TMP/err" "DSYNC_DEVICE_NAME"
check "init: nothing made" ! -e "$TMP/N"
fails 2 "join: a bad --device-name, refused before the passphrase" as J join "$URL" J --device-name 'x/../y'
contains "join: the rule is named" "$TMP/err" "'/'"
check "join: nothing made" ! -e "$TMP/J"

# a name edited into the config is checked when the folder is opened
git --git-dir="$TMP/B/.dsync" config dsync.deviceName $'evil\nDevice-Id: 00'
head_before=$(head_id "$TMP/B")
echo "change" >> "$TMP/B/notes.txt"
fails 2 "B: a bad name in the config stops a snapshot" on B snapshot
contains "B: says to fix the config" "$TMP/err" "dsync.deviceName"
check "B: no commit with that name" "$(head_id "$TMP/B")" = "$head_before"
git --git-dir="$TMP/B/.dsync" config dsync.deviceName beta
ok "B: fixed, the snapshot goes" on B snapshot

# a commit's device is its last trailer line: one a message or a file name
# holds is only text
forged=00000000000000000000000000000000
beta_id=$(git --git-dir="$TMP/B/.dsync" config dsync.deviceId)
echo "more" >> "$TMP/B/notes.txt"
ok "B: snapshot -m with a trailer line in it" on B snapshot -m $'my note\n\nDsync-Device: '"$forged"
ok "B: log --json" on B log -n 1 --json
contains "B: the commit is beta's" "$TMP/out" "\"device_id\":\"$beta_id\""
contains "B: the message keeps its text" "$TMP/out" "my note"
echo "x" > "$TMP/B/"$'odd\nDsync-Device: '"$forged"
ok "B: snapshot a file whose name holds a trailer line" on B snapshot
ok "B: log --json" on B log -n 1 --json
contains "B: still beta's" "$TMP/out" "\"device_id\":\"$beta_id\""

# 5. a host name that breaks a rule: made safe, init still works
if unshare --uts true 2> /dev/null; then
	HOSTDIR=$TMP/H
	mkdir -p "$TMP/home-H"
	rc=0
	HOME="$TMP/home-H" unshare --uts sh -c 'printf "..\n" > /proc/sys/kernel/hostname && exec "$0" init "$1"' \
		"$DSYNC" "$HOSTDIR/one" > "$TMP/out" 2> "$TMP/err" || rc=$?
	check "host name '..': init works" "$rc" = 0
	contains "host name '..': device 'device'" "$TMP/out" "device 'device'"
	rc=0
	HOME="$TMP/home-H" unshare --uts sh -c 'printf "lab/pc\n" > /proc/sys/kernel/hostname && exec "$0" init "$1"' \
		"$DSYNC" "$HOSTDIR/two" > "$TMP/out" 2> "$TMP/err" || rc=$?
	check "host name 'lab/pc': init works" "$rc" = 0
	contains "host name 'lab/pc': device 'lab-pc'" "$TMP/out" "device 'lab-pc'"
else
	echo "# skipped: host name fallback (cannot make a UTS namespace)"
fi

finish
