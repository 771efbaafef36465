#!/bin/bash
# The relay (issue 15, acceptance 1 and 2), against the real `dsync relay` on
# 127.0.0.1: three devices init/join one group by its name and passphrase and
# converge (same files, same head); a fourth with a wrong passphrase exits 5
# and leaves nothing behind; a fifth asking for a group that doesn't exist
# exits 5 too, and the relay's HTTP answers to the two cases are the same
# byte for byte (status, headers but Date, body). Then the same over TLS,
# the client trusting the self-signed certificate through --ca-file (and
# refusing it without). Last, the relay's data directory holds none of the
# file names, contents or commit messages, raw or zlib-inflated.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/relaylib.sh"
export DSYNC_TEST_KDF=min
GOOD="copper lantern meadow violet harbor thistle"
export DSYNC_PASSPHRASE="$GOOD"
GROUP="Smith-Family-t50"

# converge D...: sync rounds until every device has the same head (at most 4 passes)
converge() {
	local pass d heads
	for pass in 1 2 3 4; do
		for d in "$@"; do on "$d" sync --quiet > "$TMP/sync.out" 2>&1 || true; done
		heads=$(for d in "$@"; do head_id "$TMP/$d"; done | sort -u | wc -l)
		[ "$heads" = 1 ] && return 0
	done
	sed 's/^/#   /' "$TMP/sync.out" | head -10
	return 1
}

# no_trace "what" D DIR: a refused join left nothing
no_trace() {
	local what=$1 d=$2 dir=$3
	if [ -d "$dir" ]; then
		check "$what: $(basename "$dir") left empty" -z "$(ls -A "$dir")"
	else
		pass "$what: $(basename "$dir") not created"
	fi
	check "$what: no relay credentials kept" -z "$(relay_creds "$d")"
	check "$what: no key cached" "$(cached_keys "$d")" = 0
}

NEEDLES=$TMP/needles
# every name, a content line and every commit message, distinctive enough
# that no random byte sequence matches them
mkdir -p "$TMP/A/aardvark-ledgers" "$TMP/home-A"
echo "xylophone quartz manifesto 31337 of the t50 relay test" > "$TMP/A/aardvark-ledgers/quokka-budget.txt"
printf 'first line\nsecret rendezvous at the obsidian lighthouse\n' > "$TMP/A/marmalade-recipes.md"
head -c 300000 /dev/urandom | base64 > "$TMP/A/zeppelin-blueprints.bin"
printf '%s\n' aardvark-ledgers quokka-budget marmalade-recipes zeppelin-blueprints \
	"xylophone quartz manifesto 31337" "secret rendezvous at the obsidian lighthouse" > "$NEEDLES"

# --trust-proxy: the two captured refusals below come "from" addresses of
# their own (X-Forwarded-For), so they don't count towards slowing down the
# joins refused after them (5 failures from one address make it 429)
ok "relay started" relay_start "$TMP/relay" --trust-proxy
GID=$(relay_gid "$GROUP")

# ---------------------------------------------------------------------------
# 1. Three devices, one group
ok "A: init --relay --group" as A init "$TMP/A" --relay "$RELAY_URL" --group "$GROUP" --device-name A
check "A: relay credentials kept (0600)" "$(stat -c %a "$(relay_creds A)" 2> /dev/null)" = 600
contains "A: remote url normalised" "$TMP/A/.dsync/config" "$RELAY_URL"
ok "B: join --relay --group" as B join --relay "$RELAY_URL" --group "$GROUP" "$TMP/B"
# the group name folds ASCII case and spaces
ok "C: join (group name in other case)" as C join --relay "$RELAY_URL" --group " smith-FAMILY-t50 " "$TMP/C"
check "B has A's files" "$(files_digest "$TMP/B")" = "$(files_digest "$TMP/A")"
check "C has A's files" "$(files_digest "$TMP/C")" = "$(files_digest "$TMP/A")"

echo "pelican itinerary from device B" > "$TMP/B/pelican-itinerary.txt"
echo "narwhal inventory from device C" > "$TMP/C/narwhal-inventory.txt"
echo "an edit on A" >> "$TMP/A/marmalade-recipes.md"
printf '%s\n' pelican-itinerary narwhal-inventory "pelican itinerary from device B" \
	"narwhal inventory from device C" >> "$NEEDLES"
i=0
for d in A B C; do
	i=$((i + 1))
	ok "$d: snapshot with a message" on "$d" snapshot -m "kumquat-message-$i of device $d"
	echo "kumquat-message-$i of device $d" >> "$NEEDLES"
done
ok "A, B, C converge" converge A B C
check "B: same files as A" "$(files_digest "$TMP/B")" = "$(files_digest "$TMP/A")"
check "C: same files as A" "$(files_digest "$TMP/C")" = "$(files_digest "$TMP/A")"
check "B: same head as A" "$(head_id "$TMP/B")" = "$(head_id "$TMP/A")"
check "C: same head as A" "$(head_id "$TMP/C")" = "$(head_id "$TMP/A")"
check "A has B's and C's files" -f "$TMP/A/pelican-itinerary.txt" -a -f "$TMP/A/narwhal-inventory.txt"
git --git-dir="$TMP/A/.dsync" log --format=%s refs/heads/main | grep -v '^$' | sort -u >> "$NEEDLES"

# ---------------------------------------------------------------------------
# 2. A wrong passphrase and an unknown group get the same answer: first as
# HTTP, then through dsync
TOKEN=$(sed -n 's/^token //p' "$(relay_creds A)")
WRONG_TOKEN=$(printf '%064d' 7)
OTHER_GID=$(relay_gid "no-such-group-t50")
t0=$(now_ms)
rcurl -si -H "X-Forwarded-For: 192.0.2.1" -H "Authorization: Dsync-Token $WRONG_TOKEN" "${RELAY_URL}v1/$GID/.list?limit=1" \
	| grep -v '^Date:' > "$TMP/wrong.http"
t1=$(now_ms)
rcurl -si -H "X-Forwarded-For: 192.0.2.2" -H "Authorization: Dsync-Token $WRONG_TOKEN" "${RELAY_URL}v1/$OTHER_GID/.list?limit=1" \
	| grep -v '^Date:' > "$TMP/nogroup.http"
t2=$(now_ms)
ms_wrong=$((t1 - t0)) ms_nogroup=$((t2 - t1))
diff_ms=$((ms_wrong > ms_nogroup ? ms_wrong - ms_nogroup : ms_nogroup - ms_wrong))
check "both refusals are delayed (${ms_wrong} ms, ${ms_nogroup} ms) alike" \
	"$ms_wrong" -ge 200 -a "$ms_nogroup" -ge 200 -a "$diff_ms" -lt 150
contains "a wrong token: 403" "$TMP/wrong.http" "HTTP/1.1 403"
contains "a wrong token: error forbidden" "$TMP/wrong.http" "error forbidden"
if cmp -s "$TMP/wrong.http" "$TMP/nogroup.http"; then
	pass "wrong token and unknown group: the same answer, byte for byte"
else
	fail "wrong token and unknown group: the same answer, byte for byte"
	diff "$TMP/wrong.http" "$TMP/nogroup.http" | sed 's/^/#   /' | head -10
fi
check "the right token is not refused" "$(rcurl -o /dev/null -w '%{http_code}' \
	-H "Authorization: Dsync-Token $TOKEN" "${RELAY_URL}v1/$GID/.list?limit=1")" = 200
printf 'GET /v1/%s/.list?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Dsync-Token %s\r\n\r\n' \
	"$GID" "$WRONG_TOKEN" > "$TMP/seed.req"
relay_seed request "$TMP/seed.req"
sed 's/$/\r/' "$TMP/wrong.http" > "$TMP/seed.rep"
relay_seed reply "$TMP/seed.rep"

DSYNC_PASSPHRASE="copper lantern meadow violet harbor thistles" \
	fails 5 "D: a wrong passphrase exits 5" as D join --relay "$RELAY_URL" --group "$GROUP" "$TMP/D"
contains "D: told wrong passphrase or no such group" "$TMP/err" "wrong passphrase, or no such group"
no_trace "D" D "$TMP/D"
fails 5 "E: an unknown group exits 5" as E join --relay "$RELAY_URL" --group "no-such-group-t50" "$TMP/E"
contains "E: told the same" "$TMP/err" "wrong passphrase, or no such group"
no_trace "E" E "$TMP/E"

ok "A: still syncs" on A sync --quiet
relay_stop
cp "$TMP/relay.log" "$TMP/relay-plain.log"

# ---------------------------------------------------------------------------
# 3. The data directory holds no plaintext
check "needles to look for" "$(wc -l < "$NEEDLES")" -ge 14
check "the relay stored blobs" -n "$(find "$TMP/relay" -type f -size +1k | head -1)"
no_plaintext "the relay's data: no name, content or message, raw or inflated" "$TMP/relay" "$NEEDLES"
if grep -rqaF "$TOKEN" "$TMP/relay" "$TMP/relay-plain.log"; then
	fail "the token is neither stored nor logged by the relay"
else
	pass "the token is neither stored nor logged by the relay"
fi

# ---------------------------------------------------------------------------
# 4. Over TLS, the self-signed certificate trusted with --ca-file
ok "TLS relay started" relay_tls_start "$TMP/relay-tls"
check "TLS relay url is https" "${RELAY_URL%%:*}" = https
mkdir -p "$TMP/F" && echo "over tls" > "$TMP/F/tls-file.txt"
ok "F: init over TLS with --ca-file" as F init "$TMP/F" --relay "$RELAY_URL" --group "tls-group-t50" \
	--ca-file "$RELAY_CERT" --device-name F
contains "F: caFile kept in the config" "$TMP/F/.dsync/config" "$RELAY_CERT"
fails 1 "F0: without --ca-file the certificate is refused (exit 1)" \
	as F0 join --relay "$RELAY_URL" --group "tls-group-t50" "$TMP/F0"
ok "G: join over TLS with --ca-file" as G join --relay "$RELAY_URL" --group "tls-group-t50" "$TMP/G" \
	--ca-file "$RELAY_CERT"
ok "H: join over TLS with --ca-file" as H join --relay "$RELAY_URL" --group "tls-group-t50" "$TMP/H" \
	--ca-file "$RELAY_CERT"
echo "from G" > "$TMP/G/from-g.txt"
echo "from H" > "$TMP/H/from-h.txt"
ok "F, G, H converge over TLS" converge F G H
check "TLS: G same files as F" "$(files_digest "$TMP/G")" = "$(files_digest "$TMP/F")"
check "TLS: H same files as F" "$(files_digest "$TMP/H")" = "$(files_digest "$TMP/F")"
check "TLS: same head" "$(head_id "$TMP/G")" = "$(head_id "$TMP/F")"
check "TLS: F has G's and H's files" -f "$TMP/F/from-g.txt" -a -f "$TMP/F/from-h.txt"
relay_stop
finish
