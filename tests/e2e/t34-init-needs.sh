#!/bin/bash
# init and remote add check what they need before they make anything: with
# HOME unset (no place for the registry or the key) init makes no .dsync and
# remote add makes no store, and once HOME is set the same commands work; a
# registry that cannot be written after .dsync was made takes .dsync back
# out, so the next init starts afresh instead of "already a dsync folder".
. "$(dirname "$0")/lib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE XDG_CONFIG_HOME
echo "correct horse battery staple" > "$TMP/pass"

mkdir -p "$TMP/F"
echo keep > "$TMP/F/a.txt"
fails 1 "init with HOME unset fails" env -u HOME "$DSYNC" init "$TMP/F"
contains "it says HOME" "$TMP/err" "set HOME"
check "no .dsync made" ! -e "$TMP/F/.dsync"
check "no temporary left" "$(ls -A "$TMP/F" | grep -vc '^a.txt$')" = 0
ok "init once HOME is set" "$DSYNC" init "$TMP/F"
contains "the folder is registered" "$HOME/.config/dsync/folders" "$TMP/F"

mkdir -p "$TMP/G" "$TMP/home2/.config/dsync/folders"
echo keep > "$TMP/G/b.txt"
fails 1 "init whose registry cannot be written fails" env HOME="$TMP/home2" "$DSYNC" init "$TMP/G"
check "no .dsync left behind" ! -e "$TMP/G/.dsync"
check "only the user's file" "$(ls -A "$TMP/G")" = b.txt
rmdir "$TMP/home2/.config/dsync/folders"
ok "init again works" env HOME="$TMP/home2" "$DSYNC" init "$TMP/G"
check "the user's file is kept" "$(cat "$TMP/G/b.txt")" = keep

# a folder of the user's named like init's temporary is not init's to remove;
# what a killed init left (a git folder of that name, a minute old) is
mkdir -p "$TMP/H/.dsync-tmp-init-mine" "$TMP/H/.dsync-tmp-init-Ab12Cd/objects"
echo precious > "$TMP/H/.dsync-tmp-init-mine/thesis.txt"
echo 'ref: refs/heads/main' > "$TMP/H/.dsync-tmp-init-Ab12Cd/HEAD"
touch -d '10 minutes ago' "$TMP/H/.dsync-tmp-init-Ab12Cd"
ok "init a folder holding such names" "$DSYNC" init "$TMP/H"
check "the user's folder of that name is kept" "$(cat "$TMP/H/.dsync-tmp-init-mine/thesis.txt")" = precious
check "a killed init's leftover is removed" ! -e "$TMP/H/.dsync-tmp-init-Ab12Cd"

# a config without the device name (edited by hand): the name init would
# pick, not a damaged folder
git --git-dir="$TMP/H/.dsync" config --unset dsync.deviceName
echo new > "$TMP/H/new.txt"
ok "a folder whose config lost dsync.deviceName still snapshots" bash -c 'cd "$1" && exec "$0" snapshot' "$DSYNC" "$TMP/H"
git --git-dir="$TMP/H/.dsync" config --unset dsync.deviceId
echo newer > "$TMP/H/new.txt"
fails 6 "a folder whose config lost dsync.deviceId says so" bash -c 'cd "$1" && exec "$0" snapshot' "$DSYNC" "$TMP/H"
contains "naming the key" "$TMP/err" "dsync.deviceId"

cd "$TMP/F"
fails 1 "remote add with HOME unset fails" env -u HOME "$DSYNC" remote add r "file://$TMP/store" --passphrase-file "$TMP/pass"
contains "it says HOME" "$TMP/err" "set HOME"
check "no store made" ! -e "$TMP/store"
ok "remote add once HOME is set" "$DSYNC" remote add r "file://$TMP/store" --passphrase-file "$TMP/pass"
ok "sync" "$DSYNC" sync
finish
