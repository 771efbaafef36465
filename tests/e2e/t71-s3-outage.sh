#!/bin/bash
# The S3 server gone in the middle of a round (issue 18, acceptance 4), on a
# real one (s3lib.sh: Ceph's RADOS Gateway; the mon and the OSD keep the
# data while radosgw is down).
#
# 1. radosgw killed (kill -9, by the pid its start recorded; its command line
#    read first from /proc/PID/cmdline) while A's round sends a pack (a
#    multipart upload open, the upload slowed with --limit-rate): the round
#    fails with exit 1 and one line of error naming the endpoint; B's round
#    while it is down fails alike. Restarted with the same arguments (same
#    port): no new manifest of A's is in the bucket, and B's round and a
#    new device's join see A's old snapshot, whole (nothing half-visible);
#    then A's round succeeds, B gets the new files, and `check --read-data`
#    passes on A and B.
# 2. radosgw stopped (SIGSTOP) while a pack goes up, with the client's
#    stall limit lowered to 3 s (DSYNC_TEST_S3_STALL, a test build's knob):
#    the round ends with exit 1 and one line within a bound instead of
#    hanging; after SIGCONT the next round succeeds and check --read-data
#    passes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/s3lib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min DSYNC_PASSPHRASE="s3 outage pass"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
unset DSYNC_TEST_SLOW DSYNC_TEST_PACK_MAX DSYNC_TEST_S3_PART DSYNC_TEST_S3_STALL DSYNC_NEW_PASSPHRASE
MB=1000000

# a stopped radosgw is let go on the way out, so that it stops at once
trap 's3_rgw_signal CONT 2> /dev/null; _s3_cleanup' EXIT

s3_start
echo "# $S3_BACKEND at $S3_ENDPOINT"
URL=$(s3_url outage docs)

# one_line_error "what" ERRFILE: exactly one line, dsync's error, naming the
# endpoint
one_line_error() {
	local what=$1 f=$2
	check "$what: one line on stderr ($(wc -l < "$f"))" "$(wc -l < "$f")" = 1
	contains "$what: it is dsync's error" "$f" "dsync: error: "
	contains "$what: it names the endpoint" "$f" "127.0.0.1:$S3_PORT"
	sed 's/^/#   stderr: /' "$f" | head -3
}
# wait_for SECONDS CMD...: CMD every 50 ms until it holds; 1 after SECONDS
wait_for() {
	local end=$(($(now_ms) + $1 * 1000))
	shift
	until "$@"; do
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.05
	done
}
upload_open() { [ -n "$(s3_uploads outage docs/packs/)" ]; }
manifests() { s3_keys outage docs/devices/ | LC_ALL=C sort; }

mkdir -p "$TMP/A/notes"
printf 'line %d\n' $(seq 1 200) > "$TMP/A/notes/plan.txt"
head -c $((3 * MB)) /dev/urandom > "$TMP/A/photo.jpg"
ok "A: init" as A init "$TMP/A" --device-name alpha
ok "A: remote add $URL" on A remote add r "$URL"
ok "A: first push" on A push
ok "B: joins" as B join "$URL" "$TMP/B" --device-name beta
OLD=$(files_digest "$TMP/A")

# ---------------------------------------------------- 1. radosgw killed
mkdir -p "$TMP/A/album"
for i in 1 2 3 4 5 6; do head -c $((8 * MB)) /dev/urandom > "$TMP/A/album/p$i.jpg"; done
echo "more" >> "$TMP/A/notes/plan.txt"
manifests > "$TMP/mans.before"
# 8 MB/s: a 32 MiB pack takes 4 s to go up
on A sync --limit-rate 8M > "$TMP/out.cut" 2> "$TMP/err.cut" &
pid=$!
if wait_for 120 upload_open; then
	ok "radosgw killed (-9) while a pack goes up" s3_rgw_kill
	t0=$(now_ms)
else
	fail "a pack's upload was open within 120 s"
fi
rc=0
wait "$pid" || rc=$?
echo "# the round ended $(($(now_ms) - ${t0:-0})) ms after the kill"
check "A's round fails with exit 1 ($rc)" "$rc" = 1
one_line_error "A's round" "$TMP/err.cut"
rc=0
on B sync > "$TMP/out.down" 2> "$TMP/err.down" || rc=$?
check "B's round while the server is down fails with exit 1 ($rc)" "$rc" = 1
one_line_error "B's round while down" "$TMP/err.down"
ok "radosgw restarts with the same arguments (port $S3_PORT)" s3_rgw_restart
check "no new manifest of A's is in the bucket" "$(manifests)" = "$(cat "$TMP/mans.before")"
ok03 "B: a round after the restart" on B sync
check "B sees A's old snapshot, whole" "$(files_digest "$TMP/B")" = "$OLD"
ok "C: joins" as C join "$URL" "$TMP/C" --device-name gamma
check "C gets A's old snapshot, whole" "$(files_digest "$TMP/C")" = "$OLD"
ok03 "A: the next round succeeds" on A sync
ok03 "B: a round gets A's new files" on B sync
check "A and B hold the same files" "$(files_digest "$TMP/B")" = "$(files_digest "$TMP/A")"
check "... the new ones with them" -f "$TMP/B/album/p6.jpg"
ok "A: check --read-data" on A check --read-data
ok "B: check --read-data" on B check --read-data

# ---------------------------------------------------- 2. radosgw stalled
for i in 1 2 3 4; do head -c $((8 * MB)) /dev/urandom > "$TMP/A/album/q$i.jpg"; done
manifests > "$TMP/mans.before"
(export DSYNC_TEST_S3_STALL=3; on A sync --limit-rate 8M) > "$TMP/out.stall" 2> "$TMP/err.stall" &
pid=$!
t0=$(now_ms)
if wait_for 120 upload_open; then
	ok "radosgw stopped (SIGSTOP) while a pack goes up" s3_rgw_signal STOP
	t0=$(now_ms)
else
	fail "a pack's upload was open within 120 s"
fi
# the round must end by itself: a stalled transfer is cut after 3 s and
# tried once more (s3_client.h), well before the 60 s limit of a real build
for _ in $(seq 1200); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
took=$(($(now_ms) - t0))
if kill -0 "$pid" 2> /dev/null; then
	fail "A's round against a stalled server ends within 120 s"
	s3_rgw_signal CONT
fi
rc=0
wait "$pid" || rc=$?
check "A's round against a stalled server fails with exit 1 ($rc)" "$rc" = 1
check "... within 30 s, the stall limit lowered to 3 s ($took ms)" "$took" -lt 30000
one_line_error "the stalled round" "$TMP/err.stall"
ok "radosgw goes on (SIGCONT)" s3_rgw_signal CONT
check "no new manifest of A's is in the bucket" "$(manifests)" = "$(cat "$TMP/mans.before")"
ok03 "A: the next round succeeds" on A sync
ok03 "B: a round gets the files" on B sync
check "A and B hold the same files" "$(files_digest "$TMP/B")" = "$(files_digest "$TMP/A")"
ok "A: check --read-data" on A check --read-data
ok "B: check --read-data" on B check --read-data
finish
