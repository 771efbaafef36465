# The real relay (`dsync relay`) for the e2e tests, on 127.0.0.1 on a port
# it picks itself (sourced after lib.sh):
#
#   relay_start DIR [ARGS...]   starts `dsync relay --listen 127.0.0.1:0 --data DIR ARGS`;
#                               sets RELAY_URL (http://127.0.0.1:PORT/), RELAY_PORT, RELAY_PID
#   relay_tls_start DIR [ARGS]  the same over TLS with a self-signed certificate
#                               ($RELAY_CERT, made once): RELAY_URL is https://
#   relay_stop                  SIGTERM, by pid (then -9 after 10 s)
#   relay_kill                  kill -9, by pid
#   relay_restart               starts it again with the same DIR, ARGS and port
#   relay_rss                   "VmRSS N kB VmHWM N kB" of the running relay
#   relay_creds D               device D's kept relay credentials file (synclib.sh's home-D)
#   relay_gid NAME              the GROUP-ID of a group name
#   RELAYHTTP ...               tests/tools/relayhttp.py: hand-made, really signed requests
#   relay_seed KIND FILE [SEL]  with DSYNC_RECORD_SEEDS=1, keeps FILE (a raw request, or
#                               a reply whose body is kept after the selector byte SEL)
#                               as a fuzz seed in tests/fuzz/corpus/relay_KIND/, named
#                               by its hash
#   no_plaintext "what" DIR FILE  each line of FILE is searched in every file under DIR,
#                               raw and zlib-inflated from every offset: none found
RELAYHTTP=(python3 "$DSYNC_SRC/tests/tools/relayhttp.py")
export PYTHONDONTWRITEBYTECODE=1
RELAY_N=0
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

# _relay_run LISTEN: starts the relay with RELAY_DIR and RELAY_ARGS, waits for
# its "listening on" line
_relay_run() {
	local listen=$1 i line
	RELAY_N=$((RELAY_N + 1))
	RELAY_OUT="$TMP/relay.$RELAY_N.out"
	: > "$RELAY_OUT"
	"$DSYNC" relay --listen "$listen" --data "$RELAY_DIR" "${RELAY_ARGS[@]+"${RELAY_ARGS[@]}"}" \
		> "$RELAY_OUT" 2>> "$TMP/relay.log" < /dev/null &
	RELAY_PID=$!
	STARTED_PIDS+=("$RELAY_PID")
	for i in $(seq 1 500); do
		line=$(sed -n 's/^listening on \([0-9.]*:[0-9]*\)$/\1/p' "$RELAY_OUT" | head -1)
		if [ -n "$line" ]; then
			RELAY_PORT=${line##*:}
			RELAY_URL="$RELAY_SCHEME://127.0.0.1:$RELAY_PORT/"
			return 0
		fi
		kill -0 "$RELAY_PID" 2> /dev/null || break
		sleep 0.02
	done
	echo "# the relay did not start (listen $listen):" >&2
	sed 's/^/#   /' "$RELAY_OUT" "$TMP/relay.log" | tail -10 >&2
	return 1
}

relay_start() {
	RELAY_DIR=$1; shift
	RELAY_ARGS=("$@")
	RELAY_SCHEME=http
	_relay_run 127.0.0.1:0
}

# relay_tls_cert: a self-signed ed25519 certificate for 127.0.0.1
relay_tls_cert() {
	RELAY_CERT="$TMP/relay-cert.pem"
	RELAY_KEY="$TMP/relay-key.pem"
	[ -s "$RELAY_CERT" ] && return 0
	openssl req -x509 -newkey ed25519 -nodes -days 2 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 -keyout "$RELAY_KEY" -out "$RELAY_CERT" 2> /dev/null
}

relay_tls_start() {
	relay_tls_cert || return 1
	RELAY_DIR=$1; shift
	RELAY_ARGS=(--tls-cert "$RELAY_CERT" --tls-key "$RELAY_KEY" "$@")
	RELAY_SCHEME=https
	_relay_run 127.0.0.1:0
}

relay_stop() {
	local i
	kill -TERM "$RELAY_PID" 2> /dev/null || return 0
	for i in $(seq 1 500); do
		kill -0 "$RELAY_PID" 2> /dev/null || break
		sleep 0.02
	done
	kill -9 "$RELAY_PID" 2> /dev/null
	wait "$RELAY_PID" 2> /dev/null
	return 0
}

relay_kill() {
	kill -9 "$RELAY_PID" 2> /dev/null
	wait "$RELAY_PID" 2> /dev/null
	return 0
}

# relay_restart: the same port (retried for a while: the old socket may
# linger) and the same data directory
relay_restart() {
	local i
	for i in $(seq 1 25); do
		_relay_run "127.0.0.1:$RELAY_PORT" 2> "$TMP/restart.err" && return 0
		sleep 0.2
	done
	cat "$TMP/restart.err" >&2
	return 1
}

relay_rss() {
	awk '/^VmRSS|^VmHWM/ {printf "%s %s %s ", $1, $2, $3}' "/proc/$RELAY_PID/status" 2> /dev/null
	echo
}

relay_creds() {
	find "$TMP/home-$1/.config/dsync/relay" -type f 2> /dev/null | head -1
}

relay_gid() {
	python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import relayhttp; print(relayhttp.group_id(sys.argv[2]))' \
		"$DSYNC_SRC/tests/tools" "$1"
}

relay_seed() {
	local kind=$1 file=$2 dir
	[ "${DSYNC_RECORD_SEEDS:-}" = 1 ] || return 0
	[ -s "$file" ] || return 0
	dir="$DSYNC_SRC/tests/fuzz/corpus/relay_$kind"
	mkdir -p "$dir"
	if [ "$kind" = reply ]; then
		# fuzz_relay_reply's input: a selector byte (0: a body in the line
		# format, 1: a listing), then the body of the HTTP reply
		{ printf "\\$(printf %o "${3:-0}")"; tr -d '\r' < "$file" | sed '1,/^$/d'; } > "$TMP/seed.tmp"
	else
		# fuzz_relay_request's input: "METHOD URL", headers, an empty line,
		# the body; the group, its token and the signature headers as the
		# target's placeholders (@GID@, @TOKEN@, @SIGN@, @HASH@), device ids
		# mapped by SEED_MAP ("ID=@DEV@ ID2=@DEV2@")
		python3 - "$file" "${GID:-}" "${TOKEN:-}" "${SEED_MAP:-}" > "$TMP/seed.tmp" << 'PY'
import hashlib, sys
raw, gid, token, smap = open(sys.argv[1], "rb").read(), sys.argv[2], sys.argv[3], sys.argv[4]
head, _, body = raw.partition(b"\r\n\r\n")
lines = head.decode("latin-1").split("\r\n")
def sub(t):
    for kv in smap.split():
        k, _, v = kv.partition("=")
        t = t.replace(k, v)
    return t.replace(gid, "@GID@") if gid else t
out = [sub(lines[0].rsplit(" HTTP/", 1)[0])]
signed = False
for line in lines[1:]:
    k, _, v = line.partition(":")
    k, v = k.strip(), v.strip()
    if k.lower() == "host":
        continue
    if k.lower() in ("dsync-device", "dsync-time", "dsync-nonce", "dsync-signature"):
        signed = True
        continue
    if k.lower() == "authorization" and token and v == "Dsync-Token " + token:
        v = "Dsync-Token @TOKEN@"
    if k.lower() == "dsync-body-hash" and v == hashlib.blake2b(body, digest_size=32).hexdigest():
        v = "@HASH@"
    out.append("%s: %s" % (k, sub(v)) if _ else line)
if signed:
    out.append("@SIGN@")
sys.stdout.buffer.write(("\n".join(out) + "\n\n").encode("latin-1") + body[:4096])
PY
	fi
	cp "$TMP/seed.tmp" "$dir/e2e-$(sha256sum < "$TMP/seed.tmp" | cut -c1-16)"
}

# curl against the relay: no path normalisation, TLS trusted by our cert
rcurl() { curl -s --path-as-is ${RELAY_CERT:+--cacert "$RELAY_CERT"} "$@"; }

no_plaintext() {
	local what=$1 dir=$2 needles=$3 found
	found=$(python3 - "$dir" "$needles" << 'EOF'
import os, sys, zlib
root, needles = sys.argv[1], [l.rstrip("\n").encode() for l in open(sys.argv[2]) if l.strip()]
hits = set()
def scan(data, where):
    for n in needles:
        if n in data:
            hits.add("%s: %r" % (where, n))
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        rel = os.path.relpath(p, root)
        for n in needles:
            if n in rel.encode():
                hits.add("name %s: %r" % (rel, n))
        data = open(p, "rb").read()
        scan(data, rel)
        for i in range(len(data) - 1):
            # every offset where a zlib stream may start (deflate, header checksum)
            if (data[i] & 0x0f) == 8 and (data[i] << 8 | data[i + 1]) % 31 == 0:
                try:
                    out = zlib.decompressobj().decompress(data[i:], 1 << 24)
                except zlib.error:
                    continue
                scan(out, "%s@%d" % (rel, i))
print("\n".join(sorted(hits)))
EOF
)
	if [ -z "$found" ]; then
		pass "$what"
	else
		fail "$what"
		echo "$found" | head -10 | sed 's/^/#   /'
	fi
}

# relay_req ARGS...: the test build's relay-req helper (C, the library's own
# derivations and signing), wherever the build put it
relay_req() {
	local b d=$(dirname "$DSYNC")
	for b in "${RELAY_REQ:-}" "$d/tests/relay-req" "$d/relay-req" "$d/tests/tools/relay-req" "$d/tests/tools/relay_req"; do
		[ -x "$b" ] && { "$b" "$@"; return; }
	done
	b=$(find "$d" -maxdepth 4 -type f -name 'relay-req*' -perm -u+x 2> /dev/null | head -1)
	[ -n "$b" ] || { echo "relay-req not built" >&2; return 127; }
	"$b" "$@"
}

# relay_admit GROUP PASSPHRASE: ADMIT (hex) of a group, from relay-req derive
relay_admit() {
	DSYNC_PASSPHRASE=$2 relay_req derive "$1" | sed -n 's/^admit \([0-9a-f]\{64\}\)$/\1/p'
}
