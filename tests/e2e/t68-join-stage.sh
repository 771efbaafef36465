#!/bin/bash
# A join's staging folder (.dsync/stage-*: the blobs its indexing left
# whole for the checkout) is gone after the join, and the files are the
# store's byte for byte; one that a killed join left is removed by the next
# command that writes, while one still held (a join at work) is left alone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min
export DSYNC_PASSPHRASE="a passphrase for the staging"

R=$TMP/remote
A=$TMP/a
B=$TMP/b
mkdir -p "$A/sub" "$TMP/home-a" "$TMP/home-b"
for i in 1 2 3 4 5 6 7 8; do head -c $((i * 40000)) /dev/urandom > "$A/sub/f$i.bin"; done
printf 'same bytes\n' > "$A/one.txt"
printf 'same bytes\n' > "$A/sub/two.txt"
printf '#!/bin/sh\n' > "$A/run.sh"; chmod 755 "$A/run.sh"
cd "$A"
ok "init" env HOME="$TMP/home-a" "$DSYNC" init --device-name a
ok "remote add" env HOME="$TMP/home-a" "$DSYNC" remote add r "file://$R"
ok "push" env HOME="$TMP/home-a" "$DSYNC" push r --quiet
cd "$TMP"
ok "join" env HOME="$TMP/home-b" "$DSYNC" join "file://$R" "$B" --device-name b --quiet
check "join: the files are the store's" "$(files_digest "$A")" = "$(files_digest "$B")"
check "join: no staging left" -z "$(ls -d "$B"/.dsync/stage-* 2> /dev/null)"
check "join: git reads the history" "$(git --git-dir="$B/.dsync" fsck --full > /dev/null 2>&1; echo $?)" = 0

# a killed join's staging, and one still held
mkdir "$B/.dsync/stage-killed" "$B/.dsync/stage-held"
echo x > "$B/.dsync/stage-killed/0123"
echo y > "$B/.dsync/stage-held/4567"
echo more >> "$B/one.txt"
cd "$B"
ok "a snapshot while a staging is held" env HOME="$TMP/home-b" flock -x "$B/.dsync/stage-held" "$DSYNC" snapshot
check "the killed join's staging is removed" ! -e "$B/.dsync/stage-killed"
check "the held staging is left alone" -e "$B/.dsync/stage-held/4567"
ok "a snapshot once it is let go" env HOME="$TMP/home-b" "$DSYNC" snapshot
check "then it is removed too" ! -e "$B/.dsync/stage-held"
finish
