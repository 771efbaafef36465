#!/bin/bash
# The maximum delay: while one file is being written for longer than
# --max-delay, and other files change too, the watcher still takes snapshots
# (the other files get versions), but each keeps the previous version of the
# file still open for writing; once it is closed, its whole content is
# recorded. No snapshot ever holds a half-written file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watchlib.sh"

F=$TMP/docs
mkdir -p "$F"
echo "before" > "$F/log.txt"
ok "init" dsync init "$F" --device-name box
FIRST=$(head_id "$F")
start_watch "$TMP/watch.log" watch "$F" --delay 0.3 --max-delay 1 --verbose
check "the watcher is ready" "$(wait_log "$TMP/watch.log" "$WATCHING" && echo y)" = y

# log.txt held open and written for 4 s; other.txt rewritten meanwhile
(
	exec 3>"$F/log.txt"
	for i in $(seq 20); do
		echo "line $i" >&3
		echo "other $i" > "$F/other.txt"
		sleep 0.2
	done
)
wait_log "$TMP/watch.log" "snapshot [0-9a-f]+: .*modified" 1 20 >/dev/null
for i in $(seq 100); do
	[ "$(git --git-dir="$F/.dsync" show refs/heads/main:log.txt 2>/dev/null | wc -l)" = 20 ] && break
	sleep 0.1
done
stop_watch TERM
check "the watcher stopped cleanly" "$WRC" = 0

G=(git --git-dir="$F/.dsync")
n=0 partial=0 others=0
for c in $("${G[@]}" rev-list "$FIRST..refs/heads/main"); do
	n=$((n + 1))
	lines=$("${G[@]}" show "$c:log.txt" | wc -l)
	first=$("${G[@]}" show "$c:log.txt" | head -1)
	if ! { [ "$lines" = 20 ] || [ "$first" = before ]; }; then
		partial=$((partial + 1))
	fi
	"${G[@]}" show "$c:other.txt" >/dev/null 2>&1 && others=$((others + 1))
done
check "snapshots were taken while the file was being written (forced by --max-delay)" "$n" -ge 3
check "other.txt got versions meanwhile" "$others" -ge 3
check "no snapshot holds a half-written log.txt" "$partial" = 0
check "the last snapshot holds all 20 lines" "$("${G[@]}" show refs/heads/main:log.txt | wc -l)" = 20
contains "the log says files still being written kept their previous version" "$TMP/watch.log" \
	"files still being written keep their previous version"
finish
