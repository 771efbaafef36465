# Helpers for the tests that run dsync watch or daemon in the background:
# sourced after lib.sh.
#
# bash leaves SIGINT and SIGQUIT ignored in the background jobs of a script;
# the watcher gets them at their defaults, as when started from a terminal
if env --default-signal=INT true 2>/dev/null; then
	DEFSIG=(env --default-signal=INT,QUIT)
else
	DEFSIG=(perl -e '$SIG{INT} = $SIG{QUIT} = "DEFAULT"; exec @ARGV or die "exec: $!\n"')
fi
WPID=
WRC=
# start_watch LOG ARGS...: "dsync ARGS..." in the background, stderr to LOG;
# its pid in WPID
start_watch() {
	local log=$1; shift
	: > "$log"   # there before the job opens it: wait_log may read it first
	"${DEFSIG[@]}" "$DSYNC" "$@" >"$log.out" 2>>"$log" &
	WPID=$!
	STARTED_PIDS+=("$WPID")
}
# running PID: the process exists and has not exited (a zombie has)
running() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}
# wait_log LOG ERE [N [SECONDS]]: until N lines of LOG match ERE; false on
# timeout, or once the watcher has exited without writing them
wait_log() {
	local log=$1 re=$2 n=${3:-1} end=$((SECONDS + ${4:-60}))
	while [ "$(grep -cE -- "$re" "$log")" -lt "$n" ]; do
		if [ "$SECONDS" -ge "$end" ] || ! running "$WPID"; then
			[ "$(grep -cE -- "$re" "$log")" -ge "$n" ]
			return
		fi
		sleep 0.1
	done
}
# wait_text LOG TEXT [SECONDS]: until LOG has a line with TEXT (a fixed
# string, unlike wait_log's pattern); false on timeout (20 s), or once the
# watcher has exited without writing it
wait_text() {
	local end=$((SECONDS + ${3:-20}))
	until grep -qF -- "$2" "$1"; do
		if [ "$SECONDS" -ge "$end" ] || ! running "$WPID"; then
			grep -qF -- "$2" "$1"
			return
		fi
		sleep 0.1
	done
}
# stop_watch SIGNAL [SECONDS]: signal the watcher and wait for it to exit;
# WRC: its exit status, or "hung" (killed after SECONDS)
stop_watch() {
	local end=$((SECONDS + ${2:-60})) hung=
	kill -"$1" "$WPID"
	while running "$WPID"; do
		if [ "$SECONDS" -ge "$end" ]; then
			hung=1
			kill -9 "$WPID"
			break
		fi
		sleep 0.1
	done
	wait "$WPID"
	WRC=$?
	[ -z "$hung" ] || WRC=hung
}
# tip DIR: the snapshot id, empty while there is none
tip() { git --git-dir="$1/.dsync" rev-parse -q --verify refs/heads/main 2>/dev/null; }
# wait_commit DIR OLD [SECONDS]: until DIR's head is a snapshot other than OLD
wait_commit() {
	local h end=$((SECONDS + ${3:-30}))
	while :; do
		h=$(tip "$1")
		[ -n "$h" ] && [ "$h" != "$2" ] && return 0
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.2
	done
}
# log lines: TIME LEVEL /folder: message (a line about the whole process,
# such as "stopping", may name no folder)
LOG_LINE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z (error|warning|info|debug) [^ ]'
WATCHING='^[^ ]+ info /.*: .*watching'
STOPPING='^[^ ]+ info .*stopping'
SNAPSHOT='^[^ ]+ info /.*: .*snapshot [0-9a-f]{7,}: '
SYNC_PUSHED='^[^ ]+ info /.*: sync: [0-9]+ packs? fetched, .*, pushed'
# show_log LOG: the log's last lines, for a failure's context
show_log() { tail -n "${2:-15}" "$1" | sed 's/^/#   log: /'; }
