#!/bin/bash
# The relay under load (issue 15, acceptance 7), CI size: bench/relay-load.sh
# --quick: 100 long-polls and 10 uploaders (random 1-4 MiB packs, really
# signed, under devices of their own) for 10 s against the real relay, with
# a quota some uploads hit. Every acknowledged blob reads back with its hash,
# only 507 over-quota refusals, every poll answered within its timeout + 1 s;
# the relay's memory and the poll latency are reported.
. "$(dirname "$0")/lib.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
rc=0
BENCH_DIR=$TMP DSYNC=$DSYNC bash "$DSYNC_SRC/bench/relay-load.sh" --quick > "$TMP/load.out" 2> "$TMP/load.err" || rc=$?
sed 's/^/# /' "$TMP/load.out"
check "the load run passed (exit $rc)" "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/#   /' "$TMP/load.err" | tail -10
contains "every acknowledged blob read back" "$TMP/load.out" "unreadable 0"
contains "no refusal but over-quota" "$TMP/load.out" "write_errors 0"
contains "no poll late" "$TMP/load.out" "poll_late 0"
contains "no poll refused" "$TMP/load.out" "poll_errors 0"
check "the quota was reached (some 507 over-quota)" \
	"$(sed -n 's/^quota_refusals //p' "$TMP/load.out")" -gt 0
contains "the relay's memory reported" "$TMP/load.out" "relay_vmhwm_kb"
finish
