#!/bin/bash
# --json on every command that lists or reports (status, log, versions,
# conflicts, remote list, mirror list, check): each prints one JSON object on
# stdout and nothing else, parsed here and checked against what the test did
# (files, versions, a conflict made by two devices through a file:// remote,
# a remote, a mirror); a name with a newline, a quote, a backslash and an
# invalid UTF-8 byte comes back exactly (its bytes in "path_bytes"); times
# are RFC 3339 UTC and the same unix seconds; errors stay one line on stderr
# with the same exit status and nothing on stdout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_SSH DSYNC_SSH_COMMAND
export DSYNC_SSH=builtin   # the mirror's host is down: no ssh program needed

R=$TMP/remote
URL=file://$R
PASS=$TMP/pass
echo "the passphrase" > "$PASS"
# the hard name: a newline, a quote, a backslash, the byte 0xff
ODD=$(printf 'we\nird"q\\b\xff.txt')
ODD_HEX=$(printf '%s' "$ODD" | od -An -tx1 | tr -d ' \n')
export ODD_HEX

# json "what" PYTHON: $TMP/out is one JSON document; PYTHON's asserts hold
# on it (d), with the helpers below
json() {
	local what=$1
	if python3 -c '
import datetime, json, os, re, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
def when(o, k="time", ku="timestamp"):
    s = o[k]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s), s
    t = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    assert int(t.timestamp()) == o[ku], (s, o[ku])
    assert abs(o[ku] - int(os.environ["NOW"])) < 3600, o[ku]
    return o[ku]
def name(o, k="path"):
    """the exact bytes of name K of O"""
    if k + "_bytes" in o:
        b = bytes.fromhex(o[k + "_bytes"])
        assert o[k] == b.decode("utf-8", "replace"), (o[k], b)
        return b
    return o[k].encode("utf-8")
ODD = bytes.fromhex(os.environ["ODD_HEX"])
'"$2" "$TMP/out" > "$TMP/py" 2>&1; then
		pass "$what"
	else
		fail "$what"
		sed 's/^/#   /' "$TMP/py" "$TMP/out" | head -20
	fi
}
NOW=$(date +%s)
export NOW TMP

# 1. one device: status, log, versions
mkdir -p "$TMP/A" "$TMP/home-A"
printf 'one\n' > "$TMP/A/a.txt"
printf 'odd v1\n' > "$TMP/A/$ODD"
printf 'fine\n' > "$TMP/A/café.txt"
ok "A: init" as A init A --device-name alpha
ok "A: status --json, nothing changed" on A status --json
json "  one object: no changes, no relays, no mirrors" '
assert d == {"changes": [], "relays": [], "mirrors": []}, d'
printf 'one\ntwo\n' > "$TMP/A/a.txt"
rm "$TMP/A/café.txt"
printf 'new\n' > "$TMP/A/b.txt"
ok "A: status --json" on A status --json
json "  the three changes" '
assert sorted((c["status"], c["path"]) for c in d["changes"]) == \
    [("A", "b.txt"), ("D", "café.txt"), ("M", "a.txt")], d
assert all("path_bytes" not in c for c in d["changes"]), d'
check "  nothing on stderr" ! -s "$TMP/err"
ok "A: snapshot" on A snapshot -m 'second'$'\n\n''a "quoted" body'
printf 'odd v2, longer\n' > "$TMP/A/$ODD"
ok "A: snapshot the odd name" on A snapshot -m third
check "  three snapshots" "$(commit_count "$TMP/A")" = 3
export IDS=$(git_of A rev-list refs/heads/main | tr '\n' ' ')
export BLOB_ODD=$(git_of A rev-parse "HEAD:$ODD")
export BLOB_A=$(git_of A rev-parse HEAD:a.txt)
ok "A: log --json" on A log --json
json "  every snapshot, newest first, with full ids, times and files" '
s = d["snapshots"]
assert [c["id"] for c in s] == os.environ["IDS"].split(), s
for c in s:
    when(c)
    assert c["device"] == "alpha" and re.fullmatch("[0-9a-f]{32}", c["device_id"]), c
    assert isinstance(c["tz_offset"], int), c
assert s[0]["message"] == "third" and s[1]["message"] == "second\n\na \"quoted\" body", s[:2]
assert [(f["status"], name(f)) for f in s[0]["files"]] == [("M", ODD)], s[0]
odd = [f for f in s[0]["files"]][0]
assert odd["path"] == "we\nird\"q\\b\ufffd.txt" and odd["path_bytes"] == os.environ["ODD_HEX"], odd
assert sorted((f["status"], name(f)) for f in s[1]["files"]) == \
    [("A", b"b.txt"), ("D", "café.txt".encode()), ("M", b"a.txt")], s[1]
assert sorted(name(f) for f in s[2]["files"]) == sorted([b"a.txt", ODD, "café.txt".encode()]), s[2]'
contains "  the raw output escapes the name" "$TMP/out" '"path":"we\nird\"q\\b\ufffd.txt","path_bytes":"'"$ODD_HEX"'"'
check "  one line" "$(wc -l < "$TMP/out")" = 1
ok "A: log -n 1 --json PATH" on A log -n 1 --json a.txt
json "  only the snapshot that changed a.txt" '
assert [c["id"] for c in d["snapshots"]] == os.environ["IDS"].split()[1:2], d'
ok "A: versions --json ODD" on A versions --json "$ODD"
json "  the odd name: its two versions, sizes and blobs" '
assert name(d) == ODD, d
v = d["versions"]
assert [x["id"] for x in v] == [os.environ["IDS"].split()[0], os.environ["IDS"].split()[2]], v
assert [x["change"] for x in v] == ["modified", "added"], v
assert [x["size"] for x in v] == [len(b"odd v2, longer\n"), len(b"odd v1\n")], v
assert v[0]["blob"] == os.environ["BLOB_ODD"] and re.fullmatch("[0-9a-f]{40}", v[1]["blob"]), v
assert all(name(x) == ODD and x["mode"] == "100644" and x["device"] == "alpha" for x in v), v
for x in v: when(x)'
ok "A: versions --json of a deleted file" on A versions --json café.txt
json "  deleted then added; no blob for the deletion" '
v = d["versions"]
assert d["path"] == "café.txt" and "path_bytes" not in d, d
assert [x["change"] for x in v] == ["deleted", "added"], v
assert "blob" not in v[0] and "size" not in v[0] and v[1]["size"] == 5, v'
ok "A: versions --json a.txt" on A versions --json a.txt
json "  a.txt: the blob as git has it" '
assert d["versions"][0]["blob"] == os.environ["BLOB_A"] and d["versions"][0]["size"] == 8, d'

# 2. errors: one line on stderr, the same exit status, nothing on stdout
fails 1 "versions --json of a name never in history" on A versions --json nope.txt
check "  nothing on stdout but what parses" "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["versions"])' < "$TMP/out" 2>&1)" = "[]"
check "  one line on stderr" "$(wc -l < "$TMP/err")" = 1
fails 2 "log --json --since garbage: usage, exit 2" on A log --json --since "someday maybe"
check "  nothing on stdout" ! -s "$TMP/out"
fails 2 "remote add --json: refused" on A remote add --json x "$TMP/x"
contains "  says --json goes with list" "$TMP/err" "--json goes with 'remote list'"
fails 2 "push --json: no such option" on A push --json

# 3. a remote: remote list and check
ok "A: remote list --json, none" on A remote list --json
check "  an empty list" "$(cat "$TMP/out")" = '{"remotes":[]}'
ok "A: remote add" on A remote add usb "$URL" --passphrase-file "$PASS"
ok "A: sync" on A sync
ok "A: remote list --json" on A remote list --json
export URL
json "  the remote: name, URL, store id, no group" '
(r,) = d["remotes"]
assert r["name"] == "usb" and r["url"] == os.environ["URL"] and r["group"] is None, r
assert r["store_id"] is None or re.fullmatch("[0-9a-f]+", r["store_id"]), r'
ok "A: check --json" on A check --json
json "  history and the store, all sound" '
assert d["ok"] is True and d["error"] is None and d["remote"] is None, d
h = d["history"]
assert h["walked"] and h["versions"] >= 3 and h["objects"] > h["versions"], h
assert h["problems_total"] == 0 and h["problems"] == [], h
s = d["stores"]
assert s["checked"] == 1 and s["manifests"] == 1 and s["packs"] >= 1 and s["read_data"] is False, s'
check "  no progress nor notes on stderr" ! -s "$TMP/err"
ok "A: check --json --read-data usb" on A check --json --read-data usb
json "  --read-data: packs read" '
assert d["ok"] and d["remote"] == "usb" and d["stores"]["read_data"] is True, d
assert d["stores"]["packs_read"] == d["stores"]["packs"] and d["stores"]["bytes_read"] > 0, d'
fails 1 "check --json nope: no such remote" on A check --json nope
check "  one line on stderr" "$(wc -l < "$TMP/err")" = 1
json "  the object says the error too" '
assert d["ok"] is False and d["remote"] == "nope" and isinstance(d["error"], str) and d["error"], d'

# 4. a conflict on the odd name, made by two devices through the remote
fails 0 "B: join" as B join "$URL" B --device-name beta --passphrase-file "$PASS"
check "B: the odd name came along" "$(cat "$TMP/B/$ODD")" = "odd v2, longer"
ok "B: conflicts --json, none" on B conflicts --json
check "  an empty list" "$(cat "$TMP/out")" = '{"conflicts":[]}'
printf 'alpha wins?\n' > "$TMP/A/$ODD"
ok "A: snapshot" on A snapshot
ok "A: sync" on A sync
sleep 1
printf 'beta wins?\n' > "$TMP/B/$ODD"
ok "B: snapshot" on B snapshot
fails 3 "B: sync: a conflict waits (exit 3)" on B sync
ok "B: conflicts --json" on B conflicts --json
json "  the conflict: the odd path, its copy, the device, the time" '
(k,) = d["conflicts"]
assert name(k) == ODD and k["path_exists"] is True, k
copy = name(k, "copy")
assert copy.startswith(ODD[:-4] + b".sync-conflict-") and copy.endswith(b"-" + k["device"].encode() + b".txt"), k
assert k["device"] in ("alpha", "beta"), k
when(k)
B = os.environ["TMP"].encode() + b"/B/"
mine = {"alpha": b"alpha wins?\n", "beta": b"beta wins?\n"}
assert open(B + copy, "rb").read() == mine[k["device"]], k
assert open(B + ODD, "rb").read() != mine[k["device"]], k'
ok "B: resolve --keep both" on B conflicts resolve "$ODD" --keep both
ok "B: conflicts --json after" on B conflicts --json
check "  none left" "$(cat "$TMP/out")" = '{"conflicts":[]}'

# 5. a mirror (its host down: no round, then a failed one)
git_of A config mirror.phone.url "sftp://nobody@127.0.0.1:1/phone"
git_of A config mirror.phone.path Phone
git_of A config mirror.phone.deviceId 0123456789abcdef0123456789abcdef
ok "A: mirror list --json" on A mirror list --json
json "  the mirror: no round yet" '
(m,) = d["mirrors"]
assert m["name"] == "phone" and m["url"] == "sftp://nobody@127.0.0.1:1/phone" and m["path"] == "Phone", m
assert m["device_id"] == "0123456789abcdef0123456789abcdef" and m["interval"] == 60, m
assert m["last_round"] is None and m["last_round_timestamp"] is None, m
assert m["paused"] is None and m["last_error"] is None and m["kept"] == [], m'
fails 1 "A: mirror sync: the host is down" on A mirror sync phone
ok "A: status --json" on A status --json
json "  status: the remote (no relay) and the mirror with its error" '
assert d["changes"] == [] and d["relays"] == [], d
(m,) = d["mirrors"]
assert m["name"] == "phone" and isinstance(m["last_error"], str) and m["last_error"], m'
check "  one line" "$(wc -l < "$TMP/out")" = 1

finish
