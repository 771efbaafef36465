#!/bin/bash
# The relay (issue 15, acceptance 3): one device can't rewrite the others.
# Device B holds the group's token and its own signing key; with them,
# really signed requests (tests/tools/relayhttp.py, ed25519 over section 8's
# message) that overwrite or delete A's manifest, delete or replace a pack A
# wrote, or take over A's device id are refused; so are a replay of A's own
# signed request, an old SEQ, a signature by another key, an unknown
# device, a skewed clock. A then still converges with B and its store checks.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/relaylib.sh"
export DSYNC_TEST_KDF=min
GOOD="walnut saffron glacier trombone velvet orchard"
export DSYNC_PASSPHRASE="$GOOD"
GROUP="signatures-t51"

# req WHO METHOD NAME [ARGS]: a signed request as device WHO (its kept
# token and key); $TMP/reply holds status, error word, body
req() {
	local who=$1 method=$2 name=$3; shift 3
	"${RELAYHTTP[@]}" req "$RELAY_URL" "$method" "/v1/$GID/$name" --creds "$(relay_creds "$who")" "$@" \
		> "$TMP/reply" 2> "$TMP/reply.err" || echo "000" > "$TMP/reply"
}
# refused "what" STATUS ERROR: the last reply
refused() {
	local got
	got="$(sed -n 1p "$TMP/reply") $(sed -n 2p "$TMP/reply")"
	if [ "$got" = "$2 $3" ]; then pass "$1: $2 $3"; else
		fail "$1: got '$got', wanted '$2 $3'"
		sed 's/^/#   /' "$TMP/reply" "$TMP/reply.err" | head -5
	fi
}
listing() {
	rcurl -H "Authorization: Dsync-Token $TOKEN" "${RELAY_URL}v1/$GID/.list?prefix=$1" | grep -v '^next '
}

mkdir -p "$TMP/A"
for i in 1 2 3; do head -c 50000 /dev/urandom > "$TMP/A/file$i"; done
ok "relay started" relay_start "$TMP/relay"
GID=$(relay_gid "$GROUP")
ok "A: init --relay" as A init "$TMP/A" --relay "$RELAY_URL" --group "$GROUP" --device-name A
A_ID=$(basename "$(relay_creds A)")
TOKEN=$(sed -n 's/^token //p' "$(relay_creds A)")
A_PACK=$(listing packs/ | awk 'NR == 1 {print $1}')
ok "B: join --relay" as B join --relay "$RELAY_URL" --group "$GROUP" "$TMP/B"
B_ID=$(basename "$(relay_creds B)")
echo "from B" > "$TMP/B/from-b"
ok "B: sync" on B sync --quiet
A_MAN=$(listing "devices/$A_ID/" | awk '{print $1}' | tail -1)
A_SEQ=${A_MAN##*/}
check "A's device id" -n "$A_ID"
check "B's device id differs" "$B_ID" != "$A_ID"
check "A's manifest listed" -n "$A_MAN"
check "A's pack listed" -n "$A_PACK"
rcurl -si -H "Authorization: Dsync-Token $TOKEN" "${RELAY_URL}v1/$GID/.list?prefix=devices/" > "$TMP/list.rep"
relay_seed reply "$TMP/list.rep" 1
next_seq=$(printf '%016d' $((10#$A_SEQ + 1)))
SEED_MAP="$B_ID=@DEV@ $A_ID=@DEV2@"  # fuzz seeds: B signs as the target's first device
head -c 3000 /dev/urandom > "$TMP/junk"

# ---------------------------------------------------------------------------
# B, with the group's token and its own key, against A's blobs
req B PUT "devices/$A_ID/$next_seq" --body "$TMP/junk" --save-request "$TMP/r1.req" --save-reply "$TMP/r1.rep"
refused "B writes a newer manifest of A" 409 not-writer
relay_seed request "$TMP/r1.req"; relay_seed reply "$TMP/r1.rep"
req B PUT "$A_MAN" --body "$TMP/junk"
refused "B overwrites A's manifest" 409 not-writer
req B DELETE "$A_MAN" --save-request "$TMP/r2.req"
refused "B deletes A's manifest" 409 not-writer
relay_seed request "$TMP/r2.req"
req B DELETE "$A_PACK"
refused "B deletes a pack A wrote" 409 not-writer
req B PUT "$A_PACK" --body "$TMP/junk"
refused "B replaces a pack A wrote" 409 exists
# B signs, but claims to be A
req B PUT "devices/$A_ID/$next_seq" --body "$TMP/junk" --device "$A_ID"
refused "B's signature presented as A's" 403 bad-signature
req B PUT "packs/$(printf '%064d' 1)" --body "$TMP/junk" --device "$(printf '%032d' 5)"
refused "an unknown device" 403 unknown-device
req B PUT "packs/$(printf '%064d' 2)" --body "$TMP/junk" --time $(($(date +%s) - 1000))
refused "a time 1000 s off" 403 clock-skew

# A's own requests: a replay, an old SEQ
req A PUT "packs/$(printf '%064d' 3)" --body "$TMP/junk" --save-request "$TMP/replay.req"
check "A writes a new pack of its own (201)" "$(sed -n 1p "$TMP/reply")" = 201
SEED_MAP="$A_ID=@DEV@" relay_seed request "$TMP/replay.req"
"${RELAYHTTP[@]}" raw "$RELAY_URL" "$TMP/replay.req" > "$TMP/reply" 2> "$TMP/reply.err"
refused "a replay of A's signed PUT" 403 replayed
req B DELETE "packs/$(printf '%064d' 3)"
refused "B deletes that pack" 409 not-writer
req A PUT "$A_MAN" --body "$TMP/junk"
refused "A rewrites its manifest at the same SEQ" 409 seq-not-newer
req A PUT "devices/$A_ID/0000000000000000" --body "$TMP/junk"
refused "A writes an older SEQ" 409 seq-not-newer
req A DELETE "packs/$(printf '%064d' 3)"
check "A deletes its own pack (204)" "$(sed -n 1p "$TMP/reply")" = 204

# B registers its key under A's id (with the group's ADMIT: only then does
# the relay get to the question whose id it is)
ADMIT=$(relay_admit "$GROUP" "$GOOD")
B_SK=$(sed -n 's/^sign-key //p' "$(relay_creds B)")
"${RELAYHTTP[@]}" register-body "$B_SK" "$GID" "$A_ID" > "$TMP/reg.body"
"${RELAYHTTP[@]}" req "$RELAY_URL" PUT "/v1/$GID/.device/$A_ID" --no-sign --body "$TMP/reg.body" \
	--header "Authorization: Dsync-Token $TOKEN" --header "Dsync-Admission: ${ADMIT:-$(printf '%064d' 0)}" \
	--save-request "$TMP/r3.req" > "$TMP/reply" 2> "$TMP/reply.err"
check "ADMIT derived by relay-req" -n "$ADMIT"
refused "B's key registered under A's id" 409 device-exists
relay_seed request "$TMP/r3.req"
"${RELAYHTTP[@]}" req "$RELAY_URL" PUT "/v1/$GID/.device/$A_ID" --no-sign --body "$TMP/reg.body" \
	--header "Authorization: Dsync-Token $TOKEN" --header "Dsync-Admission: $(printf '%064d' 0)" \
	> "$TMP/reply" 2> "$TMP/reply.err"
refused "a device registered without the passphrase's ADMIT" 403 bad-admission

# nothing of A's changed
check "A's manifest still there" -n "$(listing "devices/$A_ID/" | grep -F "$A_MAN")"
check "A's pack still there" -n "$(listing packs/ | grep -F "$A_PACK")"
check "no manifest of A's above its SEQ" -z "$(listing "devices/$A_ID/" | grep -F "$next_seq")"

# ---------------------------------------------------------------------------
# A goes on as before
echo "A again" > "$TMP/A/again"
ok "A: sync" on A sync --quiet
ok "B: sync" on B sync --quiet
ok "A: sync" on A sync --quiet
check "A and B: same head" "$(head_id "$TMP/A")" = "$(head_id "$TMP/B")"
check "A and B: same files" "$(files_digest "$TMP/A")" = "$(files_digest "$TMP/B")"
ok "A: check --read-data" on A check --read-data
relay_stop
finish
