#!/bin/bash
# The relay (issue 15, acceptance 5): `kill -9` of the relay while two
# devices push about 60 MB (30 MB each, packs cut at 8 MiB, transfers held
# to 12 MB/s so the kills land mid-way), at three points: while a pack's
# body is arriving (a temp file on the relay), right after a new pack was
# stored, right after a manifest was stored. Each time the relay is started
# again on the same port and data directory. Then both devices converge,
# `dsync check --read-data` passes on each, and every blob the relay lists
# reads back whole (its body hashes to its ETag).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/relaylib.sh"
export DSYNC_TEST_KDF=min DSYNC_TEST_PACK_MAX=8M
export DSYNC_PASSPHRASE="anchor blossom cactus dolphin ember falcon"
GROUP="kill-t53"
MIB=$((1024 * 1024))

G() { find "$TMP/relay/groups" -path "$TMP/relay/groups/*/$1" -type f 2> /dev/null | wc -l; }
ntmp() { G 'tmp/*'; }
# temp files of plain PUTs: those without an X.len beside them (a resumable
# upload's, kept by design until it completes or 24 h pass)
nplain() {
	local f n=0
	for f in "$TMP"/relay/groups/*/tmp/*; do
		[ -f "$f" ] && [ "${f%.len}" = "$f" ] && [ ! -e "$f.len" ] && n=$((n + 1))
	done
	echo $n
}
npacks() { G 'b/packs/*'; }
# the manifests' names: a device writes SEQ+1 and then deletes SEQ, so the
# count may not change, the names do
manifests() { find "$TMP/relay/groups" -path "$TMP/relay/groups/*/b/devices/*" -type f -printf '%P\n' 2> /dev/null | sort; }

PIDS=()
start_pushes() {
	local d
	PIDS=()
	for d in A B; do
		(cd "$TMP/$d" && HOME="$TMP/home-$d" exec "$DSYNC" sync --quiet --limit-rate 12M < /dev/null) \
			> "$TMP/push-$d.out" 2>&1 &
		PIDS+=($!)
		STARTED_PIDS+=($!)
	done
}
pushes_running() { local p; for p in "${PIDS[@]}"; do kill -0 "$p" 2> /dev/null && return 0; done; return 1; }
wait_pushes() { local p; for p in "${PIDS[@]}"; do wait "$p" 2> /dev/null; done; }

# kill_when "what" COND: starts both pushes, kill -9 of the relay as soon as
# COND holds, restart on the same port and data directory. When both pushes
# end first (a loaded machine), each device gets a new file and they start
# again, up to 3 times.
kill_when() {
	local what=$1 cond=$2 i try d landed=0
	for try in 1 2 3; do
		start_pushes
		for i in $(seq 1 3000); do
			if eval "$cond"; then
				relay_kill
				landed=1
				break
			fi
			pushes_running || break
			sleep 0.01
		done
		wait_pushes
		[ "$landed" = 1 ] && break
		echo "# try $try: the pushes ended before the kill $what:" >&2
		cat "$TMP/push-A.out" "$TMP/push-B.out" | sed 's/^/#   /' | head -4 >&2
		for d in A B; do head -c $((4 * MIB)) /dev/urandom > "$TMP/$d/$d-more$try.bin"; done
	done
	check "kill -9 landed $what" "$landed" = 1
	[ "$landed" = 1 ] || relay_stop
	ok "relay restarted on port $RELAY_PORT ($what)" relay_restart
}

mkdir -p "$TMP/A"
echo "start" > "$TMP/A/start.txt"
ok "relay started" relay_start "$TMP/relay"
GID=$(relay_gid "$GROUP")
ok "A: init --relay" as A init "$TMP/A" --relay "$RELAY_URL" --group "$GROUP" --device-name A
ok "B: join --relay" as B join --relay "$RELAY_URL" --group "$GROUP" "$TMP/B"
for d in A B; do
	for i in 1 2 3; do head -c $((10 * MIB)) /dev/urandom > "$TMP/$d/$d-big$i.bin"; done
done

p0=$(npacks)
kill_when "during a pack's body" '[ "$(ntmp)" -gt 0 ] && [ "$(npacks)" -gt "$p0" ]'
check "no temp file of a plain PUT survives the restart" "$(nplain)" = 0
p1=$(npacks)
kill_when "right after a new pack" '[ "$(npacks)" -gt "$p1" ]'
m2=$(manifests)
kill_when "right after a manifest" '[ "$(manifests)" != "$m2" ]'

# both converge
for round in 1 2 3 4; do
	for d in A B; do on "$d" sync --quiet > "$TMP/sync-$d.out" 2>&1 || true; done
	[ "$(head_id "$TMP/A")" = "$(head_id "$TMP/B")" ] && break
done
check "A and B: same head" "$(head_id "$TMP/A")" = "$(head_id "$TMP/B")"
check "A and B: same files" "$(files_digest "$TMP/A")" = "$(files_digest "$TMP/B")"
check "B has A's 30 MB" "$(sha "$TMP/B/A-big3.bin")" = "$(sha "$TMP/A/A-big3.bin")"
check "A has B's 30 MB" "$(sha "$TMP/A/B-big3.bin")" = "$(sha "$TMP/B/B-big3.bin")"
ok "A: check --read-data" on A check --read-data
ok "B: check --read-data" on B check --read-data

# every listed blob reads back whole
TOKEN=$(sed -n 's/^token //p' "$(relay_creds A)")
python3 - "$RELAY_URL" "$GID" "$TOKEN" > "$TMP/blobs.out" 2>&1 << 'EOF'
import hashlib, sys, urllib.request
url, gid, token = sys.argv[1:]
def get(path):
    r = urllib.request.urlopen(urllib.request.Request(url + "v1/" + gid + "/" + path,
        headers={"Authorization": "Dsync-Token " + token}), timeout=60)
    return r.headers, r.read()
names, after = [], ""
while True:
    _, body = get(".list?limit=1000" + ("&after=" + after if after else ""))
    after = ""
    for line in body.decode().splitlines():
        if line.startswith("next "):
            after = line[5:]
        else:
            names.append(line.split()[0])
    if not after:
        break
bad = 0
for n in names:
    h, body = get(n)
    if h.get("ETag", "").strip('"') != hashlib.blake2b(body, digest_size=32).hexdigest():
        print("damaged:", n)
        bad += 1
print("blobs", len(names), "damaged", bad)
EOF
contains "every blob the relay lists reads back whole" "$TMP/blobs.out" "damaged 0"
sed 's/^/# /' "$TMP/blobs.out" | tail -1
echo "# resumable uploads left on the relay (kept 24 h, their bytes reserved): $(G 'tmp/*.len')"
relay_stop
finish
