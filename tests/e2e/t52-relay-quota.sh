#!/bin/bash
# The relay (issue 15, acceptance 4): a group's quota. With `--quota 3M`, a
# push that takes the group past 90% succeeds and warns; `dsync status`
# shows used of quota; the next push past the quota fails (non-zero, the
# message says "quota"), leaves no temp file on the relay and no manifest
# naming a missing pack: the store still checks and a new device joins it
# with the last accepted snapshot.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/relaylib.sh"
export DSYNC_TEST_KDF=min
export DSYNC_PASSPHRASE="pumpkin cobalt lagoon sparrow engine tundra"
GROUP="quota-t52"
QUOTA=$((3 * 1024 * 1024))

usage_of() {
	rcurl -H "Authorization: Dsync-Token $TOKEN" "${RELAY_URL}v1/$GID/.usage" | sed -n "s/^$1 //p"
}

mkdir -p "$TMP/A"
echo "a small start" > "$TMP/A/small.txt"
ok "relay started with --quota 3M" relay_start "$TMP/relay" --quota 3M
GID=$(relay_gid "$GROUP")
ok "A: init --relay" as A init "$TMP/A" --relay "$RELAY_URL" --group "$GROUP" --device-name A
TOKEN=$(sed -n 's/^token //p' "$(relay_creds A)")
rcurl -si -H "Authorization: Dsync-Token $TOKEN" "${RELAY_URL}v1/$GID/.usage" | tr -d '\r' > "$TMP/usage.http"
contains ".usage: quota" "$TMP/usage.http" "quota $QUOTA"
sed 's/$/\r/' "$TMP/usage.http" > "$TMP/usage.rep"; relay_seed reply "$TMP/usage.rep"
U0=$(usage_of used)
check "used after init is small ($U0)" "${U0:-0}" -gt 0 -a "${U0:-$QUOTA}" -lt 200000

# to about 93%: random bytes don't compress, a pack is its file plus a little
head -c $((QUOTA * 93 / 100 - U0 - 40000)) /dev/urandom > "$TMP/A/big1.bin"
rc=0
on A sync > "$TMP/sync1.out" 2>&1 || rc=$?
check "the push to 9x% succeeds (exit $rc)" "$rc" = 0
U1=$(usage_of used)
pct=$((U1 * 100 / QUOTA))
check "usage now between 90% and 100% ($pct%)" "$pct" -ge 90 -a "$pct" -lt 100
contains "the push warned: N% full" "$TMP/sync1.out" "% full"
contains "the warning names the space left to ask for" "$TMP/sync1.out" "ask its operator for more space"
ok "A: status" on A status
contains "status shows used of quota" "$TMP/out" " used of 3.0 MiB ("
grep -E "^remote origin: [0-9.]+ MiB used of 3\.0 MiB \(9[0-9]%\)$" "$TMP/out" > /dev/null
check "status: remote origin: N MiB used of 3.0 MiB (9x%)" $? = 0

# past the quota
head -c $((QUOTA / 4)) /dev/urandom > "$TMP/A/big2.bin"
rc=0
on A sync > "$TMP/sync2.out" 2>&1 || rc=$?
check "the push past the quota fails (exit $rc)" "$rc" != 0
contains "it says quota" "$TMP/sync2.out" "quota"
U2=$(usage_of used)
check "used <= quota ($U2)" "${U2:-$((QUOTA + 1))}" -le "$QUOTA"
check "no temp file left on the relay" -z "$(find "$TMP/relay/groups" -path "$TMP/relay/groups/*/tmp/*" -type f)"
grep -a 'over-quota\|507' "$TMP/relay.log" > /dev/null
check "the relay logged the refusal" $? = 0
ok "A: check: every manifest's packs are there" on A check
ok "B: joins the group" as B join --relay "$RELAY_URL" --group "$GROUP" "$TMP/B"
check "B has the last accepted snapshot" "$(sha "$TMP/B/big1.bin")" = "$(sha "$TMP/A/big1.bin")"
check "B has not the refused file" ! -e "$TMP/B/big2.bin"

relay_stop
finish
