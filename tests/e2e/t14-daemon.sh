#!/bin/bash
# dsync daemon: watches every registered folder, picks up a folder registered
# while it runs, waits for a registered folder that is missing and starts on it
# when it appears, reloads the delay from .dsync/config on SIGHUP, packs loose
# objects when they pile up (gc in a child, the loop going on), refuses a
# second watcher on the same folder, and stops cleanly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watchlib.sh"

LOG=$TMP/daemon.log
count_loose() { find "$1/.dsync/objects" -path '*/objects/??/*' -type f | wc -l; }

cd "$TMP"
ok "init a" dsync init a --device-name box
ok "init b (registered, then moved away: missing when the daemon starts)" dsync init b --device-name box
mv b b.away
# its snapshots write loose objects as small ones do (a snapshot of 64 files
# or more writes a pack), so that the 2,500 files below pile up loose
DSYNC_TEST_SNAPSHOT_PACK_MIN=100000 "$DSYNC" daemon 2>"$LOG" &   # not the function: $! is dsync
DAEMON=$!
WPID=$DAEMON   # wait_text stops waiting once it has exited
STARTED_PIDS+=("$DAEMON")
check "the daemon watches the registered folder a" "$(wait_text "$LOG" "$TMP/a: watching" && echo y)" = y
check "and says b is missing" "$(wait_text "$LOG" "$TMP/b: paused" && echo y)" = y

H=$(head_id a)
echo "one" > a/one.txt
check "a save in a becomes a version" "$(wait_commit a "$H" 20 && echo y)" = y
check "with the file" "$(git --git-dir=a/.dsync show refs/heads/main:one.txt)" = one

ok "init c while the daemon runs" dsync init c --device-name box
check "the daemon picks c up" "$(wait_text "$LOG" "$TMP/c: watching" && echo y)" = y
H=$(head_id c)
echo "in c" > c/x.txt
check "a save in c becomes a version" "$(wait_commit c "$H" 20 && echo y)" = y

mv b.away b
check "b is picked up when it appears" "$(wait_text "$LOG" "$TMP/b: resumed: the folder is back" && echo y)" = y
H=$(head_id b)
echo "in b" > b/y.txt
check "a save in b becomes a version" "$(wait_commit b "$H" 20 && echo y)" = y

# a second watcher on a watched folder is refused, naming the daemon's pid
fails 4 "a second watcher on a is refused (exit 4: held by another dsync)" timeout 10 "$DSYNC" watch a
contains "naming the daemon" "$TMP/err" "already watched by another dsync (pid $DAEMON)"

# SIGHUP: the delay comes from the folder's config now (no --delay flag,
# which would win over it)
git --git-dir=a/.dsync config watch.delay 2.5
kill -HUP "$DAEMON"
check "SIGHUP reloads" "$(wait_text "$LOG" "reloading" && echo y)" = y
sleep 1
H=$(head_id a)
echo "two" > a/two.txt
sleep 1.5
check "with watch.delay 2.5 nothing is recorded after 1.5 s" "$(head_id a)" = "$H"
check "but after the delay it is" "$(wait_commit a "$H" 20 && echo y)" = y

# loose objects pile up: the daemon packs them
mkdir a/many
perl -e 'for (1..2500) { open my $f, ">", "a/many/f$_" or die; print $f "file $_\n"; close $f }'
check "2,500 new files: the daemon runs gc" "$(wait_text "$LOG" "a: gc: packed" 120 && echo y)" = y
check "few loose objects remain" "$(count_loose a)" -lt 100
check "the files are in the last snapshot" \
	"$(git --git-dir=a/.dsync ls-tree -r --name-only refs/heads/main -- many | wc -l)" = 2500
ok "the store is sound" git --git-dir=a/.dsync fsck --full

kill -TERM "$DAEMON"
rc=0
wait "$DAEMON" || rc=$?
check "SIGTERM: exit status 0" "$rc" = 0
contains "and it says so" "$LOG" "stopping"
finish
