#!/bin/bash
# Relay load benchmark (issue 15, acceptance 7): the real `dsync relay` on
# loopback, 500 long-polling clients plus 50 uploaders for 30 s
# (tests/tools/relay_load.py: Python asyncio, raw HTTP/1.1).
#
#   bench/relay-load.sh [--quick]
#
# Each uploader registers a device of its own and PUTs random 1-4 MiB blobs
# as packs/ with real ed25519 signatures, each followed by a small manifest
# that wakes the polls; the group's quota (BENCH_QUOTA, default 1G; --quick
# 100M) is set so that some uploads get 507 over-quota, after which the
# uploader deletes one of its own packs and goes on. Then every blob
# answered 2xx reads back with its hash; nothing but 507 over-quota may be
# refused; every poll is answered within its timeout + 1 s. Printed: counts,
# the poll latency (from the start of the manifest PUT that made a change to
# the poll's answer: median, p95, max) and the relay's memory (VmHWM, VmRSS).
# --quick (and the e2e test t56): 100 polls + 10 uploaders for 10 s, poll
# timeout 5 s. Settings: BENCH_POLLS, BENCH_UPLOADERS, BENCH_SECONDS,
# BENCH_POLL_TIMEOUT, BENCH_QUOTA, BENCH_DIR (temp space). DSYNC picks the
# binary (default: build/dsync).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
bench_args 20 "$@"
DSYNC=${DSYNC:-$here/../build/dsync}
[ -x "$DSYNC" ] || die "no dsync binary at $DSYNC (build first, or set DSYNC)"
if [ "$quick" = 1 ]; then
	polls=${BENCH_POLLS:-100} uploaders=${BENCH_UPLOADERS:-10} seconds=${BENCH_SECONDS:-10}
	timeout=${BENCH_POLL_TIMEOUT:-5} quota=${BENCH_QUOTA:-100M}
else
	polls=${BENCH_POLLS:-500} uploaders=${BENCH_UPLOADERS:-50} seconds=${BENCH_SECONDS:-30}
	timeout=${BENCH_POLL_TIMEOUT:-25} quota=${BENCH_QUOTA:-1G}
fi
work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/dsync-relay-load.XXXXXX")
relay_pid=
cleanup() {
	[ -n "$relay_pid" ] && kill "$relay_pid" 2> /dev/null && wait "$relay_pid" 2> /dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# the files exist before the loop below reads them: the backgrounded shell
# opens its redirections only when it runs, maybe after the first sed
: > "$work/relay.out"
: > "$work/relay.log"
"$DSYNC" relay --listen 127.0.0.1:0 --data "$work/data" --quota "$quota" > "$work/relay.out" 2> "$work/relay.log" &
relay_pid=$!
addr=
for _ in $(seq 1 500); do
	addr=$(sed -n 's/^listening on //p' "$work/relay.out")
	[ -n "$addr" ] && break
	kill -0 "$relay_pid" 2> /dev/null || break
	sleep 0.02
done
[ -n "$addr" ] || { cat "$work/relay.log" >&2; die "the relay did not start"; }
log "relay on $addr (quota $quota): $polls polls, $uploaders uploaders, ${seconds} s"
rc=0
python3 "$here/../tests/tools/relay_load.py" --url "http://$addr/" --group "load-$$" --create \
	--polls "$polls" --uploaders "$uploaders" --seconds "$seconds" --poll-timeout "$timeout" \
	--relay-pid "$relay_pid" || rc=$?
refused=$(grep -c . "$work/relay.log" || true)
echo "relay_log_lines $refused"
kill "$relay_pid"
wait "$relay_pid" || { echo "the relay exited $? on SIGTERM" >&2; rc=1; }
relay_pid=
exit "$rc"
