#!/bin/bash
# s3:// remotes on a real S3 server (Ceph's RADOS Gateway on 127.0.0.1,
# s3lib.sh): A adds s3+http://127.0.0.1:PORT/BUCKET/PREFIX (the bucket is
# made), B adds the same store, they sync through it, C joins from it; the
# trees are equal and `dsync check --read-data` passes on all three.  Keys
# come from the environment, then from ~/.aws/credentials (a profile).  A
# wrong secret is exit 5 naming the server and the refusal; a port nobody
# listens on is exit 1 with one line; a missing bucket without remote add
# is named; a server busy three times (503 Slow Down, a proxy's) is tried
# again, one that stays busy fails in seconds.  s3:// over TLS (a second
# radosgw with a self-signed certificate): refused without the CA, trusted
# with AWS_CA_BUNDLE.  The bucket holds no plaintext: every object downloaded with
# curl --aws-sigv4 and searched raw and zlib-inflated from every offset
# for the files' names and contents.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/relaylib.sh"
. "$(dirname "$0")/s3lib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE

PASS=$TMP/passphrase
echo "correct horse battery staple" > "$PASS"
MARK="s3-plaintext-marker-$$-$RANDOM"
NEEDLES=$TMP/needles

s3_start
BUCKET=t69-bucket
URL=$(s3_url "$BUCKET" "family/docs")

for d in A B C; do
	mkdir -p "$TMP/$d" "$TMP/home-$d"
done
mkdir -p "$TMP/A/letters-$MARK"
echo "A's notes: $MARK" > "$TMP/A/notes-$MARK.txt"
echo "a letter" > "$TMP/A/letters-$MARK/one.md"
# a file big enough for a pack of its own, compressible (zlib would show it)
for i in $(seq 1 20000); do echo "line $i of $MARK"; done > "$TMP/A/big.txt"
echo "B's list $MARK-b" > "$TMP/B/list.txt"
printf '%s\n' "$MARK" "notes-$MARK" "letters-$MARK" "line 12345 of $MARK" "B's list $MARK-b" "correct horse" \
	> "$NEEDLES"

ok "A init" as A init "$TMP/A" --device-name alpha
ok "B init" as B init "$TMP/B" --device-name beta

# ---------------------------------------------------------------------------
# 1. A makes the bucket and the store; B adds it; they sync; C joins
ok "A remote add $URL (no bucket yet: made)" on A remote add origin "$URL" --passphrase-file "$PASS"
contains "... it made a store there, by the normalised URL" "$TMP/out" \
	"created an encrypted store at $URL and added it as 'origin'"
check "... the bucket is there" "$("${S3CURL[@]}" -o /dev/null -w '%{http_code}' -I "$S3_ENDPOINT/$BUCKET")" = 200
check "... its keys are under the prefix" -n "$(s3_keys "$BUCKET" "family/docs/" | head -1)"
check "... and nowhere else" -z "$(s3_keys "$BUCKET" | grep -v '^family/docs/')"

# B finds its keys in ~/.aws/credentials (a profile), the region in ~/.aws/config
mkdir -p "$TMP/home-B/.aws"
printf '[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n[t69]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	"$S3_ACCESS_KEY" "$S3_SECRET_KEY" > "$TMP/home-B/.aws/credentials"
printf '[profile t69]\nregion = %s\ns3 =\n  addressing_style = path\n' "$S3_REGION" > "$TMP/home-B/.aws/config"
ok "B remote add with a profile of ~/.aws/credentials (the URL as typed: a trailing '/')" \
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_PROFILE=t69 \
	bash -c "cd '$TMP/B' && HOME='$TMP/home-B' setsid -w '$DSYNC' remote add origin '$URL/' --passphrase-file '$PASS' < /dev/null"
contains "... added by the normalised URL" "$TMP/out" "added 'origin' ($URL)"

ok03 "A sync (push)" on A sync
ok03 "B sync (fetch A's, push B's)" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_PROFILE=t69 \
	bash -c "cd '$TMP/B' && HOME='$TMP/home-B' setsid -w '$DSYNC' sync < /dev/null"
ok03 "A sync (fetch B's)" on A sync
echo "A's notes, v2: $MARK" > "$TMP/A/notes-$MARK.txt"
rm "$TMP/A/letters-$MARK/one.md"
echo "B's list, v2" > "$TMP/B/list.txt"
ok03 "A sync after edits" on A sync
ok03 "B sync after edits" on B sync
ok03 "A sync again" on A sync
check "A and B have the same head" "$(head_id "$TMP/A")" = "$(head_id "$TMP/B")"
check "A and B hold the same files" "$(files_digest "$TMP/A")" = "$(files_digest "$TMP/B")"
check "... all three of them" "$(files_digest "$TMP/A" | wc -l)" = 3

ok "C joins from $URL" as C join "$URL" "$TMP/C" --device-name gamma --passphrase-file "$PASS"
check "C holds the same files as A" "$(files_digest "$TMP/C")" = "$(files_digest "$TMP/A")"
check "C has A's head" "$(head_id "$TMP/C")" = "$(head_id "$TMP/A")"
ok "C remote list" on C remote list
contains "... names the URL" "$TMP/out" "origin	$URL"
for d in A B C; do
	ok "$d: dsync check --read-data" on "$d" check --read-data
done
# listings of two keys a page: every continuation token followed
mkdir -p "$TMP/home-P"
ok "P joins with listings of two keys a page" \
	env DSYNC_TEST_S3_LIST_PAGE=2 bash -c "cd '$TMP' && HOME='$TMP/home-P' setsid -w '$DSYNC' join '$URL' '$TMP/P' \
	--device-name pi --passphrase-file '$PASS' < /dev/null"
check "... P holds the same files as A" "$(files_digest "$TMP/P")" = "$(files_digest "$TMP/A")"
ok "... and its check --read-data passes, two keys a page" \
	env DSYNC_TEST_S3_LIST_PAGE=2 bash -c "cd '$TMP/P' && HOME='$TMP/home-P' setsid -w '$DSYNC' check --read-data < /dev/null"
check "... the listings took pages with continuation tokens" \
	"$(grep -c 'continuation-token=' "$S3_DIR/log/client.rgw.local.log")" -ge 3

# ---------------------------------------------------------------------------
# 2. Refusals, each one line
rc=0
AWS_SECRET_ACCESS_KEY=not-the-secret on A sync > "$TMP/out" 2> "$TMP/err" || rc=$?
check "A: a wrong secret is exit 5" "$rc" = 5
contains "... naming the server and the refusal" "$TMP/err" \
	"the S3 server at 127.0.0.1:$S3_PORT refused the credentials"
contains "... by its code" "$TMP/err" "SignatureDoesNotMatch"
check "... in one line" "$(wc -l < "$TMP/err")" = 1
check "... the secret given is not shown" -z "$(grep -F "not-the-secret" "$TMP/err")"
rc=0
AWS_ACCESS_KEY_ID=NOSUCHKEY on A sync > "$TMP/out" 2> "$TMP/err" || rc=$?
check "an unknown access key is exit 5 too" "$rc" = 5
contains "... InvalidAccessKeyId" "$TMP/err" "InvalidAccessKeyId"
rc=0
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY bash -c \
	"cd '$TMP/A' && HOME='$TMP/home-A' setsid -w '$DSYNC' sync < /dev/null" > "$TMP/out" 2> "$TMP/err" || rc=$?
check "no credentials at all is exit 5" "$rc" = 5
contains "... saying where they are looked for" "$TMP/err" "no S3 credentials: set AWS_ACCESS_KEY_ID"

mkdir -p "$TMP/D" "$TMP/home-D"
fails 1 "D: joining from a bucket that is not there fails" \
	as D join "$(s3_url no-such-bucket-t69)" "$TMP/D" --passphrase-file "$PASS"
contains "... naming the bucket" "$TMP/err" "has no bucket 'no-such-bucket-t69'"
check "... and no bucket was made" \
	"$("${S3CURL[@]}" -o /dev/null -w '%{http_code}' -I "$S3_ENDPOINT/no-such-bucket-t69")" = 404
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
t0=$(now_ms)
fails 1 "D: a port nobody listens on" as D join "s3+http://127.0.0.1:$port/bkt" "$TMP/D" --passphrase-file "$PASS"
contains "... names the endpoint" "$TMP/err" "cannot reach the S3 server at 127.0.0.1:$port"
check "... in one line" "$(wc -l < "$TMP/err")" = 1
check "... within a few seconds of retries" $(( $(now_ms) - t0 )) -lt 15000
fails 2 "a bad bucket name is a usage error" as D join "s3+http://127.0.0.1:$S3_PORT/No_Such" "$TMP/D" \
	--passphrase-file "$PASS"
contains "... saying why" "$TMP/err" "not a bucket name"

# a busy server (503 Slow Down, through a proxy that answers so first) is
# tried again with a backoff; one that stays busy fails the round in seconds
# busy_proxy N: the proxy in front of the RGW, its first N connections busy;
# sets PROXY_PORT, PROXY_PID
busy_proxy() {
	rm -f "$TMP/proxy.port" "$TMP/proxy.stats"
	python3 "$DSYNC_SRC/tests/tools/delayproxy.py" --target "$S3_PORT" --port-file "$TMP/proxy.port" \
		--delay-ms 0 --stats "$TMP/proxy.stats" --busy-first "$1" &
	PROXY_PID=$!
	STARTED_PIDS+=("$PROXY_PID")
	for _ in $(seq 1 100); do [ -s "$TMP/proxy.port" ] && break; sleep 0.05; done
	PROXY_PORT=$(cat "$TMP/proxy.port")
}
proxy_stop() { kill "$PROXY_PID"; wait "$PROXY_PID"; }
busy_proxy 3
mkdir -p "$TMP/home-S"
t0=$(now_ms)
ok "S joins through a server busy three times (503 Slow Down)" \
	as S join "s3+http://127.0.0.1:$PROXY_PORT/t69-bucket/family/docs" "$TMP/S" --device-name sigma \
	--passphrase-file "$PASS"
proxy_stop
check "... it was answered busy three times" "$(awk '$1 == "busy" { print $2 }' "$TMP/proxy.stats")" = 3
check "... S holds the same files as A" "$(files_digest "$TMP/S")" = "$(files_digest "$TMP/A")"
check "... the backoff took under 10 s" $(( $(now_ms) - t0 )) -lt 10000
busy_proxy 1000
mkdir -p "$TMP/home-U"
t0=$(now_ms)
fails 1 "U: a server that stays busy fails the join" \
	as U join "s3+http://127.0.0.1:$PROXY_PORT/t69-bucket/family/docs" "$TMP/U" --passphrase-file "$PASS"
proxy_stop
contains "... saying so, with the server's code" "$TMP/err" "HTTP 503 SlowDown); try again later"
check "... after five tries" "$(awk '$1 == "busy" { print $2 }' "$TMP/proxy.stats")" = 5
check "... within seconds" $(( $(now_ms) - t0 )) -lt 15000

# the secret is in no process's arguments (ps, /proc/PID/cmdline) while
# dsync works (a join that retries a busy server for seconds)
busy_proxy 1000
printf '%s\n' "$S3_SECRET_KEY" > "$TMP/secret.pattern"
as V join "s3+http://127.0.0.1:$PROXY_PORT/t69-bucket/family/docs" "$TMP/V" --passphrase-file "$PASS" \
	> /dev/null 2>&1 &
JOIN_PID=$!
seen=0
: > "$TMP/ps.all"
for _ in $(seq 1 30); do
	ps -eo args > "$TMP/ps.now"
	cat "$TMP/ps.now" >> "$TMP/ps.all"
	grep -q "join s3+http://127.0.0.1:$PROXY_PORT/" "$TMP/ps.now" && seen=$((seen + 1))
	kill -0 "$JOIN_PID" 2> /dev/null || break
	sleep 0.1
done
wait "$JOIN_PID"
proxy_stop
check "... dsync was seen at work" "$seen" -ge 3
check "the secret key is in no process's arguments" "$(grep -c -F -f "$TMP/secret.pattern" "$TMP/ps.all")" = 0

# ---------------------------------------------------------------------------
# 3. s3:// is https, its certificate checked
if s3_tls_start; then
	pass "a radosgw over TLS"
	mkdir -p "$TMP/T" "$TMP/home-T"
	echo "over TLS" > "$TMP/T/t.txt"
	ok "T init" as T init "$TMP/T" --device-name tau
	TLS_URL="s3://127.0.0.1:$S3_TLS_PORT/t69-tls/t"
	fails 1 "T: a certificate no CA vouches for is refused" on T remote add origin "$TLS_URL" --passphrase-file "$PASS"
	contains "... saying so, and how to trust a private CA" "$TMP/err" "certificate problem"
	contains "... (AWS_CA_BUNDLE)" "$TMP/err" "AWS_CA_BUNDLE"
	ok "T: with AWS_CA_BUNDLE it is trusted" \
		env AWS_CA_BUNDLE="$S3_TLS_CERT" bash -c "cd '$TMP/T' && HOME='$TMP/home-T' setsid -w '$DSYNC' remote add \
		origin '$TLS_URL' --passphrase-file '$PASS' < /dev/null"
	ok03 "T: sync over TLS" env AWS_CA_BUNDLE="$S3_TLS_CERT" bash -c "cd '$TMP/T' && HOME='$TMP/home-T' setsid -w \
		'$DSYNC' sync < /dev/null"
	check "... the store is in the bucket" -n "$(s3_keys t69-tls t/packs/ | head -1)"
	fails 1 "T: s3+http:// to the TLS port is not https" on T remote add plain \
		"s3+http://127.0.0.1:$S3_TLS_PORT/t69-tls/u" --passphrase-file "$PASS"
else
	fail "a radosgw over TLS"
fi

# ---------------------------------------------------------------------------
# 4. The bucket holds ciphertext only
ok "every object of the bucket downloaded" s3_download "$BUCKET" "$TMP/bucket"
check "... several of them" "$(find "$TMP/bucket" -type f | wc -l)" -ge 4
check "... a pack among them" -n "$(find "$TMP/bucket/family/docs/packs" -type f 2> /dev/null | head -1)"
no_plaintext "the bucket: no name or content, raw or inflated" "$TMP/bucket" "$NEEDLES"

finish
