#!/bin/bash
# dsync status --all: the space each remote's store takes as the last round
# saw it (docs/status.md), with no network call, and the files kept only on
# this device. A file:// store's bytes are its manifests and packs on disk;
# a relay's are its group's usage, with the quota (a real relay with
# --quota). Only here: before any push (every file), after a push to one
# of two remotes (none), a new file (one), a change on a second device not
# fetched yet (none: this device's files are held), then fetched; a big
# file (a chunk tree) counts as one; a folder with no holder at all.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/relaylib.sh"
export DSYNC_TEST_KDF=min
export DSYNC_PASSPHRASE="pumpkin cobalt lagoon sparrow engine tundra"

# field "python expr on j": the value on the JSON in $TMP/out, as JSON
field() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(json.dumps(eval(sys.argv[2])))' "$TMP/out" "$1"; }
# rem NAME KEY: the used object's KEY of remote NAME of the first folder
rem() { field "[r['used'] and r['used']['$2'] for r in j['folders'][0]['remotes'] if r['name']=='$1'][0]"; }
# store_size DIR: the bytes of a file:// store's manifests and packs
store_size() { find "$1/devices" "$1/packs" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }

A=$TMP/A
T0=$(date +%s)
ok "A: init" as A init "$A" --device-name alpha
ok "A: remote r1" on A remote add r1 "file://$TMP/r1"
ok "A: remote r2" on A remote add r2 "file://$TMP/r2"
echo "first" > "$A/doc.txt"
mkdir "$A/sub" && echo "x" > "$A/sub/x.txt"
ok "A: snapshot" on A snapshot -m one

# 1. nothing pushed: every file only here, no space known
ok "status --all --json (nothing pushed)" on A status --all --json
check "two files only here" "$(field "j['folders'][0]['only_here']")" = 2
check "their paths, in order" "$(field "j['folders'][0]['only_here_paths']")" = '["doc.txt", "sub/x.txt"]'
check "r1's space not known yet" "$(field "[r['used'] for r in j['folders'][0]['remotes'] if r['name']=='r1'][0]")" = null

# 2. a push to r1 alone
ok "A: push r1" on A push r1 --quiet
ok "status --all --json (pushed to r1)" on A status --all --json
check "none only here (r1 holds them)" "$(field "j['folders'][0]['only_here']")" = 0
check "no paths" "$(field "j['folders'][0]['only_here_paths']")" = '[]'
S1=$(store_size "$TMP/r1")
check "r1's bytes are its manifests and packs ($S1)" "$(rem r1 bytes)" = "$S1"
check "r1's store_bytes the same" "$(rem r1 store_bytes)" = "$S1"
check "no quota for a file:// store" "$(rem r1 quota)" = null
check "when: within this run" "$(rem r1 timestamp)" -ge "$T0"
check "r2 still not known" "$(field "[r['used'] for r in j['folders'][0]['remotes'] if r['name']=='r2'][0]")" = null
ok "status --all (text)" on A status --all
grep -E "^  remote 'r1': .*, used [0-9.]+ (B|KiB) as of [0-9]{2}:[0-9]{2}$" "$TMP/out" > /dev/null
check "text: used N as of HH:MM" $? = 0
contains "text: none only here" "$TMP/out" "  0 files only on this device"

# 3. a new file, not pushed: one only here
echo "new" > "$A/new.txt"
ok "A: snapshot (new.txt)" on A snapshot -m two
ok "status --all --json (new file)" on A status --all --json
check "one file only here" "$(field "j['folders'][0]['only_here']")" = 1
check "it is new.txt" "$(field "j['folders'][0]['only_here_paths']")" = '["new.txt"]'
ok "status --all (text, new file)" on A status --all
contains "text: 1 file only here" "$TMP/out" "  1 file only on this device"
# the answer is kept, keyed by the trees it came from, with a checksum
KEPT=$A/.dsync/dsync-onlyhere
check "the answer kept in .dsync/dsync-onlyhere" "$(head -n 1 "$KEPT")" = "dsync-onlyhere 1"
ok "status again: from the kept answer" on A status --all --json
check "still one, new.txt" "$(field "[j['folders'][0]['only_here'], j['folders'][0]['only_here_paths']]")" = '[1, ["new.txt"]]'
# keep_file KEY COUNT PATH...: a well-formed kept answer (its checksum right)
keep_file() {
	python3 - "$KEPT" "$@" <<'PY'
import hashlib, sys
path, key, count, *paths = sys.argv[1:]
body = b"dsync-onlyhere 1\n" + key.encode() + b"\n" + count.encode() + b"\n" + b"".join(p.encode() + b"\0" for p in paths)
open(path, "wb").write(body + hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest().encode())
PY
}
KEY=$(sed -n 2p "$KEPT")
keep_file "$KEY" 1 kept.txt
ok "status with an answer kept for these trees" on A status --all --json
check "it is what is read" "$(field "j['folders'][0]['only_here_paths']")" = '["kept.txt"]'
sed -i 's/kept\.txt/kept.txx/' "$KEPT"
ok "status with a path changed (checksum wrong)" on A status --all --json
check "not taken: new.txt" "$(field "j['folders'][0]['only_here_paths']")" = '["new.txt"]'
keep_file "$(printf '%040d' 0)" 5 a b c d e
ok "status with an answer kept for other trees" on A status --all --json
check "not taken: one" "$(field "j['folders'][0]['only_here']")" = 1
check "the kept answer replaced (this key again)" "$(sed -n 2p "$KEPT")" = "$KEY"
keep_file "$KEY" 3 a
ok "status with a kept answer whose paths fall short of its count" on A status --all --json
check "not taken: one" "$(field "j['folders'][0]['only_here']")" = 1
echo "secret" > "$TMP/elsewhere"
rm -f "$KEPT" && ln -s "$TMP/elsewhere" "$KEPT"
ok "status with a symbolic link in its place" on A status --all --json
check "not followed: one" "$(field "j['folders'][0]['only_here']")" = 1
check "the file it pointed to untouched" "$(cat "$TMP/elsewhere")" = secret
check "the link replaced by the answer" "$(test -L "$KEPT" || head -n 1 "$KEPT")" = "dsync-onlyhere 1"
ok "A: push r2" on A push r2 --quiet
ok "status --all --json (pushed to r2)" on A status --all --json
check "none only here after a push to the other remote" "$(field "j['folders'][0]['only_here']")" = 0
check "r2's bytes ($(store_size "$TMP/r2"))" "$(rem r2 bytes)" = "$(store_size "$TMP/r2")"
check "r1's unchanged: no round with it" "$(rem r1 bytes)" = "$S1"

# 4. a second device changes a file and pushes; A has not fetched
ok "A: push r1" on A push r1 --quiet
ok "B: join r1" as B join "file://$TMP/r1" "$TMP/B" --device-name beta
echo "beta's edit" > "$TMP/B/doc.txt"
ok "B: sync" on B sync --quiet
ok "status --all --json (B's edit not fetched)" on A status --all --json
check "none only here: A's versions are on r1 and r2" "$(field "j['folders'][0]['only_here']")" = 0
ok "A: fetch r1" on A fetch r1 --quiet
ok "status --all --json (fetched)" on A status --all --json
check "r1's bytes now count B's manifest and pack ($(store_size "$TMP/r1"))" "$(rem r1 bytes)" = "$(store_size "$TMP/r1")"
check "more than before" "$(rem r1 bytes)" -gt "$S1"
echo "alpha's own" > "$A/sub/mine.txt"
echo "changed here" > "$A/sub/x.txt"
ok "A: snapshot (two more)" on A snapshot -m three
ok "status --all --json (two new versions)" on A status --all --json
check "two only here" "$(field "j['folders'][0]['only_here_paths']")" = '["sub/mine.txt", "sub/x.txt"]'
# a big file (a chunk tree, docs/chunks.md) counts as one file
git_of A config dsync.chunkThreshold 100000
head -c 400000 /dev/urandom > "$A/big.bin"
ok "A: snapshot (a chunked file)" on A snapshot -m four
check "big.bin is a chunk tree" "$(git_of A cat-file -t HEAD:big.bin)" = tree
ok "status --all --json (a chunked file)" on A status --all --json
check "three only here, big.bin once" "$(field "j['folders'][0]['only_here_paths']")" = '["big.bin", "sub/mine.txt", "sub/x.txt"]'
ok "A: push r1" on A push r1 --quiet
printf 'XXXX' | dd of="$A/big.bin" bs=1 seek=200000 conv=notrunc 2> /dev/null
ok "A: snapshot (big.bin changed in the middle)" on A snapshot -m five
ok "status --all --json (big.bin changed)" on A status --all --json
check "big.bin alone only here" "$(field "j['folders'][0]['only_here_paths']")" = '["big.bin"]'

# 5. a relay with a quota: its group's usage and the quota
ok "relay started with --quota 3M" relay_start "$TMP/relay" --quota 3M
GROUP=space-t81
echo "on the relay" > "$TMP/seed.txt"
mkdir -p "$TMP/Q" && cp "$TMP/seed.txt" "$TMP/Q/"
ok "Q: init --relay" as Q init "$TMP/Q" --relay "$RELAY_URL" --group "$GROUP" --device-name quail
head -c 300000 /dev/urandom > "$TMP/Q/big.bin"
ok "Q: sync" on Q sync --quiet
GID=$(relay_gid "$GROUP")
TOKEN=$(sed -n 's/^token //p' "$(relay_creds Q)")
USED=$(rcurl -H "Authorization: Dsync-Token $TOKEN" "${RELAY_URL}v1/$GID/.usage" | sed -n 's/^used //p')
ok "Q: status --all --json" on Q status --all --json
check "the relay's quota (3 MiB)" "$(rem origin quota)" = $((3 * 1024 * 1024))
check "used: the group's usage as the relay says ($USED)" "$(rem origin bytes)" = "$USED"
check "the store's bytes: more than the big file" "$(rem origin store_bytes)" -gt 300000
check "the percent" "$(rem origin percent)" = "$((USED * 100 / (3 * 1024 * 1024)))"
check "none only here on Q" "$(field "j['folders'][0]['only_here']")" = 0
ok "Q: fetch (a round with no push)" on Q fetch --quiet
ok "Q: status --all --json (after the fetch)" on Q status --all --json
check "the quota kept" "$(rem origin quota)" = $((3 * 1024 * 1024))
check "the usage kept ($USED)" "$(rem origin bytes)" = "$USED"
relay_stop
ok "Q: status --all with the relay gone (no network call)" on Q status --all
grep -E "^  remote 'origin': .*, used [0-9.]+ KiB \(of 3\.0 MiB quota, [0-9]+%\) as of [0-9]{2}:[0-9]{2}$" "$TMP/out" > /dev/null
check "text: used N (of 3.0 MiB quota, P%) as of HH:MM" $? = 0

# 6. a folder with no remote, mirror or other device: every file, walked in
# path order (a folder sorts as its name and '/'), a chunked file once, the
# first 100 paths
N=$TMP/N
mkdir -p "$N/a" "$N/many"
for x in a.txt a/b.txt a-b ab; do echo "$x" > "$N/$x"; done
for i in $(seq 1 120); do echo "$i" > "$N/many/f$(printf %03d "$i")"; done
ok "N: init" as N init "$N" --device-name november
git_of N config dsync.chunkThreshold 100000
head -c 400000 /dev/urandom > "$N/a/big.bin"
ok "N: snapshot (a chunked file)" on N snapshot -m big
check "a/big.bin is a chunk tree" "$(git_of N cat-file -t HEAD:a/big.bin)" = tree
ok "N: status --all --json" on N status --all --json
check "125 only here (a/big.bin once)" "$(field "j['folders'][0]['only_here']")" = 125
check "in path order" "$(field "j['folders'][0]['only_here_paths'][:6]")" = \
	'["a-b", "a.txt", "a/b.txt", "a/big.bin", "ab", "many/f001"]'
check "the first 100" "$(field "[len(j['folders'][0]['only_here_paths']), j['folders'][0]['only_here_paths'][-1]]")" = \
	'[100, "many/f095"]'
ok "N: status --all --json again (the kept answer)" on N status --all --json
check "the same" "$(field "[j['folders'][0]['only_here'], len(j['folders'][0]['only_here_paths'])]")" = '[125, 100]'

finish
