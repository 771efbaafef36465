#!/bin/bash
# A folder on a drive that is unmounted while dsync watches it: nothing is
# recorded as deleted, the watcher says it paused, and when the drive is
# mounted again (here: a tmpfs in a private mount namespace, `unshare -Urm`,
# the host's mounts untouched) it resumes by itself and records new saves.
# Also: the watcher keeps no file open on the drive (umount without -l works).
. "$(dirname "$0")/lib.sh"

if ! unshare -Urm true 2>/dev/null; then
	echo "ok - skipped: no user and mount namespaces here (unshare -Urm)"
	finish
fi

mkdir -p "$TMP/mnt" "$TMP/saved"
cat >"$TMP/inner.sh" <<'EOF'
set -u
cd "$TMP"
mount -t tmpfs none mnt || exit 10
"$DSYNC" init mnt/docs --device-name usb >/dev/null || exit 11
for i in $(seq 30); do echo "file $i" > "mnt/docs/f$i"; done
(cd mnt/docs && "$DSYNC" snapshot -q) || exit 12
git --git-dir=mnt/docs/.dsync rev-parse refs/heads/main > head.before
"$DSYNC" watch mnt/docs --delay 0.3 2> watch.log &
P=$!
echo "$P" > watcher.pid
wait_for() { # TEXT: the watcher's log shows TEXT (up to 20 s)
	local i
	for i in $(seq 200); do
		grep -qF -- "$1" watch.log && return 0
		sleep 0.1
	done
	return 1
}
wait_for "watching" || exit 13
cp -a mnt/docs/. saved/
# a plain umount: fails if the watcher held a file or its cwd on the drive
umount mnt 2> umount.err || exit 14
wait_for "paused" || exit 15
sleep 1
mount -t tmpfs none mnt || exit 16
mkdir mnt/docs && cp -a saved/. mnt/docs/
wait_for "resumed" || exit 17
echo "written after the drive came back" > mnt/docs/new.txt
for i in $(seq 200); do
	[ "$(git --git-dir=mnt/docs/.dsync rev-parse refs/heads/main)" != "$(cat head.before)" ] && break
	sleep 0.1
done
git --git-dir=mnt/docs/.dsync ls-tree -r --name-only refs/heads/main > files.after
git --git-dir=mnt/docs/.dsync log --format=%s refs/heads/main > log.after
# the smallest snapshot since the 30 files were recorded
for c in $(git --git-dir=mnt/docs/.dsync rev-list "$(cat head.before)^..refs/heads/main"); do
	git --git-dir=mnt/docs/.dsync ls-tree -r --name-only "$c" | grep -c '^f[0-9]*$'
done | sort -n | head -1 > fewest
git --git-dir=mnt/docs/.dsync fsck --full > fsck.out 2>&1 || exit 18
kill -TERM "$P"
wait "$P"
echo "$?" > watcher.rc
EOF
export TMP DSYNC
unshare -Urm bash "$TMP/inner.sh"
rc=$?
check "the watcher ran through unmount and mount again (inner exit $rc: 14 umount busy, 15 no pause, 17 no resume)" "$rc" = 0
if [ "$rc" != 0 ]; then
	sed 's/^/#   /' "$TMP/watch.log" "$TMP/umount.err" 2>/dev/null | head -20
fi
contains "the pause is logged" "$TMP/watch.log" "paused: the folder went away"
contains "the return is logged" "$TMP/watch.log" "resumed: the folder is back"
check "no snapshot recorded the files as deleted" "$(cat "$TMP/fewest" 2>/dev/null)" = 30
check "all 30 files and the new one are in the last snapshot" \
	"$(grep -c '^f[0-9]*$' "$TMP/files.after" 2>/dev/null)-$(grep -c '^new.txt$' "$TMP/files.after" 2>/dev/null)" = "30-1"
check "the save after the return is a version" "$(head -1 "$TMP/log.after" 2>/dev/null)" = "1 file changed: new.txt"
check "the watcher stopped cleanly on SIGTERM" "$(cat "$TMP/watcher.rc" 2>/dev/null)" = 0
finish
