#!/bin/bash
# dsync watch at inotify's limits: (a) the event queue overflows (the
# watcher stopped while 20,000 files appear): a warning naming
# fs.inotify.max_queued_events, then everything is recorded by a rescan and
# watching goes on; (b) out of watches (a private limit of 20 in a user
# namespace, 61 folders): a warning naming fs.inotify.max_user_watches, and
# changes in folders it cannot watch are still recorded by the periodic
# rescan. The host's sysctls are never changed.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/watchlib.sh"

ROOT=$(cd "$TMP" && pwd -P)
# at DIR PATH: the file's content in DIR's newest snapshot
at() { git --git-dir="$1/.dsync" show "refs/heads/main:$2" 2>/dev/null; }
# wait_content DIR PATH TEXT SECONDS: until the newest snapshot holds PATH as TEXT
wait_content() {
	local end=$((SECONDS + $4))
	until [ "$(at "$1" "$2")" = "$3" ]; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.2
	done
}

# === (a) queue overflow
A=$ROOT/a
LOG=$TMP/watch-a.log
QMAX=$(cat /proc/sys/fs/inotify/max_queued_events)
if [ "$QMAX" -gt 200000 ]; then
	echo "ok - skipped: queue overflow (fs.inotify.max_queued_events is $QMAX)"
else
	# more files than the queue holds events (each new file is at least one)
	N=20000
	[ $((QMAX + 4000)) -le "$N" ] || N=$((QMAX + 4000))
	mkdir -p "$A/q"
	echo first > "$A/q/first.txt"
	ok "(a) init" dsync init "$A" --device-name box
	start_watch "$LOG" watch "$A" --delay 0.5
	if wait_log "$LOG" "$WATCHING" 1 120; then pass "(a) watching"
	else fail "(a) no 'watching' line within 120 s"; show_log "$LOG"; fi
	B=$(tip "$A")
	kill -STOP "$WPID"
	# half in a watched folder, half in 20 new ones
	(cd "$A" && perl -e 'my $n = $ARGV[0]; my $h = int($n / 2);
		for my $i (0 .. $h - 1) {
			open(my $f, ">", sprintf("q/f%05d.txt", $i)) or die "$!\n";
			print $f "q $i\n"; close($f) or die "$!\n";
		}
		for my $d (0 .. 19) { mkdir sprintf("n%02d", $d) or die "$!\n" }
		for my $i ($h .. $n - 1) {
			open(my $f, ">", sprintf("n%02d/f%05d.txt", $i % 20, $i)) or die "$!\n";
			print $f "n $i\n"; close($f) or die "$!\n";
		}' "$N")
	check "(a) setup: $N files written" "$(find "$A/q" "$A"/n[0-9]* -type f | wc -l)" = $((N + 1))
	kill -CONT "$WPID"
	if wait_log "$LOG" '^[^ ]+ warning .*fs\.inotify\.max_queued_events' 1 60; then
		pass "(a) overflow: a warning naming fs.inotify.max_queued_events"
	else
		fail "(a) overflow: no warning naming fs.inotify.max_queued_events"
		show_log "$LOG"
	fi
	end=$((SECONDS + 120))
	while [ "$(stored "$A" | wc -l)" != $((N + 1)) ] && [ "$SECONDS" -lt "$end" ]; do sleep 1; done
	check "(a) overflow: all $N files recorded (got $(( $(stored "$A" | wc -l) - 1 )))" \
		"$(stored "$A" | wc -l)" = $((N + 1))
	mkdir "$TMP/ra"
	git --git-dir="$A/.dsync" archive refs/heads/main | tar -x -C "$TMP/ra"
	ok "(a) overflow: every file's content" diff -r -x .dsync "$A" "$TMP/ra"
	check "(a) overflow: few snapshots for it ($(git --git-dir="$A/.dsync" rev-list --count "$B..refs/heads/main"))" \
		"$(git --git-dir="$A/.dsync" rev-list --count "$B..refs/heads/main")" -le 10
	# watching goes on after the overflow, in the folders made meanwhile too
	echo after > "$A/n07/after.txt"
	if wait_content "$A" n07/after.txt after 30; then
		pass "(a) after the overflow: a new file in a folder made meanwhile is recorded"
	else
		fail "(a) after the overflow: n07/after.txt not recorded within 30 s"
		show_log "$LOG"
	fi
	echo edited > "$A/q/f00003.txt"
	if wait_content "$A" q/f00003.txt edited 30; then
		pass "(a) after the overflow: an edit in a watched folder is recorded"
	else
		fail "(a) after the overflow: the edit of q/f00003.txt not recorded within 30 s"
	fi
	stop_watch TERM
	check "(a) SIGTERM: exit 0 (got $WRC)" "$WRC" = 0
	check "(a) SIGTERM: 'stopping'" -n "$(grep -E "$STOPPING" "$LOG")"
	ok "(a) git fsck is clean" git --git-dir="$A/.dsync" fsck --full --no-dangling
fi

# === (b) out of inotify watches, with a private limit in a user namespace
W=$ROOT/b
LOG=$TMP/watch-b.log
: > "$LOG"
LIMIT=20
if ! unshare -Ur sh -c "echo $LIMIT > /proc/sys/user/max_inotify_watches" 2>/dev/null; then
	echo "ok - skipped: out of watches (unshare -Ur cannot set a private max_inotify_watches here)"
	finish
fi
# 61 folders: the top, a chain 10 deep and 50 side by side
mkdir -p "$W"
chain=$W
for i in $(seq -w 1 10); do chain=$chain/c$i; done
mkdir -p "$chain"
for i in $(seq -w 1 50); do mkdir "$W/s$i"; done
echo top > "$W/top.txt"
while IFS= read -r d; do echo "in $d" > "$d/file.txt"; done < <(find "$W" -mindepth 1 -type d)
check "(b) setup: 61 folders" "$(find "$W" -type d | wc -l)" = 61
ok "(b) init" dsync init "$W" --device-name box
check "(b) init stored every file" "$(stored "$W" | wc -l)" = 61

# the watcher in a user namespace of its own, where it may hold 20 watches;
# unshare and bash exec, so WPID is the watcher itself
"${DEFSIG[@]}" unshare -Ur bash -c 'echo "$1" > /proc/sys/user/max_inotify_watches && shift &&
	exec "$@"' sh "$LIMIT" "$DSYNC" watch "$W" --rescan-interval 2 --delay 0.3 \
	>"$LOG.out" 2>>"$LOG" &
WPID=$!
STARTED_PIDS+=("$WPID")
if wait_log "$LOG" '^[^ ]+ warning .*fs\.inotify\.max_user_watches' 1 60; then
	pass "(b) a warning naming fs.inotify.max_user_watches"
else
	fail "(b) no warning naming fs.inotify.max_user_watches"
	show_log "$LOG"
fi
if wait_log "$LOG" "$WATCHING" 1 60; then pass "(b) watching"
else fail "(b) no 'watching' line within 60 s"; show_log "$LOG"; fi
check "(b) the watcher runs on" -n "$(running "$WPID" && echo yes)"

# which folders have no watch: the watcher's inotify fdinfo lists the
# watched inodes (hex)
watched=
for fd in /proc/"$WPID"/fd/*; do
	[ "$(readlink "$fd" 2>/dev/null)" = "anon_inode:inotify" ] || continue
	watched="$watched $(sed -n 's/^inotify .* ino:\([0-9a-f]*\) .*/\1/p' "/proc/$WPID/fdinfo/${fd##*/}" | tr '\n' ' ')"
done
nwatched=$(echo $watched | wc -w)
LATE=
if [ "$nwatched" -gt 0 ]; then
	check "(b) the watcher holds at most $LIMIT watches (holds $nwatched)" "$nwatched" -le "$LIMIT"
	# the deepest folder without a watch
	while IFS= read -r d; do
		ino=$(printf '%x' "$(stat -c %i "$d")")
		case " $watched " in *" $ino "*) ;; *) LATE=$d; break ;; esac
	done < <(find "$W" -mindepth 1 -type d -printf '%d %p\n' | sort -k1,1nr -k2 | cut -d' ' -f2-)
else
	echo "# cannot read the watcher's inotify watches; taking the deepest folder"
	LATE=$chain
fi
check "(b) a folder without a watch (${LATE#"$W"/})" -n "$LATE"
rel=${LATE#"$W"/}/file.txt
echo "changed late" > "$LATE/file.txt"
if wait_content "$W" "$rel" "changed late" 30; then
	pass "(b) an edit in an unwatched folder is recorded by a rescan"
else
	fail "(b) the edit of $rel not recorded within 30 s (rescan every 2 s)"
	show_log "$LOG"
fi
mkdir -p "$W/late/new/sub"
echo new > "$W/late/new/sub/new.txt"
if wait_content "$W" late/new/sub/new.txt new 30; then
	pass "(b) a new file in new folders is recorded"
else
	fail "(b) late/new/sub/new.txt not recorded within 30 s"
	show_log "$LOG"
fi
echo "top 2" > "$W/top.txt"
if wait_content "$W" top.txt "top 2" 30; then
	pass "(b) an edit at the top is recorded"
else
	fail "(b) the edit of top.txt not recorded within 30 s"
fi
stop_watch TERM
check "(b) SIGTERM: exit 0 (got $WRC)" "$WRC" = 0
check "(b) SIGTERM: 'stopping'" -n "$(grep -E "$STOPPING" "$LOG")"
bad=$(grep -vcE "$LOG_LINE" "$LOG")
check "(b) every log line is 'TIME LEVEL message' ($bad are not)" "$bad" = 0
ok "(b) git fsck is clean" git --git-dir="$W/.dsync" fsck --full --no-dangling
finish
