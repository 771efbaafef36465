#!/bin/bash
# A relay's bucket swept, and reservations refreshed (issue 18;
# docs/relay-protocol.md sections 14.4, 14.5 and 14.8), on the real Ceph RGW
# of s3lib.sh, with the test knobs shortening a reservation's 10 minutes to
# 4 s and the sweep's hour and first delay to seconds: SEQ marks pile up
# while no sweep ran; a relay restarted sweeps once soon after its start: one
# mark per device is left (the highest, which still refuses an older
# manifest) and a killed relay's old reservation goes. Then an upload
# rate-limited to last longer than a reservation counts keeps its
# reservation fresh: another relay on the bucket, sweeping every second,
# refuses a push that only fits without it, and its later sweep leaves one
# mark per device again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/relaylib.sh"
. "$(dirname "$0")/s3lib.sh"
export DSYNC_TEST_KDF=min
export DSYNC_PASSPHRASE="copper lantern meadow violet harbor thistle"
export DSYNC_TEST_RELAY_RESERVE_KEEP=4
GROUP=t78-sweep

s3_start
BUCKET=sweep
URL=$(s3_url "$BUCKET" r)

# s3relay N SWEEP FIRST [PORT]: relay N on the bucket, sweeping every SWEEP
# s, the first FIRST s after its start; sets R<N>_URL, R<N>_PORT, R<N>_PID
s3relay() { DSYNC_TEST_RELAY_SWEEP=$2 DSYNC_TEST_RELAY_SWEEP_FIRST=$3 s3_relay "$1" "$URL" 2M "${4:-0}"; }

# until_true SECONDS CMD...: CMD until it succeeds, at most SECONDS
until_true() {
	local end=$(($(date +%s) + $1)); shift
	until "$@"; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.2
	done
}

ok "relay 1 starts on the bucket, no sweep for an hour" s3relay 1 3600 3600
mkdir -p "$TMP/A"
echo "first $RANDOM" > "$TMP/A/notes.txt"
ok "A makes the group through relay 1" as A init "$TMP/A" --relay "$R1_URL" --group "$GROUP" --device-name alpha
GID=$(relay_gid "$GROUP")
DEV_A=$(basename "$(relay_creds A)")
# a killed relay's reservation, older than 4 s by the time the sweep comes
KILLED="r/g/$GID/r/eeeeeeeeeeeeeeee-0000000000000001-1000"
ok "a killed relay's reservation is in the bucket" "${S3CURL[@]}" -f -X PUT --data-binary "" "$S3_ENDPOINT/$BUCKET/$KILLED"
for i in 1 2 3; do
	echo "edit $i $RANDOM" > "$TMP/A/notes.txt"
	ok03 "A syncs edit $i through relay 1" on A sync
done
marks() { s3_keys "$BUCKET" "r/g/$GID/s/$DEV_A/" | sed 's|.*/||'; }
check "with no sweep, A's SEQ marks pile up (one per manifest)" "$(marks | wc -l)" -ge 3
HIGH=$(marks | tail -1)

sleep 2
kill -TERM "$R1_PID"; wait "$R1_PID" 2> /dev/null
ok "relay 1 starts again: its first sweep 1 s after, the next in an hour" s3relay 1 3600 1 "$R1_PORT"
one_mark() { [ "$(marks)" = "$HIGH" ]; }
killed_gone() { ! s3_keys "$BUCKET" "r/g/$GID/r/" | grep -q eeeeeeeeeeeeeeee; }
check "the sweep after the restart leaves A's highest SEQ mark alone" "$(until_true 10 one_mark && echo yes)" = yes
check "... and deletes the killed relay's old reservation" "$(until_true 10 killed_gone && echo yes)" = yes
echo "a replayed old manifest" > "$TMP/old.body"
OLD=$(printf '%016x' $((16#$HIGH - 1)))
"${RELAYHTTP[@]}" req "$R1_URL" PUT "/v1/$GID/devices/$DEV_A/$OLD" --creds "$(relay_creds A)" --body "$TMP/old.body" \
	> "$TMP/reply" 2> "$TMP/reply.err" || echo 000 > "$TMP/reply"
check "the highest mark still refuses an older manifest: 409 seq-not-newer" \
	"$(sed -n 1p "$TMP/reply") $(sed -n 2p "$TMP/reply")" = "409 seq-not-newer"

# an upload longer than a reservation counts (4 s): rate-limited to ~10 s
ok "relay 2 starts on the bucket, sweeping every second" s3relay 2 1 1
ok "B joins through relay 2" as B join --relay "$R2_URL" --group "$GROUP" "$TMP/B" --device-name beta
head -c 1500000 /dev/urandom > "$TMP/A/big.bin"
head -c 800000 /dev/urandom > "$TMP/B/other.bin"
t0=$(date +%s)
(on A sync --limit-rate 150k > "$TMP/slow.out" 2>&1; echo $? > "$TMP/slow.rc") &
SLOW=$!
sleep 7
check "A's upload is still going after 7 s" ! -e "$TMP/slow.rc"
check "... its reservation is in the bucket" \
	"$(s3_keys "$BUCKET" "r/g/$GID/r/" | grep -vc eeeeeeeeeeeeeeee)" -ge 1
# 2M quota: B's 0.8 MB fits alone, not with A's 1.5 MB in flight
fails 1 "B's push through relay 2 is refused (exit 1): A's reservation still counts after 7 s" on B sync
contains "... as over the group's quota" "$TMP/err" "quota"
wait "$SLOW"
check "A's slow push succeeds ($(($(date +%s) - t0)) s)" "$(cat "$TMP/slow.rc")" = 0
check "... and took longer than a reservation counts" $(($(date +%s) - t0)) -gt 5
HIGH=$(marks | tail -1)
check "relay 2's hourly sweep (here every second) leaves one mark of A's again" \
	"$(until_true 10 one_mark && echo yes)" = yes
kill -TERM "$R1_PID" "$R2_PID" 2> /dev/null
wait "$R1_PID" "$R2_PID" 2> /dev/null
finish
