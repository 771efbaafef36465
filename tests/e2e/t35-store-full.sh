#!/bin/bash
# A write to dsync's own history that fails (a full disk, a file size limit)
# is the machine's error: the snapshot fails with exit 1 and the system's
# message, records nothing, and the next snapshot after the space is back
# records the file.  Only the user's own file failing to read is kept as
# unreadable (t07).  Plain files, files streamed into the store (over 1 MiB)
# and big files stored as chunks are each tried; then a real full disk (a
# small tmpfs; needs root, skipped otherwise).
. "$(dirname "$0")/lib.sh"

F=$TMP/F
mkdir -p "$F"
echo small > "$F/a.txt"
ok "init" dsync init "$F"
cd "$F"
before=$(head_id "$F")

# size MiB NAME: a file of incompressible bytes
size() { head -c $(($1 * 1048576)) /dev/urandom > "$2"; }

size 3 streamed.bin
fails 1 "a streamed file the store cannot hold: exit 1" bash -c 'trap "" XFSZ; ulimit -f 256; exec "$0" snapshot' "$DSYNC"
contains "the message is the system's" "$TMP/err" "File too large"
contains "and names the file" "$TMP/err" "streamed.bin"
check "nothing recorded" "$(head_id "$F")" = "$before"
ok "the next snapshot records it" dsync snapshot
check "stored byte for byte" "$(dsync show HEAD:streamed.bin | sha256sum)" = "$(sha256sum < streamed.bin)"

before=$(head_id "$F")
head -c 200000 /dev/urandom > plain.bin
fails 1 "a small file the store cannot hold: exit 1" bash -c 'trap "" XFSZ; ulimit -f 64; exec "$0" snapshot' "$DSYNC"
contains "the message is the system's" "$TMP/err" "File too large"
check "nothing recorded" "$(head_id "$F")" = "$before"

git --git-dir="$F/.dsync" config dsync.chunkThreshold 1048576
size 4 chunked.bin
fails 1 "a big file's chunks the store cannot hold: exit 1" bash -c 'trap "" XFSZ; ulimit -f 64; exec "$0" snapshot' "$DSYNC"
contains "the message is the system's" "$TMP/err" "File too large"
check "nothing recorded" "$(head_id "$F")" = "$before"
ok "with room again, everything is recorded" dsync snapshot
check "the big file byte for byte" "$(dsync show HEAD:chunked.bin | sha256sum)" = "$(sha256sum < chunked.bin)"
check "the small file byte for byte" "$(dsync show HEAD:plain.bin | sha256sum)" = "$(sha256sum < plain.bin)"

# a real full disk
M=$TMP/small-disk
mkdir -p "$M"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=8m tmpfs "$M" 2> /dev/null; then
	trap 'umount "$M" 2> /dev/null; cleanup' EXIT
	mkdir "$M/G"
	echo a > "$M/G/a.txt"
	ok "init on a small disk" dsync init "$M/G"
	cd "$M/G"
	before=$(head_id "$M/G")
	size 2 one.bin
	head -c 1500000 /dev/urandom > two.bin
	head -c 1200000 /dev/urandom > three.bin
	fails 1 "the disk fills while a file over 1 MiB is stored: exit 1" dsync snapshot
	contains "it says the disk is full" "$TMP/err" "No space left on device"
	check "no 'not stored yet' as for an unreadable file" "$(grep -c 'not stored yet' "$TMP/err")" = 0
	check "nothing recorded" "$(head_id "$M/G")" = "$before"
	rm three.bin
	git --git-dir="$M/G/.dsync" prune 2> /dev/null || true
	ok "with room again, the snapshot records the rest" dsync snapshot
	check "one.bin byte for byte" "$(dsync show HEAD:one.bin | sha256sum)" = "$(sha256sum < one.bin)"
	cd "$TMP"
	umount "$M"
else
	echo "ok - skipped the tmpfs part: mounting needs root"
fi
finish
