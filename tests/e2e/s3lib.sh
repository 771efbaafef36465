# A real S3 server for the s3:// tests (sourced after lib.sh): Ceph's RADOS
# Gateway in a throwaway one-node cluster on 127.0.0.1, started by
# tests/tools/local-s3.sh (its header says how, and the knobs: LOCAL_S3_STORE,
# LOCAL_S3_PORT ...).  Never a fake: a fake takes a wrong secret.
#
#   s3_start            starts it (the test's shell watched: nothing outlives the
#                       test) and sets S3_ENDPOINT (http://127.0.0.1:PORT),
#                       S3_PORT, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY, S3_DIR;
#                       exports AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
#                       AWS_REGION for dsync.  Without the packages the test
#                       ends skipped, except under CI (CI set): there it fails.
#   s3_stop             stops it (also done when the test exits)
#   s3_url BUCKET [PREFIX]   s3+http://127.0.0.1:PORT/BUCKET[/PREFIX]
#   S3CURL ARGS...      curl, signed with the keys (--aws-sigv4, and the
#                       x-amz-content-sha256 header RGW needs)
#   s3_keys BUCKET [PREFIX]  every key in BUCKET (under PREFIX), one a line
#   s3_download BUCKET DIR   every object of BUCKET into DIR (keys as paths)
#   s3_tls_start        a second radosgw of the same cluster over TLS, with a
#                       self-signed certificate for 127.0.0.1 ($S3_TLS_CERT);
#                       sets S3_TLS_PORT (stopped by s3_stop)
S3_TOOL="$DSYNC_SRC/tests/tools/local-s3.sh"
S3_DIR=""
S3_TLS_PID=""
S3CURL=(curl -sS --noproxy 127.0.0.1 --aws-sigv4 "aws:amz:us-east-1:s3"
	-H "x-amz-content-sha256: UNSIGNED-PAYLOAD")

s3_stop() {
	if [ -n "$S3_TLS_PID" ]; then
		kill "$S3_TLS_PID" 2> /dev/null
		wait "$S3_TLS_PID" 2> /dev/null
		S3_TLS_PID=""
	fi
	if [ -n "$S3_DIR" ] && [ -d "$S3_DIR" ]; then
		"$S3_TOOL" stop "$S3_DIR" 2> "$TMP/s3-stop.log" || true
	fi
	S3_DIR=""
S3_TLS_PID=""
}

_s3_cleanup() {
	s3_stop
	cleanup
}
trap _s3_cleanup EXIT
# a test stopped by a signal (ctest's timeout) still runs the EXIT trap; the
# watchdog stops the server anyway within a second of the shell's end
trap 'exit 143' TERM
trap 'exit 130' INT

s3_start() {
	local out rc=0
	out=$(LOCAL_S3_WATCH_PID=$$ "$S3_TOOL" start 2> "$TMP/s3-start.log") || rc=$?
	if [ "$rc" = 2 ]; then
		if [ -n "${CI:-}" ]; then
			fail "under CI the S3 server's packages are installed (contrib/install-deps.sh --tests)"
		else
			echo "# skipped: no Ceph RGW here (as root: tests/tools/local-s3.sh install)"
		fi
		finish
	fi
	if [ "$rc" != 0 ]; then
		sed 's/^/#   /' "$TMP/s3-start.log" | tail -20 >&2
		fail "the S3 server starts"
		finish
	fi
	eval "$(printf '%s\n' "$out" | grep -E '^S3_[A-Z_]+=[A-Za-z0-9_./:+-]*$')"
	S3_PORT=${S3_ENDPOINT##*:}
	export AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_REGION="$S3_REGION"
	unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_REGION AWS_SHARED_CREDENTIALS_FILE AWS_CONFIG_FILE
	# the keys in a file curl reads (-K), never in an argument ps shows
	(umask 077 && printf 'user = "%s:%s"\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" > "$TMP/s3curl.conf")
	S3CURL+=(-K "$TMP/s3curl.conf")
}

s3_url() {
	echo "s3+http://127.0.0.1:$S3_PORT/$1${2:+/$2}"
}

s3_tls_start() {
	local key=$TMP/s3-tls-key.pem i fd
	S3_TLS_CERT=$TMP/s3-tls-cert.pem
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
		-addext "subjectAltName=IP:127.0.0.1" -keyout "$key" -out "$S3_TLS_CERT" 2> /dev/null || return 1
	S3_TLS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	# the daemon keeps no fd of ours (a pipe held open would hang ctest)
	(
		for fd in /proc/self/fd/*; do
			fd=${fd##*/}
			if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2> /dev/null || true; fi
		done
		exec radosgw -c "$S3_DIR/ceph.conf" -n client.rgw.tls -f --admin-socket "$TMP/s3-tls.asok" \
			--log-file "$TMP/s3-tls.log" --rgw-frontends \
			"beast ssl_endpoint=127.0.0.1:$S3_TLS_PORT ssl_certificate=$S3_TLS_CERT ssl_private_key=$key"
	) < /dev/null > "$TMP/s3-tls.out" 2>&1 &
	S3_TLS_PID=$!
	for i in $(seq 1 300); do
		[ "$(curl -s --cacert "$S3_TLS_CERT" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$S3_TLS_PORT/")" = 200 ] &&
			return 0
		kill -0 "$S3_TLS_PID" 2> /dev/null || break
		sleep 0.1
	done
	sed 's/^/#   /' "$TMP/s3-tls.out" | tail -5 >&2
	return 1
}

# _s3_q VALUE: VALUE %-escaped as SigV4 wants it (uppercase hex: curl
# --data-urlencode writes "%2f", which curl 7.88 signs as it is and RGW
# does not)
_s3_q() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="-_.~"))' "$1"; }

s3_keys() {
	local bucket=$1 prefix=${2:-} token="" page q
	while :; do
		# the names in order: curl 7.88 signs the query as it is
		q="list-type=2&prefix=$(_s3_q "$prefix")"
		[ -z "$token" ] || q="continuation-token=$(_s3_q "$token")&$q"
		page=$("${S3CURL[@]}" -f "$S3_ENDPOINT/$bucket?$q") || return 1
		printf '%s' "$page" | python3 -c '
import sys, xml.etree.ElementTree as E
r = E.fromstring(sys.stdin.buffer.read())
ns = r.tag[:r.tag.index("}") + 1] if r.tag.startswith("{") else ""
for c in r.findall(ns + "Contents"):
    print(c.find(ns + "Key").text)
'
		token=$(printf '%s' "$page" | python3 -c '
import sys, xml.etree.ElementTree as E
r = E.fromstring(sys.stdin.buffer.read())
ns = r.tag[:r.tag.index("}") + 1] if r.tag.startswith("{") else ""
t = r.find(ns + "IsTruncated")
n = r.find(ns + "NextContinuationToken")
print(n.text if t is not None and t.text == "true" and n is not None else "")
')
		[ -n "$token" ] || return 0
	done
}

s3_download() {
	local bucket=$1 dir=$2 key
	mkdir -p "$dir"
	s3_keys "$bucket" > "$TMP/s3-keys" || return 1
	while IFS= read -r key; do
		case "/$key/" in */../*|*/./*) return 1 ;; esac
		mkdir -p "$dir/$(dirname "$key")"
		"${S3CURL[@]}" -f -o "$dir/$key" "$S3_ENDPOINT/$bucket/$key" || return 1
	done < "$TMP/s3-keys"
}

# What the tests of cuts, outages and big pushes need besides:
#
#   s3_list BUCKET [PREFIX]     every object under PREFIX: KEY SIZE ETAG, one
#                               a line (ETag unquoted: "MD5-N" for a
#                               multipart upload of N parts)
#   s3_uploads BUCKET [PREFIX]  multipart uploads begun and neither completed
#                               nor aborted: KEY UPLOAD-ID, one a line
#   s3_log_size                 the RGW log's size now (an offset for s3_requests)
#   s3_requests [OFFSET]        the requests the RGW logged since OFFSET (its
#                               access lines), but those made here (S3CURL):
#                               METHOD URI STATUS BYTES, one a line (BYTES:
#                               the body the RGW took in or sent); the log is
#                               written by a thread of its own: a request
#                               answered may take a moment to be there
#   s3_rgw_signal SIG           SIG to radosgw alone, by the pid in $S3_DIR/pids
#                               (STOP/CONT: a stalled server)
#   s3_rgw_kill                 kill -9 radosgw alone (the mon and OSD keep
#                               the data); its command line is kept first,
#                               from /proc/PID/cmdline
#   s3_rgw_restart              radosgw again with the same arguments (same
#                               port), recorded in $S3_DIR/pids so that
#                               s3_stop and the watchdog stop it; waits for
#                               GET / to answer 200 (60 s at most)

# the requests made here name themselves (User-Agent), so that s3_requests
# leaves them out
S3CURL+=(-A s3lib)

# _s3_pages BUCKET objects|uploads PREFIX: a listing's lines, page after page,
# each page read by python's XML parser (the lines on its stderr, the next
# page's marker on its stdout)
_s3_pages() {
	local bucket=$1 kind=$2 prefix=$3 token="" marker="" page lines next
	while :; do
		# the query's names in order, %XX in capitals: what SigV4 signs
		if [ "$kind" = objects ]; then
			page=$("${S3CURL[@]}" -f "$S3_ENDPOINT/$bucket?${token:+continuation-token=$(_s3_q "$token")&}list-type=2&prefix=$(_s3_q "$prefix")") ||
				return 1
		else
			page=$("${S3CURL[@]}" -f "$S3_ENDPOINT/$bucket?${marker:+key-marker=$(_s3_q "$marker")&}prefix=$(_s3_q "$prefix")&${token:+upload-id-marker=$(_s3_q "$token")&}uploads=") ||
				return 1
		fi
		lines=$(printf '%s' "$page" | python3 -c '
import sys, xml.etree.ElementTree as E
kind = sys.argv[1]
r = E.fromstring(sys.stdin.buffer.read())
ns = r.tag[:r.tag.index("}") + 1] if r.tag.startswith("{") else ""
def t(e, n):
    x = e.find(ns + n)
    return x.text or "" if x is not None else ""
out = sys.stderr
if kind == "objects":
    for c in r.findall(ns + "Contents"):
        out.write("%s %s %s\n" % (t(c, "Key"), t(c, "Size"), t(c, "ETag").strip("\"")))
    more = t(r, "IsTruncated") == "true"
    print(t(r, "NextContinuationToken") if more else "")
else:
    for u in r.findall(ns + "Upload"):
        out.write("%s %s\n" % (t(u, "Key"), t(u, "UploadId")))
    more = t(r, "IsTruncated") == "true"
    print("%s %s" % (t(r, "NextKeyMarker"), t(r, "NextUploadIdMarker")) if more else "")
' "$kind" 2>&1 >"$TMP/s3-next") || return 1
		[ -z "$lines" ] || printf '%s\n' "$lines"
		next=$(cat "$TMP/s3-next")
		[ -n "$next" ] || return 0
		if [ "$kind" = objects ]; then
			token=$next
		else
			marker=${next%% *} token=${next#* }
		fi
	done
}
s3_list() { _s3_pages "$1" objects "${2:-}"; }
s3_uploads() { _s3_pages "$1" uploads "${2:-}"; }

s3_log_size() { stat -c %s "$S3_DIR/log/client.rgw.local.log" 2> /dev/null || echo 0; }

# the beast frontend's access line (debug rgw 1), its number after the status
# the body's bytes (a PUT's taken in, a GET's sent):
#   ... beast: 0x...: 127.0.0.1 - tester [date] "PUT /bkt/key?partNumber=1&uploadId=X HTTP/1.1" 200 16777216 - "agent" - latency=...
s3_requests() {
	tail -c +$((${1:-0} + 1)) "$S3_DIR/log/client.rgw.local.log" 2> /dev/null |
		awk '!/"s3lib"/' |
		sed -n 's/.* beast: .*"\([A-Z]*\) \([^ ]*\) HTTP\/[0-9.]*" \([0-9]*\) \([0-9]*\) .*/\1 \2 \3 \4/p'
}

# _s3_rgw_pid: radosgw's pid, the last one $S3_DIR/pids names
_s3_rgw_pid() { awk '$1 == "client.rgw.local" { p = $2 } END { print p }' "$S3_DIR/pids"; }
S3_RGW_ARGS=()

s3_rgw_signal() {
	local pid
	pid=$(_s3_rgw_pid)
	[ -n "$pid" ] && kill -"$1" "$pid"
}

s3_rgw_kill() {
	local pid i
	pid=$(_s3_rgw_pid)
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	mapfile -d '' -t S3_RGW_ARGS < "/proc/$pid/cmdline"
	[ "${#S3_RGW_ARGS[@]}" -gt 0 ] || return 1
	kill -9 "$pid" || return 1
	# not our child (the start script's): gone once its cmdline is
	for i in $(seq 100); do
		[ -s "/proc/$pid/cmdline" ] || return 0
		sleep 0.05
	done
	return 1
}

s3_rgw_restart() {
	local i pid
	[ "${#S3_RGW_ARGS[@]}" -gt 0 ] || return 1
	# as the start script spawns it: no fd of ours but 0-2 (an inherited pipe
	# would keep a caller waiting), stdin /dev/null, output to its log
	(
		for fd in /proc/self/fd/*; do
			fd=${fd##*/}
			if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2> /dev/null || true; fi
		done
		exec "${S3_RGW_ARGS[@]}"
	) < /dev/null >> "$S3_DIR/log/client.rgw.local.out" 2>&1 &
	pid=$!
	echo "client.rgw.local $pid" >> "$S3_DIR/pids"
	for i in $(seq 600); do
		[ "$(curl -s --noproxy 127.0.0.1 -o /dev/null -w '%{http_code}' --max-time 2 "$S3_ENDPOINT/")" = 200 ] &&
			return 0
		kill -0 "$pid" 2> /dev/null || return 1
		sleep 0.1
	done
	return 1
}

# s3_relay N URL QUOTA [PORT]: `dsync relay --s3 URL --quota QUOTA` as relay
# N of the test (PORT: 0, a free one), with a spool and logs of its own in
# $TMP; the caller's environment (a test knob) reaches it.  Sets R<N>_URL,
# R<N>_PORT and R<N>_PID (also in STARTED_PIDS).
s3_relay() {
	local n=$1 url=$2 quota=$3 port=${4:-0} out="$TMP/relay-s3.$1.out" i line pid
	mkdir -p "$TMP/spool$n"
	: > "$out"
	"$DSYNC" relay --listen "127.0.0.1:$port" --s3 "$url" --s3-spool "$TMP/spool$n" --quota "$quota" \
		> "$out" 2>> "$TMP/relay-s3.$n.log" < /dev/null &
	pid=$!
	STARTED_PIDS+=("$pid")
	eval "R${n}_PID=$pid"
	for i in $(seq 1 500); do
		line=$(sed -n 's/^listening on \([0-9.]*:[0-9]*\)$/\1/p' "$out" | head -1)
		if [ -n "$line" ]; then
			eval "R${n}_PORT=${line##*:}"
			eval "R${n}_URL=http://127.0.0.1:${line##*:}/"
			return 0
		fi
		kill -0 "$pid" 2> /dev/null || break
		sleep 0.02
	done
	sed 's/^/#   /' "$out" "$TMP/relay-s3.$n.log" | tail -10 >&2
	return 1
}
