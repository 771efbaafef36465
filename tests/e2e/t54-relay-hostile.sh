#!/bin/bash
# The relay (issue 15, acceptance 6): hostile requests while a sync runs.
# Paths with `..`, `%2e%2e`, `//`, absolute ones (sent raw: curl
# --path-as-is); a 2 GiB Content-Length with and without `Expect` (the
# relay answers before the body); a 20 KiB header; a 2 KiB URL; a PUT
# without a length, or chunked; bad hex in each header the relay reads; no
# token, a wrong one; a slowloris client (a header byte every 10 s) and an
# idle one, both closed by the relay within about 60 s; then 30 wrong
# tokens in a row slowed down with 429 and Retry-After; an upload whose
# body trickles in (a byte every 5 s) is abandoned, its temp file removed. Each is refused
# with its status; the sync completes and checks; the relay's memory is
# reported.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/relaylib.sh"
export DSYNC_TEST_KDF=min DSYNC_TEST_PACK_MAX=8M
export DSYNC_PASSPHRASE="marble quiver nectar juniper falcon ribbon"
GROUP="hostile-t54"
MIB=$((1024 * 1024))
N=0

# status "what" WANT CURL-ARGS...: the HTTP status of a curl request
status() {
	local what=$1 want=$2 got; shift 2
	N=$((N + 1))
	got=$(rcurl -o "$TMP/h.body" -w '%{http_code}' --max-time 20 "$@" 2> /dev/null)
	if [ "$got" = "$want" ]; then pass "$what: $got"; else
		fail "$what: got $got, wanted $want"
		head -c 300 "$TMP/h.body" | sed 's/^/#   /'
	fi
}
# signed "what" WANT-STATUS WANT-ERROR METHOD NAME ARGS...: a request signed
# by device A (relayhttp.py), its status and error word ("*": any, for what
# libmicrohttpd answers itself)
signed() {
	local what=$1 want="$2 $3" any=$3 method=$4 name=$5 got; shift 5
	N=$((N + 1))
	"${RELAYHTTP[@]}" req "$RELAY_URL" "$method" "/v1/$GID/$name" --creds "$CREDS" "$@" \
		> "$TMP/reply" 2> "$TMP/reply.err" || echo "000 -" > "$TMP/reply"
	got="$(sed -n 1p "$TMP/reply") $(sed -n 2p "$TMP/reply")"
	[ "$any" = "*" ] && got="$(sed -n 1p "$TMP/reply") *"
	if [ "$got" = "$want" ]; then pass "$what: $got"; else
		fail "$what: got '$got', wanted '$want'"
		sed 's/^/#   /' "$TMP/reply" "$TMP/reply.err" | head -4
	fi
}

mkdir -p "$TMP/A"
echo "start" > "$TMP/A/start.txt"
ok "relay started" relay_start "$TMP/relay"
GID=$(relay_gid "$GROUP")
ok "A: init --relay" as A init "$TMP/A" --relay "$RELAY_URL" --group "$GROUP" --device-name A
ok "B: join --relay" as B join --relay "$RELAY_URL" --group "$GROUP" "$TMP/B"
CREDS=$(relay_creds A)
TOKEN=$(sed -n 's/^token //p' "$CREDS")
AUTH="Authorization: Dsync-Token $TOKEN"
V1="${RELAY_URL}v1"
PACK="packs/$(printf '%064d' 9)"

# the slow clients, for the whole test
"${RELAYHTTP[@]}" slowloris "$RELAY_URL" --interval 10 --limit 70 > "$TMP/slowloris.out" 2>&1 &
SLOW_PID=$!
STARTED_PIDS+=("$SLOW_PID")
"${RELAYHTTP[@]}" slowloris "$RELAY_URL" --interval 100 --limit 70 > "$TMP/idle.out" 2>&1 &
IDLE_PID=$!
STARTED_PIDS+=("$IDLE_PID")
# a signed upload of 1 MB whose body comes a byte every 5 s
"${RELAYHTTP[@]}" req "$RELAY_URL" PUT "/v1/$GID/packs/$(printf '%064d' 8)" --creds "$CREDS" \
	--content-length 1000000 --save-request "$TMP/slowbody.req" --dry
"${RELAYHTTP[@]}" slowloris "$RELAY_URL" --head "$TMP/slowbody.req" --interval 5 --limit 70 \
	> "$TMP/slowbody.out" 2>&1 &
SLOWBODY_PID=$!
STARTED_PIDS+=("$SLOWBODY_PID")
T0=$(date +%s)

# a sync that takes a while: 24 MB at 3 MB/s
for i in 1 2 3; do head -c $((8 * MIB)) /dev/urandom > "$TMP/A/big$i.bin"; done
(cd "$TMP/A" && HOME="$TMP/home-A" exec "$DSYNC" sync --quiet --limit-rate 3M < /dev/null) > "$TMP/sync.out" 2>&1 &
SYNC_PID=$!
STARTED_PIDS+=("$SYNC_PID")

# ---------------------------------------------------------------------------
# names: 400 before the token is looked at
status "..%2f..%2fetc/passwd" 400 -H "$AUTH" "$V1/$GID/..%2f..%2fetc/passwd"
status "%2e%2e/x" 400 -H "$AUTH" "$V1/$GID/%2e%2e/x"
status "//etc/passwd" 400 -H "$AUTH" "$V1/$GID//etc/passwd"
status "packs/../../x" 400 -H "$AUTH" "$V1/$GID/packs/../../x"
status "/v1/../../etc/passwd" 400 -H "$AUTH" "$V1/../../etc/passwd"
status "devices/../../../group" 400 -H "$AUTH" "$V1/$GID/devices/../../../$GID/group"
status "a group id with %2e" 400 -H "$AUTH" "$V1/%2e%2e%2f%2e%2e/dsync-store"
status "a NUL-looking name" 400 -H "$AUTH" "$V1/$GID/packs/%00"
status "a listing prefix with .." 400 -H "$AUTH" "$V1/$GID/.list?prefix=../"
status "a listing prefix with %2e" 400 -H "$AUTH" "$V1/$GID/.list?prefix=%2e%2e/"
status "a poll timeout out of range" 400 -H "$AUTH" "$V1/$GID/.poll?since=0000000000000000.0&timeout=99999"
status "a 2 KiB URL" 414 -H "$AUTH" "$V1/$GID/packs/$(head -c 2048 /dev/zero | tr '\0' a)"
status "a 20 KiB header" 431 -H "$AUTH" -H "X-Big: $(head -c 20480 /dev/zero | tr '\0' b)" "$V1/$GID/.usage"
hdrs=()
for i in $(seq 1 40); do hdrs+=(-H "X-Many-$i: $(head -c 250 /dev/zero | tr '\0' c)"); done
status "40 headers of 250 bytes (10 KiB)" 431 -H "$AUTH" "${hdrs[@]}" "$V1/$GID/.usage"
status "not a relay method" 405 -H "$AUTH" -X PATCH "$V1/$GID/$PACK"
status "a missing blob" 404 -H "$AUTH" "$V1/$GID/$PACK"

# bodies: the relay answers before a byte of them
signed "2 GiB Content-Length with Expect" 413 too-large PUT "$PACK" --content-length $((2048 * MIB)) --expect
signed "2 GiB Content-Length, no Expect, 64 KiB sent" 413 too-large PUT "$PACK" \
	--content-length $((2048 * MIB)) --send-bytes 65536
head -c 1000 /dev/urandom > "$TMP/small"
signed "a signed PUT without Content-Length" 411 length-required PUT "$PACK" --body "$TMP/small" --no-length
signed "a signed chunked PUT" 411 length-required PUT "$PACK" --body "$TMP/small" --no-length \
	--header "Transfer-Encoding: chunked"
signed "a body not matching its (signed) hash" 400 hash-mismatch PUT "$PACK" --body "$TMP/small" \
	--body-hash "$(printf '%064d' 1)"
signed "a body hash other than the signed one" 403 bad-signature PUT "$PACK" --body "$TMP/small" \
	--header "Dsync-Body-Hash: $(printf '%064d' 1)"
signed "Dsync-Body-Hash not hex" 400 bad-header PUT "$PACK" --body "$TMP/small" \
	--header "Dsync-Body-Hash: $(printf 'zz%062d' 1)"
signed "Dsync-Body-Hash too short" 400 bad-header PUT "$PACK" --body "$TMP/small" --header "Dsync-Body-Hash: abcd"
signed "Dsync-Device not hex" 400 bad-header PUT "$PACK" --body "$TMP/small" \
	--header "Dsync-Device: $(printf 'xyz%029d' 0)"
signed "Dsync-Time not a number" 400 bad-header PUT "$PACK" --body "$TMP/small" --header "Dsync-Time: 12ab"
signed "Dsync-Nonce not hex" 400 bad-header PUT "$PACK" --body "$TMP/small" --header "Dsync-Nonce: ghij"
signed "Dsync-Signature not hex" 400 bad-header PUT "$PACK" --body "$TMP/small" \
	--header "Dsync-Signature: $(printf 'q%.0s' $(seq 1 128))"
signed "Dsync-Signature of another request" 403 bad-signature PUT "$PACK" --body "$TMP/small" \
	--header "Dsync-Signature: $(printf '%0128d' 0)"
signed "Content-Length not a number" 400 "*" PUT "$PACK" --body "$TMP/small" --header "Content-Length: 1e3"
signed "Dsync-Admission not hex" 400 bad-header PUT ".device/$(printf '%032d' 3)" --no-sign \
	--body "$TMP/small" --header "Dsync-Admission: nothex"
signed "a signature missing" 403 bad-signature PUT "$PACK" --body "$TMP/small" --header "Dsync-Signature:"
status "Authorization: another scheme" 403 -H "Authorization: Bearer $TOKEN" "$V1/$GID/.usage"
status "no token" 403 "$V1/$GID/.usage"
status "a token of bad hex" 403 -H "Authorization: Dsync-Token $(printf 'g%.0s' $(seq 1 64))" "$V1/$GID/.usage"
status "a wrong token" 403 -H "Authorization: Dsync-Token $(printf '%064d' 5)" "$V1/$GID/.usage"
status "still answering: GET /v1/" 200 "$V1/"
contains "GET /v1/ says it is a relay" "$TMP/h.body" "dsync-relay 1"

# malformed heads, raw
printf 'GET /v1/%s/.usage HTTP/1.1\r\nHost: x\r\nAuthorization Dsync-Token %s\r\nNo colon here\r\n\r\n' \
	"$GID" "$TOKEN" > "$TMP/malformed.req"
"${RELAYHTTP[@]}" raw "$RELAY_URL" "$TMP/malformed.req" > "$TMP/reply" 2>&1
check "header lines without a colon: 400 ($(head -1 "$TMP/reply"))" "$(head -1 "$TMP/reply")" = 400
relay_seed request "$TMP/malformed.req"
printf 'PUT /v1/%s/%s HTTP/1.1\r\nHost: x\r\n%s\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nabcde' \
	"$GID" "$PACK" "$AUTH" > "$TMP/twolen.req"
"${RELAYHTTP[@]}" raw "$RELAY_URL" "$TMP/twolen.req" > "$TMP/reply" 2>&1
check "two Content-Lengths: 400 ($(head -1 "$TMP/reply"))" "$(head -1 "$TMP/reply")" = 400
relay_seed request "$TMP/twolen.req"
printf 'GET /v1/ HTTP/3.0\r\nHost: x\r\n\r\n' > "$TMP/http3.req"
"${RELAYHTTP[@]}" raw "$RELAY_URL" "$TMP/http3.req" > "$TMP/reply" 2>&1
check "not HTTP/1.x: 505 ($(head -1 "$TMP/reply"))" "$(head -1 "$TMP/reply")" = 505
check "the relay is alive" -d "/proc/$RELAY_PID"

# ---------------------------------------------------------------------------
# the sync
check "the hostile requests ran while the sync did" -d "/proc/$SYNC_PID"
rc=0
wait "$SYNC_PID" || rc=$?
check "the sync completed (exit $rc)" "$rc" = 0
sed 's/^/#   /' "$TMP/sync.out" | head -5
ok "B: sync" on B sync --quiet
check "B has A's files" "$(files_digest "$TMP/B")" = "$(files_digest "$TMP/A")"
ok "A: check --read-data" on A check --read-data

# 30 wrong tokens: from the 5th failure, 429 with Retry-After
for i in $(seq 1 30); do
	rcurl -si -H "Authorization: Dsync-Token $(printf '%064d' "$i")" "$V1/$GID/.usage" > "$TMP/guess.http"
done
contains "30 wrong tokens: 429" "$TMP/guess.http" "HTTP/1.1 429"
grep -qi '^Retry-After: [0-9]' "$TMP/guess.http"
check "with Retry-After" $? = 0
tr -d '\r' < "$TMP/guess.http" | sed 's/$/\r/' > "$TMP/guess.rep"; relay_seed reply "$TMP/guess.rep"

# the slow clients
wait "$SLOW_PID" "$IDLE_PID" "$SLOWBODY_PID"
elapsed=$(($(date +%s) - T0))
sed 's/^/# slowloris: /' "$TMP/slowloris.out"
sed 's/^/# idle: /' "$TMP/idle.out"
sed 's/^/# slow body: /' "$TMP/slowbody.out"
contains "the slowloris client was closed by the relay" "$TMP/slowloris.out" "closed after"
contains "the idle client was closed by the relay" "$TMP/idle.out" "closed after"
contains "the upload whose body trickles was closed by the relay" "$TMP/slowbody.out" "closed after"
check "its temp file is gone" -z "$(find "$TMP/relay/groups" -path "$TMP/relay/groups/*/tmp/*" -type f)"
check "the relay survived $N hostile requests" -d "/proc/$RELAY_PID"
echo "# relay memory after $N hostile requests and a 24 MB sync: $(relay_rss)"
relay_stop
finish
