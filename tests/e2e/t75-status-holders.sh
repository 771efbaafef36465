#!/bin/bash
# dsync status PATH [--json]: which devices, remotes and mirrors hold the
# latest version of a file, as last known here (docs/status.md): after a
# push to one of two file:// remotes, after a third device joins, after a
# new edit (only here again); after a mirror round with a phone (a real
# sshd, mirrorlib.sh; that part is skipped where sshd can't run here).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/mirrorlib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE

PASS=$TMP/passphrase
echo "correct horse battery staple" > "$PASS"
A=$TMP/A
T_START=$(date +%s)

# field F "python expr on j": prints the value of a python expression on
# the JSON in $TMP/out (j), as JSON
field() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(json.dumps(eval(sys.argv[2])))' "$TMP/out" "$1"; }
# holds KIND NAME: whether holder NAME of KIND (devices/remotes/mirrors) holds it
holds() { field "[h['holds'] for h in j['$1'] if h['name']=='$2'][0]"; }

ok "A: init" as A init "$A" --device-name alpha
ok "A: remote r1 (new store)" on A remote add r1 "file://$TMP/r1" --passphrase-file "$PASS"
ok "A: remote r2 (new store)" on A remote add r2 "file://$TMP/r2" --passphrase-file "$PASS"
echo "first" > "$A/doc.txt"
mkdir "$A/sub" && echo "x" > "$A/sub/x.txt"
ok "A: snapshot" on A snapshot -m one

# 1. nothing pushed: only here
ok "status doc.txt --json (nothing pushed)" on A status doc.txt --json
check "valid JSON, one version" "$(field "j['versions']")" = 1
check "it is a file" "$(field "j['type']")" = '"file"'
check "this device holds it" "$(holds devices alpha)" = true
check "this device is marked" "$(field "j['devices'][0]['this_device']")" = true
check "r1 does not hold it yet" "$(holds remotes r1)" = false
check "r2 does not hold it yet" "$(holds remotes r2)" = false
check "only here" "$(field "j['only_here']")" = true
check "latest is the blob" "$(field "j['latest']")" = "\"$(git_of A rev-parse HEAD:doc.txt)\""
ok "status doc.txt (text)" on A status doc.txt
contains "text: only here" "$TMP/out" "only here"
contains "text: not yet on the remotes" "$TMP/out" "not yet on remotes 'r1', 'r2'"

# 2. a push to one of the two remotes
ok "A: push r1" on A push r1 --quiet
ok "status doc.txt --json (pushed to r1)" on A status doc.txt --json
check "r1 holds it after the push" "$(holds remotes r1)" = true
check "r2 still does not" "$(holds remotes r2)" = false
check "no longer only here" "$(field "j['only_here']")" = false
check "r1 has it since the push (a time, not null)" "$(field "[h['since_timestamp'] for h in j['remotes'] if h['name']=='r1'][0] is not None")" = true
T_PUSH=$(field "[h['since_timestamp'] for h in j['remotes'] if h['name']=='r1'][0]")
check "... within this test's run" "$T_PUSH" -ge "$T_START"
check "r2 has no since" "$(field "[h['since'] for h in j['remotes'] if h['name']=='r2'][0]")" = null
check "r1's head is A's head" "$(field "[h['head'] for h in j['remotes'] if h['name']=='r1'][0]")" = "\"$(git_of A rev-parse HEAD)\""
ok "status sub (a folder) --json" on A status sub --json
check "a folder" "$(field "j['type']")" = '"folder'"\""
check "the folder: r1 holds it" "$(holds remotes r1)" = true
ok "status doc.txt (text, pushed)" on A status doc.txt
contains "text: counts" "$TMP/out" "latest version on 1 device, 1 remote"
contains "text: r2 missing" "$TMP/out" "not yet on remote 'r2'"

# 3. two more devices join r1; A fetches their manifests
ok "B: join r1" as B join "file://$TMP/r1" "$TMP/B" --device-name beta --passphrase-file "$PASS"
ok "C: join r1" as C join "file://$TMP/r1" "$TMP/C" --device-name gamma --passphrase-file "$PASS"
ok "A: fetch r1" on A fetch r1 --quiet
IDB=$(git_of B config dsync.deviceId)
IDC=$(git_of C config dsync.deviceId)
# hid KIND ID: whether the holder with id ID holds it
hid() { field "[h['holds'] for h in j['devices'] if h['id']=='$1'][0]"; }
ok "status doc.txt --json (three devices, joined)" on A status doc.txt --json
check "three devices listed" "$(field "len(j['devices'])")" = 3
check "B (just joined) holds it" "$(hid "$IDB")" = true
check "C (just joined) holds it" "$(hid "$IDC")" = true
check "B seen through r1" "$(field "[h['via'] for h in j['devices'] if h['id']=='$IDB'][0]")" = '"r1"'
check "r2 still does not" "$(holds remotes r2)" = false
# once B and C have snapshots of their own, their names are known
echo b > "$TMP/B/b.txt"
echo c > "$TMP/C/c.txt"
ok03 "B: sync" on B sync --quiet
ok03 "C: sync" on C sync --quiet
ok "A: fetch r1 again" on A fetch r1 --quiet
ok "status doc.txt --json (named)" on A status doc.txt --json
check "beta holds it" "$(holds devices beta)" = true
check "gamma holds it" "$(holds devices gamma)" = true
check "beta has it since A's fetch" "$(field "[h['since_timestamp'] for h in j['devices'] if h['name']=='beta'][0] is not None")" = true
check "r1's since unchanged by new devices' heads" "$(field "[h['since_timestamp'] for h in j['remotes'] if h['name']=='r1'][0]")" = "$T_PUSH"
ok "status doc.txt (text, since)" on A status doc.txt
contains "text: since" "$TMP/out" "remote 'r1' has it since"
ok "status doc.txt --json (again)" on A status doc.txt --json
check "beta's id is its device id" "$(field "[h['id'] for h in j['devices'] if h['name']=='beta'][0]")" = "\"$IDB\""
ok "status doc.txt (text, three devices)" on A status doc.txt
contains "text: three devices" "$TMP/out" "latest version on 3 devices, 1 remote"
ok "B: status doc.txt --json" on B status doc.txt --json
check "on B: alpha holds it (read from r1)" "$(holds devices alpha)" = true

# 4. a new version on A: only here again; a push to r2 then holds it
echo "second" > "$A/doc.txt"
ok "A: snapshot 2" on A snapshot -m two
ok "status doc.txt --json (edited)" on A status doc.txt --json
check "two versions" "$(field "j['versions']")" = 2
check "newest >= oldest" "$(field "j['newest_timestamp'] >= j['oldest_timestamp']")" = true
check "beta does not hold the new one" "$(holds devices beta)" = false
check "r1 does not hold the new one" "$(holds remotes r1)" = false
check "only here again" "$(field "j['only_here']")" = true
ok "A: push r2" on A push r2 --quiet
ok "status doc.txt --json (pushed to r2)" on A status doc.txt --json
check "r2 holds the new one" "$(holds remotes r2)" = true
check "r1 still not" "$(holds remotes r1)" = false

# the summary of every registered folder (A's user has one: A)
ok "status --all --json" on A status --all --json
check "one folder, A" "$(field "[x['root'] for x in j['folders']]")" = "[\"$A\"]"
check "its last snapshot is its head" "$(field "j['folders'][0]['head']")" = "\"$(git_of A rev-parse HEAD)\""
check "r2 has the latest snapshot" "$(field "[r['has_latest'] for r in j['folders'][0]['remotes'] if r['name']=='r2'][0]")" = true
check "r1 has not" "$(field "[r['has_latest'] for r in j['folders'][0]['remotes'] if r['name']=='r1'][0]")" = false
check "r1 was synced (a time)" "$(field "[r['last_sync_timestamp'] for r in j['folders'][0]['remotes'] if r['name']=='r1'][0] >= $T_START")" = true
check "no conflict waiting" "$(field "j['folders'][0]['conflicts']")" = 0
ok "status --all (text), from outside any folder" as A status --all
contains "text: the folder" "$TMP/out" "$A (device 'alpha')"
contains "text: r1 behind" "$TMP/out" "remote 'r1': last sync"
contains "text: r2 up to date" "$TMP/out" "has the latest snapshot"

# 5. a deleted file, a path never seen, the old status unchanged
rm "$A/sub/x.txt"
ok "A: snapshot 3" on A snapshot -m three
ok "status sub/x.txt --json (deleted)" on A status sub/x.txt --json
check "deleted: exists false" "$(field "j['exists']")" = false
fails 1 "status of a path never in history" on A status nope.txt --json
ok "status without PATH still lists changes" on A status --json
check "the old object: changes" "$(field "'changes' in j and 'mirrors' in j")" = true

# 6. a mirror: a phone holds what the last round left there
if ssh_can sshd && [ "$(id -u)" = 0 ] && phone_start openssh; then
	ln -sfn "$HOME/.ssh" "$TMP/home-A/.ssh"
	unset DSYNC_SSH
	ok "A: mirror add phone (the whole folder)" on A mirror add phone "$PHONE_URL"
	ok "status doc.txt --json (mirror, no round yet)" on A status doc.txt --json
	check "the mirror is listed, not holding it yet" "$(holds mirrors phone)" = false
	check "its head is null before a round" "$(field "j['mirrors'][0]['head']")" = null
	ok "A: a mirror round" on A mirror sync phone
	check "the phone has the file" "$(cat "$PHONE_DIR/doc.txt" 2> /dev/null)" = second
	ok "status doc.txt --json (after the round)" on A status doc.txt --json
	check "the mirror holds it" "$(holds mirrors phone)" = true
	check "the mirror's id is set" "$(field "len(j['mirrors'][0]['id'])")" = 32
	ok "status doc.txt (text, mirror)" on A status doc.txt
	contains "text: the mirror holds it" "$TMP/out" "mirrors holding it: 'phone'"
	echo "third" > "$A/doc.txt"
	ok "A: snapshot 4" on A snapshot -m four
	ok "status doc.txt --json (edited after the round)" on A status doc.txt --json
	check "the mirror does not hold the new one" "$(holds mirrors phone)" = false
	check "only here once more" "$(field "j['only_here']")" = true
elif [ -n "${CI:-}" ]; then
	fail "under CI the phone's sshd must run"
else
	echo "# skipped the mirror part: no sshd here, or not root"
fi

finish
