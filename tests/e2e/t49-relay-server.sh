#!/bin/bash
# `dsync relay` over HTTP with curl (docs/relay-protocol.md sections 3 to 8):
# the relay started on 127.0.0.1:0 (its port read from "listening on"),
# then every endpoint and its status codes: the root, group creation and
# rotation, device registration, blob PUT/GET/HEAD/DELETE with Range and the
# writer rules, replays, clock skew, resumable uploads, listing, usage and
# quota (a 3 MB curl -T to a full group is refused before its body: curl
# sends 0 bytes), the long-poll (answered by a PUT within ~100 ms, the
# heartbeat after its timeout, an old epoch at once), the limits (414, 431,
# 411, 413, 405, bad names sent raw), the same 403 for a wrong token and an
# unknown group (250 ms late), 429 after repeated failures, TLS and IPv6,
# SIGTERM answering a waiting poll, and the relay's RSS. Signed requests
# are made by tests/tools/relay-req (the library's own signing code).
. "$(dirname "$0")/lib.sh"
export DSYNC_TEST_KDF=min
RQ=${RELAY_REQ:-$DSYNC_SRC/build/tests/relay-req}

# relay_start NAME ARGS...: starts a relay, sets PORT and RPID
relay_start() {
	local name=$1 i; shift
	"$DSYNC" relay "$@" > "$TMP/$name.out" 2> "$TMP/$name.log" &
	RPID=$!
	STARTED_PIDS+=("$RPID")
	for i in $(seq 100); do
		grep -q '^listening on ' "$TMP/$name.out" 2>/dev/null && break
		sleep 0.05
	done
	PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$TMP/$name.out")
}

# req WANT "what" CURL-ARGS...: one request; its status must be WANT.
# Headers in $TMP/h, body in $TMP/b.
req() {
	local want=$1 what=$2 got; shift 2
	got=$(curl -s -o "$TMP/b" -D "$TMP/h" -w '%{http_code}' "$@") || true
	if [ "$got" = "$want" ]; then
		pass "$what ($want)"
	else
		fail "$what: $got, wanted $want"
		sed 's/^/#   /' "$TMP/b" | head -5
	fi
}

# sig SK DEV METHOD PATH [FILE] [--time T]: the signature headers as curl -H arguments in SIG
sig() {
	local sk=$1 dev=$2 m=$3 p=$4 line; shift 4
	SIG=()
	while IFS= read -r line; do SIG+=(-H "$line"); done < <("$RQ" sign "$sk" "$dev" "$GID" "$m" "$p" "$@")
}

hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
val() { sed -n "s/^$1 //p" "$2"; }
header() { tr -d '\r' < "$TMP/h" | sed -n "s/^$1: //Ip"; }

relay_start relay --listen 127.0.0.1:0 --data "$TMP/d" --quota 2M --trust-proxy
RELAY=$RPID
check "the relay prints its port" -n "$PORT"
U=http://127.0.0.1:$PORT
XFF=(-H "X-Forwarded-For: 10.0.0.1")   # the 403s below count against other addresses

req 200 "GET /v1/" "$U/v1/"
contains "the root says what it is" "$TMP/b" "dsync-relay 1"
contains "no-store" "$TMP/h" "Cache-Control: no-store"
req 405 "POST /v1/" -X POST "$U/v1/"

# ---- a group
DSYNC_PASSPHRASE="correct horse battery staple" "$RQ" derive t49-family > "$TMP/g"
DSYNC_PASSPHRASE="wrong horse" "$RQ" derive t49-family > "$TMP/g2"
GID=$(val gid "$TMP/g"); TOKEN=$(val token "$TMP/g"); ADMIT=$(val admit "$TMP/g")
AUTH=(-H "Authorization: Dsync-Token $TOKEN")
G=$U/v1/$GID
printf 'token-hash %s\nadmit-hash %s\n' "$(val th "$TMP/g")" "$(val ah "$TMP/g")" > "$TMP/group"
printf 'token-hash %s\nadmit-hash %s\n' "$(val th "$TMP/g2")" "$(val ah "$TMP/g2")" > "$TMP/group2"

req 201 "PUT .group creates" -X PUT "${AUTH[@]}" -H "Dsync-Admission: $ADMIT" --data-binary @"$TMP/group" "$G/.group"
check "a 2xx carries Dsync-Change" -n "$(header Dsync-Change)"
req 200 "PUT .group again" -X PUT "${AUTH[@]}" -H "Dsync-Admission: $ADMIT" --data-binary @"$TMP/group" "$G/.group"
req 400 "PUT .group whose hashes are not of the token" -X PUT "${AUTH[@]}" -H "Dsync-Admission: $ADMIT" \
	--data-binary @"$TMP/group2" "$G/.group"
req 403 "PUT .group of a taken name" -X PUT -H "Authorization: Dsync-Token $(val token "$TMP/g2")" "${XFF[@]}" \
	-H "Dsync-Admission: $(val admit "$TMP/g2")" --data-binary @"$TMP/group2" "$G/.group"
req 411 "PUT .group without a length" -X PUT "${AUTH[@]}" -H "Dsync-Admission: $ADMIT" \
	-H "Transfer-Encoding: chunked" --data-binary @"$TMP/group" "$G/.group"
req 200 "GET .group" "${AUTH[@]}" "$G/.group"
contains ".group's body" "$TMP/b" "group 1"

# ---- the same 403 for a wrong token and a group that doesn't exist, 250 ms late
t0=$(now_ms)
curl -si "${XFF[@]}" -H "Authorization: Dsync-Token $(val token "$TMP/g2")" "$G/.usage" | grep -v '^Date:' > "$TMP/wrong"
t1=$(now_ms)
curl -si "${XFF[@]}" -H "Authorization: Dsync-Token $TOKEN" "$U/v1/$(hex 16)/.usage" | grep -v '^Date:' > "$TMP/unknown"
contains "a wrong token is 403 forbidden" "$TMP/wrong" "error forbidden"
check "a wrong token and an unknown group get the same bytes" "$(cat "$TMP/wrong")" = "$(cat "$TMP/unknown")"
check "a 403 is delayed 250 ms ($((t1 - t0)) ms)" $((t1 - t0)) -ge 240
req 403 "no token" -H "X-Forwarded-For: 10.0.0.2" "$G/.usage"
req 403 "a malformed token" -H "X-Forwarded-For: 10.0.0.2" -H "Authorization: Dsync-Token xyz" "$G/.usage"

# ---- devices
read -r _ SKA < <("$RQ" keygen | sed -n 's/^sk //p' | sed 's/^/x /')
read -r _ SKB < <("$RQ" keygen | sed -n 's/^sk //p' | sed 's/^/x /')
DEVA=$(hex 16); DEVB=$(hex 16)
"$RQ" register "$SKA" "$GID" "$DEVA" > "$TMP/rega"
"$RQ" register "$SKB" "$GID" "$DEVB" > "$TMP/regb"
"$RQ" register "$SKB" "$GID" "$DEVA" > "$TMP/regba"
ADM=(-H "Dsync-Admission: $ADMIT")
req 201 "PUT .device registers A" -X PUT "${AUTH[@]}" "${ADM[@]}" --data-binary @"$TMP/rega" "$G/.device/$DEVA"
req 200 "PUT .device again" -X PUT "${AUTH[@]}" "${ADM[@]}" --data-binary @"$TMP/rega" "$G/.device/$DEVA"
req 409 "another key for A's id" -X PUT "${AUTH[@]}" "${ADM[@]}" --data-binary @"$TMP/regba" "$G/.device/$DEVA"
contains "device-exists" "$TMP/b" "error device-exists"
req 403 "a wrong admission" -X PUT "${AUTH[@]}" -H "Dsync-Admission: $(val admit "$TMP/g2")" \
	--data-binary @"$TMP/regb" "$G/.device/$DEVB"
contains "bad-admission" "$TMP/b" "error bad-admission"
req 400 "a proof for another id" -X PUT "${AUTH[@]}" "${ADM[@]}" --data-binary @"$TMP/regba" "$G/.device/$DEVB"
req 201 "PUT .device registers B" -X PUT "${AUTH[@]}" "${ADM[@]}" --data-binary @"$TMP/regb" "$G/.device/$DEVB"
req 200 "GET .device" "${AUTH[@]}" "$G/.device/$DEVA"
contains "its key" "$TMP/b" "$(val key "$TMP/rega")"
req 404 "GET .device of nobody" "${AUTH[@]}" "$G/.device/$(hex 16)"

# ---- blobs
head -c 1000 /dev/urandom > "$TMP/store"
P=/v1/$GID/dsync-store
sig "$SKA" "$DEVA" PUT "$P" "$TMP/store"
req 201 "PUT dsync-store" -T "$TMP/store" "${AUTH[@]}" "${SIG[@]}" "$G/dsync-store"
contains "Dsync-Usage on a PUT" "$TMP/h" "Dsync-Usage: "
req 403 "the same signed PUT replayed" -T "$TMP/store" "${AUTH[@]}" "${SIG[@]}" "$G/dsync-store"
contains "replayed" "$TMP/b" "error replayed"
sig "$SKA" "$DEVA" PUT "$P" "$TMP/store"
req 409 "dsync-store is written once" -T "$TMP/store" "${AUTH[@]}" "${SIG[@]}" "$G/dsync-store"
sig "$SKA" "$DEVA" PUT "$P" "$TMP/store" --time $(( $(date +%s) - 1000 ))
req 403 "a signature 1000 s old" -T "$TMP/store" "${AUTH[@]}" "${SIG[@]}" "$G/dsync-store"
contains "clock-skew" "$TMP/b" "error clock-skew"
req 200 "GET dsync-store" "${AUTH[@]}" "$G/dsync-store"
check "the blob reads back" "$(sha "$TMP/b")" = "$(sha "$TMP/store")"
contains "its ETag" "$TMP/h" "ETag: \""
req 206 "GET with Range" "${AUTH[@]}" -H "Range: bytes=100-" "$G/dsync-store"
check "from byte 100" "$(sha "$TMP/b")" = "$(tail -c 900 "$TMP/store" | sha256sum | cut -c1-64)"
contains "Content-Range" "$TMP/h" "Content-Range: bytes 100-999/1000"
req 200 "HEAD" -I "${AUTH[@]}" "$G/dsync-store"
contains "HEAD's length" "$TMP/h" "Content-Length: 1000"
contains "Last-Modified" "$TMP/h" "Last-Modified: "
req 404 "GET a blob that isn't there" "${AUTH[@]}" "$G/keys/0123456789abcdef"
sig "$SKA" "$DEVA" DELETE "$P"
req 405 "DELETE dsync-store" -X DELETE "${AUTH[@]}" "${SIG[@]}" "$G/dsync-store"
req 403 "an unsigned PUT" -T "$TMP/store" "${AUTH[@]}" -H "Dsync-Body-Hash: $(hex 32)" "$G/keys/0123456789abcdef"
head -c 1000 /dev/urandom > "$TMP/other"
sig "$SKA" "$DEVA" PUT /v1/$GID/keys/0123456789abcdef "$TMP/store"
req 400 "a body that isn't its hash" -T "$TMP/other" "${AUTH[@]}" "${SIG[@]}" "$G/keys/0123456789abcdef"
contains "hash-mismatch" "$TMP/b" "error hash-mismatch"
req 404 "nothing was stored" "${AUTH[@]}" "$G/keys/0123456789abcdef"

# packs: only their writer deletes them
PACK=packs/$(hex 32)
sig "$SKA" "$DEVA" PUT "/v1/$GID/$PACK" "$TMP/store"
req 201 "PUT a pack" -T "$TMP/store" "${AUTH[@]}" "${SIG[@]}" "$G/$PACK"
sig "$SKB" "$DEVB" DELETE "/v1/$GID/$PACK"
req 409 "B deletes A's pack" -X DELETE "${AUTH[@]}" "${SIG[@]}" "$G/$PACK"
contains "not-writer" "$TMP/b" "error not-writer"
sig "$SKA" "$DEVA" DELETE "/v1/$GID/$PACK"
req 204 "A deletes its pack" -X DELETE "${AUTH[@]}" "${SIG[@]}" "$G/$PACK"
sig "$SKA" "$DEVA" DELETE "/v1/$GID/$PACK"
req 204 "a delete of nothing" -X DELETE "${AUTH[@]}" "${SIG[@]}" "$G/$PACK"

# manifests: only their device, SEQ only up
M1=devices/$DEVA/0000000000000001
printf 'manifest 1\n' > "$TMP/m1"
sig "$SKB" "$DEVB" PUT "/v1/$GID/$M1" "$TMP/m1"
req 409 "B writes A's manifest" -T "$TMP/m1" "${AUTH[@]}" "${SIG[@]}" "$G/$M1"
req 200 ".list devices/" "${AUTH[@]}" "$G/.list?prefix=devices/"
C0=$(header Dsync-Change)
sig "$SKA" "$DEVA" PUT "/v1/$GID/$M1" "$TMP/m1"
req 201 "A writes its manifest" -T "$TMP/m1" "${AUTH[@]}" "${SIG[@]}" "$G/$M1"
C1=$(header Dsync-Change)
check "the counter moved ($C0 -> $C1)" "$C0" != "$C1"
sig "$SKA" "$DEVA" PUT "/v1/$GID/$M1" "$TMP/m1"
req 409 "the same SEQ again" -T "$TMP/m1" "${AUTH[@]}" "${SIG[@]}" "$G/$M1"
contains "seq-not-newer" "$TMP/b" "error seq-not-newer"

# ---- listing
req 200 ".list" "${AUTH[@]}" "$G/.list"
contains "lists the manifest" "$TMP/b" "$M1 11 "
contains "lists dsync-store" "$TMP/b" "dsync-store 1000 "
req 200 ".list?limit=1" "${AUTH[@]}" "$G/.list?limit=1"
contains "a page says what comes next" "$TMP/b" "next "
req 400 ".list?limit=0" "${AUTH[@]}" "$G/.list?limit=0"
req 400 "a query value with %" "${AUTH[@]}" "$G/.list?prefix=devices%2F"
req 405 "POST .list" -X POST "${AUTH[@]}" -d x "$G/.list"
contains "Allow" "$TMP/h" "Allow: GET"

# ---- usage
req 200 ".usage" "${AUTH[@]}" "$G/.usage"
contains "quota from --quota" "$TMP/b" "quota 2097152"
contains "used" "$TMP/b" "used "
contains "Dsync-Usage" "$TMP/h" "Dsync-Usage: "

# ---- resumable upload in two parts
head -c 300000 /dev/urandom > "$TMP/big"
head -c 100000 "$TMP/big" > "$TMP/part1"
tail -c 200000 "$TMP/big" > "$TMP/part2"
UP=$(hex 16)
BIGP=packs/$(hex 32)
req 404 "HEAD .upload of nothing" -I "${AUTH[@]}" "$G/.upload/$UP"
sig "$SKA" "$DEVA" PUT "/v1/$GID/$BIGP" "$TMP/big"
req 202 "a first part" -X PUT --data-binary @"$TMP/part1" "${AUTH[@]}" "${SIG[@]}" -H "Dsync-Upload: $UP" \
	-H "Content-Range: bytes 0-99999/300000" "$G/$BIGP"
req 200 "HEAD .upload" -I "${AUTH[@]}" "$G/.upload/$UP"
contains "the bytes held" "$TMP/h" "Dsync-Offset: 100000"
sig "$SKA" "$DEVA" PUT "/v1/$GID/$BIGP" "$TMP/big"
req 409 "a part at the wrong offset" -X PUT --data-binary @"$TMP/part2" "${AUTH[@]}" "${SIG[@]}" \
	-H "Dsync-Upload: $UP" -H "Content-Range: bytes 50000-249999/300000" "$G/$BIGP"
sig "$SKA" "$DEVA" PUT "/v1/$GID/$BIGP" "$TMP/big"
req 201 "the last part" -X PUT --data-binary @"$TMP/part2" "${AUTH[@]}" "${SIG[@]}" -H "Dsync-Upload: $UP" \
	-H "Content-Range: bytes 100000-299999/300000" "$G/$BIGP"
req 200 "the resumed blob" "${AUTH[@]}" "$G/$BIGP"
check "reads back whole" "$(sha "$TMP/b")" = "$(sha "$TMP/big")"

# ---- quota: refused before the body is sent
head -c 3000000 /dev/urandom > "$TMP/3m"
sig "$SKA" "$DEVA" PUT "/v1/$GID/packs/$(printf 'a%.0s' $(seq 64))" "$TMP/3m"
sent=$(curl -s -o "$TMP/b" -w '%{http_code} %{size_upload}' -T "$TMP/3m" "${AUTH[@]}" "${SIG[@]}" \
	"$G/packs/$(printf 'a%.0s' $(seq 64))")
check "3 MB over a 2 MiB quota: 507, 0 bytes sent ($sent)" "$sent" = "507 0"
contains "over-quota" "$TMP/b" "error over-quota"
sent=$(curl -s -o "$TMP/b" -w '%{http_code} %{size_upload}' -T "$TMP/3m" -H "X-Forwarded-For: 10.0.0.3" \
	-H "Authorization: Dsync-Token $(val token "$TMP/g2")" "$G/packs/$(printf 'a%.0s' $(seq 64))")
check "a wrong token's 3 MB upload: 403 after the delay, 0 bytes sent ($sent)" "$sent" = "403 0"

# ---- the long-poll
req 200 "a poll with an old epoch answers at once" "${AUTH[@]}" "$G/.poll?since=0000000000000000.0&timeout=5"
contains "changed 1" "$TMP/b" "changed 1"
contains "the writer of the last change" "$TMP/b" "writer $DEVA"
NOW=$(val change "$TMP/b")
t0=$(now_ms)
req 200 "the heartbeat after a 1 s timeout" "${AUTH[@]}" "$G/.poll?since=$NOW&timeout=1"
t1=$(now_ms)
contains "changed 0" "$TMP/b" "changed 0"
check "after about 1 s ($((t1 - t0)) ms)" $((t1 - t0)) -ge 900 -a $((t1 - t0)) -lt 1600
(curl -s "${AUTH[@]}" "$G/.poll?since=$NOW&timeout=20" > "$TMP/poll"; now_ms > "$TMP/poll.t") &
POLL_PID=$!   # sig's process substitution below resets $!
sleep 0.5
M2=devices/$DEVA/0000000000000002
sig "$SKA" "$DEVA" PUT "/v1/$GID/$M2" "$TMP/m1"
req 201 "a manifest PUT while a poll waits" -T "$TMP/m1" "${AUTH[@]}" "${SIG[@]}" "$G/$M2"
t_put=$(now_ms)
wait "$POLL_PID"
contains "the poll says changed" "$TMP/poll" "changed 1"
lat=$(( $(cat "$TMP/poll.t") - t_put ))
check "the poll answered within ~100 ms of the PUT ($lat ms)" "$lat" -lt 150
req 400 "a timeout over 55" "${AUTH[@]}" "$G/.poll?since=$NOW&timeout=56"

# ---- limits and names
req 414 "a 2 KiB URL" "${AUTH[@]}" "$G/.list?prefix=$(printf 'a%.0s' $(seq 2048))"
req 431 "a 9 KiB header" "${AUTH[@]}" -H "X-Big: $(printf 'a%.0s' $(seq 9216))" "$G/.usage"
truncate -s 300M "$TMP/sparse"
BIGP=packs/$(hex 32)
sig "$SKA" "$DEVA" PUT "/v1/$GID/$BIGP" "$TMP/sparse"
sent=$(curl -s -o "$TMP/b" -w '%{http_code} %{size_upload}' -T "$TMP/sparse" "${AUTH[@]}" "${SIG[@]}" "$G/$BIGP")
check "300 MB over --max-blob: 413, 0 bytes sent ($sent)" "$sent" = "413 0"
req 411 "a chunked PUT" -X PUT "${AUTH[@]}" -H "Transfer-Encoding: chunked" --data-binary @"$TMP/m1" "$G/$M2"
for bad in "$GID/..%2f..%2fetc/passwd" "$GID/%2e%2e/x" "$GID//etc/passwd" "$GID/packs/../../x" "../../etc/passwd" \
	   "$GID/keys/XYZ" "${GID^^}/dsync-store"; do
	req 400 "bad name /v1/$bad" --path-as-is "${AUTH[@]}" "$U/v1/$bad"
done
req 400 "a malformed Dsync-Body-Hash" -X PUT "${AUTH[@]}" -H "Dsync-Body-Hash: zz" --data-binary @"$TMP/m1" \
	"$G/$M2"

# ---- TLS and IPv6
openssl req -x509 -newkey ed25519 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
relay_start tls --listen 127.0.0.1:0 --data "$TMP/d2" --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
req 200 "GET /v1/ over TLS" --cacert "$TMP/cert.pem" "https://127.0.0.1:$PORT/v1/"
kill "$RPID"
fails 2 "--tls-cert without --tls-key" "$DSYNC" relay --listen 127.0.0.1:0 --data "$TMP/d3" --tls-cert "$TMP/cert.pem"
if [ -e /proc/net/if_inet6 ] && relay_start v6 --listen '[::1]:0' --data "$TMP/d4" && [ -n "$PORT" ]; then
	req 200 "GET /v1/ over IPv6" "http://[::1]:$PORT/v1/"
	contains "IPv6 is printed in brackets" "$TMP/v6.out" "listening on [::1]:"
	kill "$RPID"
fi

# ---- repeated failures: 429 with Retry-After (from one address); the
# same wrong token sent again (a device whose passphrase changed elsewhere)
# is not a new guess and doesn't count
for i in 1 2 3 4 5 6 7; do
	curl -s -o /dev/null -H "X-Forwarded-For: 10.9.9.9" -H "Authorization: Dsync-Token $(printf '%064d' 7)" "$G/.usage"
done
req 403 "the same stale token 7 times: still 403, not 429" -H "X-Forwarded-For: 10.9.9.9" \
	-H "Authorization: Dsync-Token $(printf '%064d' 7)" "$G/.usage"
for i in 1 2 3 4; do
	curl -s -o /dev/null -H "X-Forwarded-For: 10.9.9.9" -H "Authorization: Dsync-Token $(printf '%064d' "$i")" "$G/.usage"
done
req 429 "the 6th try after 5 failures" -H "X-Forwarded-For: 10.9.9.9" "$G/.usage"
contains "Retry-After" "$TMP/h" "Retry-After: "
req 200 "another address is not slowed" "${AUTH[@]}" -H "X-Forwarded-For: 10.9.9.10" "$G/.usage"

# ---- RSS, then SIGTERM: a waiting poll is answered, exit 0
echo "# relay VmHWM: $(sed -n 's/^VmHWM: *//p' "/proc/$RELAY/status")"
(curl -s "${AUTH[@]}" -H "X-Forwarded-For: 10.0.0.50" "$G/.poll?since=$(val change "$TMP/poll")&timeout=30" \
	> "$TMP/poll2") &
POLL=$!
sleep 0.3
kill -TERM "$RELAY"
rc=0
wait "$RELAY" 2>/dev/null || rc=$?
wait "$POLL"
contains "SIGTERM answers a waiting poll" "$TMP/poll2" "changed 0"
check "the relay exits 0 on SIGTERM" "$rc" = 0
contains "it logs refusals" "$TMP/relay.log" "refused"
finish
