#!/bin/bash
# Two relays on one bucket (issue 18, acceptance 3; docs/relay-protocol.md
# section 14), on the real Ceph RGW of s3lib.sh: `dsync relay --s3` twice on
# one s3+http:// URL; a group made through relay 1 is joined through relay 2,
# devices talking to different relays converge both ways; a daemon
# long-polling relay 2 gets each save pushed through relay 1 within 3 s; a
# stale manifest SEQ sent to relay 2 after relay 1 took a newer one is
# refused; the bucket holds the relay's layout and no plaintext; relay 2
# killed and started again on the same bucket serves the group at once; the
# S3 server killed: 503 from the relay, a failed round, then after its
# restart the rounds succeed and check --read-data passes. The quota (50M)
# counts another relay's reservation found in the bucket.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/relaylib.sh"
. "$(dirname "$0")/watchlib.sh"
. "$(dirname "$0")/s3lib.sh"
export DSYNC_TEST_KDF=min
export DSYNC_PASSPHRASE="copper lantern meadow violet harbor thistle"
GROUP=t72-two-relays
MARK="t72 plaintext marker $RANDOM$RANDOM"

s3_start
BUCKET=relays
URL=$(s3_url "$BUCKET" shared)

# s3relay N [PORT]: relay N on the bucket (PORT: 0, a free one); sets
# R<N>_URL, R<N>_PORT and R<N>_PID
s3relay() { s3_relay "$1" "$URL" 50M "${2:-0}"; }

# arrives FILE TEXT SECONDS: until FILE holds TEXT; prints the seconds it took
arrives() {
	local t0 now
	t0=$(date +%s%N)
	while [ "$(cat "$1" 2> /dev/null)" != "$2" ]; do
		now=$(date +%s%N)
		[ $(((now - t0) / 1000000)) -ge $(($3 * 1000)) ] && return 1
		sleep 0.02
	done
	now=$(date +%s%N)
	printf '%d.%03d\n' $(((now - t0) / 1000000000)) $((((now - t0) / 1000000) % 1000))
}

ok "relay 1 starts on the bucket (made when missing)" s3relay 1
ok "relay 2 starts on the same bucket" s3relay 2
fails 2 "--data and --s3 together are refused (exit 2)" dsync relay --listen 127.0.0.1:0 --data "$TMP/d" --s3 "$URL"

mkdir -p "$TMP/A"
echo "$MARK" > "$TMP/A/notes.txt"
head -c 300000 /dev/urandom > "$TMP/A/photo.bin"
ok "A makes the group through relay 1" as A init "$TMP/A" --relay "$R1_URL" --group "$GROUP" --device-name alpha
ok "B joins through relay 2" as B join --relay "$R2_URL" --group "$GROUP" "$TMP/B" --device-name beta
check "B has A's files" "$(files_digest "$TMP/B")" = "$(files_digest "$TMP/A")"

echo "from alpha $RANDOM" > "$TMP/A/a.txt"
ok03 "A syncs through relay 1" on A sync
ok03 "B syncs through relay 2" on B sync
check "A's new file is on B" "$(cat "$TMP/B/a.txt" 2> /dev/null)" = "$(cat "$TMP/A/a.txt")"
echo "from beta $RANDOM" > "$TMP/B/b.txt"
ok03 "B syncs through relay 2" on B sync
ok03 "A syncs through relay 1" on A sync
check "the two devices converged" "$(files_digest "$TMP/A")" = "$(files_digest "$TMP/B")"
check "... on one head" "$(head_id "$TMP/A")" = "$(head_id "$TMP/B")"

# the bucket: the relay's marker, the group's record, both devices, SEQ
# marks, blobs with their trailer; nothing in plaintext
s3_keys "$BUCKET" shared/ > "$TMP/keys"
GID=$(relay_gid "$GROUP")
contains "the bucket holds the relay's marker" "$TMP/keys" "shared/relay"
contains "... the group's record" "$TMP/keys" "shared/g/$GID/group"
check "... both devices' records" "$(grep -c "^shared/g/$GID/d/" "$TMP/keys")" = 2
check "... SEQ marks" "$(grep -c "^shared/g/$GID/s/" "$TMP/keys")" -ge 2
check "... the store's blobs" "$(grep -c "^shared/g/$GID/b/packs/" "$TMP/keys")" -ge 1
ok "the bucket downloads" s3_download "$BUCKET" "$TMP/bucket"
echo "$MARK" > "$TMP/needles"
no_plaintext "the bucket holds no plaintext (raw and inflated)" "$TMP/bucket" "$TMP/needles"

# the quota counts other relays' uploads: a reservation of another relay's
# (as one in flight would leave, 60 MB against the group's 50M) makes relay 1
# refuse A's next push; gone, the push goes through
RES="shared/g/$GID/r/ffffffffffffffff-0000000000000001-60000000"
ok "another relay's reservation is in the bucket" "${S3CURL[@]}" -f -X PUT --data-binary "" "$S3_ENDPOINT/$BUCKET/$RES"
echo "over the quota with the other relay's upload $RANDOM" > "$TMP/A/quota.txt"
fails 1 "A's push through relay 1 is refused (exit 1)" on A sync
contains "... as over the group's quota" "$TMP/err" "quota"
ok "the other relay's reservation goes" "${S3CURL[@]}" -f -X DELETE "$S3_ENDPOINT/$BUCKET/$RES"
ok03 "then A's push through relay 1 goes through" on A sync
check "... and its finished uploads' reservations stay for the other relays (10 min)" \
	"$(s3_keys "$BUCKET" "shared/g/$GID/r/" | grep -vc '/ffffffffffffffff-')" -ge 1

# a manifest SEQ older than one relay 1 accepted, sent to relay 2: refused
DEV_A=$(basename "$(relay_creds A)")
LAST=$(ls "$TMP/bucket/shared/g/$GID/b/devices/$DEV_A" | sort | tail -1)
check "A's manifests are in the bucket" -n "$LAST"
echo "a replayed old manifest" > "$TMP/old.body"
OLD=$(printf '%016d' $((10#$LAST - 1)))
"${RELAYHTTP[@]}" req "$R2_URL" PUT "/v1/$GID/devices/$DEV_A/$OLD" --creds "$(relay_creds A)" --body "$TMP/old.body" \
	> "$TMP/reply" 2> "$TMP/reply.err" || echo 000 > "$TMP/reply"
check "an older SEQ of A's through relay 2, after relay 1 took a newer one: 409 seq-not-newer" \
	"$(sed -n 1p "$TMP/reply") $(sed -n 2p "$TMP/reply")" = "409 seq-not-newer"

# the long-poll across relays: B's daemon waits on relay 2; A pushes through relay 1
unset DSYNC_PASSPHRASE
HOME="$TMP/home-B" start_watch "$TMP/dB.log" daemon --verbose
PB=$WPID
check "B's daemon waits on relay 2" "$(wait_text "$TMP/dB.log" "waiting on 'origin' for changes" 20 && echo yes)" = yes
sleep 1.5
for i in 1 2 3; do
	text="save $i on alpha: $RANDOM$RANDOM"
	echo "$text" > "$TMP/A/save-$i.txt"
	t0=$(now_ms)
	ok03 "A pushes save $i through relay 1" on A sync
	t1=$(now_ms)
	# 3 s from the save, the push included
	if took=$(arrives "$TMP/B/save-$i.txt" "$text" 3) && t2=$(now_ms) && [ $((t2 - t0)) -le 3000 ]; then
		pass "save $i on A (relay 1) is on B (polling relay 2) within 3 s: $((t2 - t0)) ms, of which A's push $((t1 - t0)) ms"
	else
		fail "save $i on A (relay 1) is on B (polling relay 2) within 3 s ($(( $(now_ms) - t0 )) ms)"
		show_log "$TMP/dB.log"
	fi
	sleep 1
done

# relay 2 dies and comes back on the same port and bucket: nothing of its own was needed
kill -9 "$R2_PID"; wait "$R2_PID" 2> /dev/null
for i in $(seq 1 25); do s3relay 2 "$R2_PORT" 2> /dev/null && break; sleep 0.2; done
check "relay 2 starts again on the same bucket" -n "$(kill -0 "$R2_PID" 2> /dev/null && echo up)"
text="after relay 2's restart $RANDOM"
echo "$text" > "$TMP/A/after.txt"
ok03 "A pushes through relay 1" on A sync
took=$(arrives "$TMP/B/after.txt" "$text" 20)
check "after relay 2's restart a save through relay 1 is on B ($took s)" -n "$took"

WPID=$PB; stop_watch TERM
check "B's daemon stopped cleanly" "$WRC" = 0
check "no errors in B's log" "$(grep -c ' error ' "$TMP/dB.log")" = 0
export DSYNC_PASSPHRASE="copper lantern meadow violet harbor thistle"

# the bucket goes away (radosgw killed; the mon and OSD keep the data):
# relay 1 answers 503 storage, A's round fails with one line and exit 1
# (not a wrong passphrase); radosgw back on the same port, the next rounds
# succeed and nothing was left half-visible
RGW_PID=$(awk '$1 == "client.rgw.local" {print $2}' "$S3_DIR/pids" | tail -1)
mapfile -d '' RGW_CMD < "/proc/$RGW_PID/cmdline"
kill -9 "$RGW_PID"
for i in $(seq 1 50); do kill -0 "$RGW_PID" 2> /dev/null || break; sleep 0.1; done
sleep 2.5   # past the relays' 2 s cache of the group record
echo "during the outage $RANDOM" > "$TMP/A/outage.txt"
fails 1 "A's round while the bucket is away fails (exit 1)" on A sync
check "... with one line naming the relay" "$(grep -c . "$TMP/err") $(grep -c "relay" "$TMP/err")" = "1 1"
contains "relay 1 answered 503 storage" "$TMP/relay-s3.1.log" "503 storage"
(cd "$S3_DIR" && exec "${RGW_CMD[@]}" >> "$S3_DIR/log/rgw-again.out" 2>&1 < /dev/null) &
echo "client.rgw.local $!" >> "$S3_DIR/pids"   # so that s3_stop stops it too
for i in $(seq 1 100); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' --noproxy 127.0.0.1 "$S3_ENDPOINT/")" = 200 ] && break
	sleep 0.1
done
ok03 "B's round after radosgw's restart succeeds" on B sync
ok03 "A's round after radosgw's restart succeeds" on A sync
ok03 "B syncs" on B sync
check "the same files on both" "$(files_digest "$TMP/A")" = "$(files_digest "$TMP/B")"
ok "check --read-data passes on B through relay 2" on B check --read-data
kill -TERM "$R1_PID" "$R2_PID" 2> /dev/null
wait "$R1_PID" "$R2_PID" 2> /dev/null
finish
