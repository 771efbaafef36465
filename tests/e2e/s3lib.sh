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
			fail "under CI the S3 server's packages are installed (contrib/install-deps.sh)"
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
