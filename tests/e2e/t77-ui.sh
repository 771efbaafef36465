#!/bin/bash
# dsync ui: the local dashboard, driven with curl.  Only 127.0.0.1 with a
# Host of 127.0.0.1:PORT or localhost:PORT; the one-time token in the printed
# URL becomes an HttpOnly SameSite=Strict cookie and never works again;
# without the cookie everything is 403; the pages list the registered folder,
# its snapshots and a file's versions; a download gives a version's bytes; a
# POST without or with a wrong CSRF token is 403 and with the right one
# restores (the replaced version stays in the history).  The summary's
# devices, remotes and conflicts; /devices; a real conflict (two devices
# through a file:// store) side by side and resolved by POST /resolve; a
# file as it is now (/current) refusing paths out of the folder, links out
# and .dsync; text diffs; the restore preview's facts; the security policy
# on every answer and the script it allows.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min

command -v curl > /dev/null || { echo "1..0 # SKIP no curl"; exit 0; }

mkdir -p "$TMP/A"
echo "first" > "$TMP/A/notes.txt"
ok "init" dsync init "$TMP/A"
ok "snapshot 1" sh -c "cd '$TMP/A' && '$DSYNC' snapshot -m one"
echo "second" > "$TMP/A/notes.txt"
ok "snapshot 2" sh -c "cd '$TMP/A' && '$DSYNC' snapshot -m two"
root=$(cd "$TMP/A" && pwd -P)
first=$(git --git-dir="$TMP/A/.dsync" rev-parse refs/heads/main~1)
second=$(git --git-dir="$TMP/A/.dsync" rev-parse refs/heads/main)

# a folder C (this HOME, registered) and a device D sharing it through a
# file:// store; the same line edited on both: a conflict in C
PASS=$TMP/passphrase
echo "correct horse battery staple" > "$PASS"
mkdir -p "$TMP/C"
printf 'alpha\nbeta\ngamma\n' > "$TMP/C/doc.txt"
printf 'BIN\0one' > "$TMP/C/pic.bin"
echo "list" > "$TMP/C/list.txt"
ok "C: init" sh -c "cd '$TMP' && '$DSYNC' init '$TMP/C' --device-name laptop"
ok "C: remote add" sh -c "cd '$TMP/C' && '$DSYNC' remote add origin 'file://$TMP/store' --passphrase-file '$PASS'"
ok "C: sync (the store gets it)" sh -c "cd '$TMP/C' && '$DSYNC' sync"
ok "D: join" as D join "file://$TMP/store" "$TMP/D" --device-name desk --passphrase-file "$PASS"
sed -i 's/^beta$/beta from laptop/' "$TMP/C/doc.txt"
printf 'BIN\0laptop' > "$TMP/C/pic.bin"
echo "list from laptop" > "$TMP/C/list.txt"
ok "C: snapshot" sh -c "cd '$TMP/C' && '$DSYNC' snapshot -q"
sleep 1.1
sed -i 's/^beta$/beta from desk/' "$TMP/D/doc.txt"
printf 'BIN\0desk' > "$TMP/D/pic.bin"
echo "list from desk" > "$TMP/D/list.txt"
ok03 "D: sync" on D sync
ok03 "C: sync (conflicts)" sh -c "cd '$TMP/C' && '$DSYNC' sync"
croot=$(cd "$TMP/C" && pwd -P)
enc_croot=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "$croot")
doc_copy=$(cd "$TMP/C" && ls | grep '^doc\.sync-conflict-.*\.txt$')
pic_copy=$(cd "$TMP/C" && ls | grep '^pic\.sync-conflict-.*\.bin$')
list_copy=$(cd "$TMP/C" && ls | grep '^list\.sync-conflict-.*\.txt$')
check "C: a text conflict copy" -n "$doc_copy"
check "C: a binary conflict copy" -n "$pic_copy"

fails 2 "a port out of range is a usage error" dsync ui --no-open --port 70000

DISPLAY= WAYLAND_DISPLAY= "$DSYNC" ui --no-open > "$TMP/ui.out" 2> "$TMP/ui.err" &
UI_PID=$!
STARTED_PIDS+=("$UI_PID")
for _ in $(seq 100); do
	grep '^dashboard: ' "$TMP/ui.out" > /dev/null && break
	sleep 0.05
done
url=$(sed -n 's/^dashboard: //p' "$TMP/ui.out")
port=$(echo "$url" | sed -n 's|^http://127\.0\.0\.1:\([0-9]*\)/?token=[0-9a-f]\{64\}$|\1|p')
check "the URL is 127.0.0.1, a port and a 64-hex-digit token" -n "$port"
token=${url##*token=}
base="http://127.0.0.1:$port"

# listens on the loopback address only
check "bound to 127.0.0.1 only" -z "$(ss -ltnH "sport = :$port" 2>/dev/null | awk '{print $4}' | grep -v '^127\.0\.0\.1:')"

fails 2 "a port taken is exit 2" dsync ui --no-open --port "$port"
contains "and says which" "$TMP/err" "cannot listen on 127.0.0.1:$port"

code() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }

check "no token, no cookie: 403" "$(code "$base/")" = 403
check "a wrong token: 403" "$(code "$base/?token=$(printf '%064d' 0)")" = 403
check "a wrong Host: 403 (DNS rebinding)" "$(code -H "Host: evil.example:$port" "$url")" = 403
check "a Host with another port: 403" "$(code -H "Host: 127.0.0.1:1" "$url")" = 403
check "the token by POST: 403" "$(code -X POST "$url")" = 403

# the token, once: a cookie and a redirect to a URL without it
check "the token: 303" "$(code -D "$TMP/hdr" -c "$TMP/jar" "$url")" = 303
tr -d '\r' < "$TMP/hdr" > "$TMP/hdr2"
contains "the redirect leaves the token out" "$TMP/hdr2" "Location: /"
check "the redirect carries no token" -z "$(grep -i '^location:.*token' "$TMP/hdr2")"
setc=$(grep -i '^set-cookie:' "$TMP/hdr2")
check "the cookie is HttpOnly" -n "$(echo "$setc" | grep 'HttpOnly')"
check "the cookie is SameSite=Strict" -n "$(echo "$setc" | grep 'SameSite=Strict')"
check "the token does not work twice" "$(code "$url")" = 403
check "nor with the cookie" "$(code -b "$TMP/jar" "$url")" = 403

# the pages, with the cookie
check "summary: 200" "$(code -b "$TMP/jar" "$base/")" = 200
contains "the summary lists the folder" "$TMP/body" "$root"
contains "the summary says: no remote" "$TMP/body" "this device only"
check "no token in the page" -z "$(grep -- "$token" "$TMP/body")"
check "no external resource in the page" -z "$(grep -Eo '(src|href)="https?://[^"]*' "$TMP/body")"
session=$(awk '$6 == "dsync_ui" {print $7}' "$TMP/jar")
check "the cookie with localhost:PORT as Host: 200" "$(code -H "Cookie: dsync_ui=$session" -H "Host: localhost:$port" "$base/")" = 200
check "the cookie with a wrong Host: 403" "$(code -b "$TMP/jar" -H "Host: attacker:$port" "$base/")" = 403
check "a wrong cookie: 403" "$(code -b "dsync_ui=$(printf '%064d' 0)" "$base/")" = 403

enc_root=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "$root")
enc() { python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# the security policy on every answer, the script it allows
check "summary: 200 (for its headers)" "$(code -D "$TMP/hdr" -b "$TMP/jar" "$base/")" = 200
contains "a Content-Security-Policy" "$TMP/hdr" "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline' 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
check "a 403 has it too" "$(code -D "$TMP/hdr" "$base/")" = 403
contains "the 403's policy" "$TMP/hdr" "Content-Security-Policy: default-src 'none'"
check "no inline script in a page" -z "$(code -b "$TMP/jar" "$base/" > /dev/null; grep -o '<script>' "$TMP/body")"
check "the script: 200" "$(code -D "$TMP/hdr" -b "$TMP/jar" "$base/app.js")" = 200
contains "as JavaScript" "$TMP/hdr" "Content-Type: text/javascript"
contains "it asks before a button with data-confirm" "$TMP/body" "confirm("
check "the script needs the cookie" "$(code "$base/app.js")" = 403
for page in devices "conflicts?p=$enc_root" "diff?p=$enc_root&f=notes.txt&from=$first&to=current" \
	"restore?p=$enc_root&f=notes.txt&rev=$first" "current?p=$enc_root&f=notes.txt"; do
	check "/$page without the cookie: 403" "$(code "$base/$page")" = 403
done

# the summary: both folders, C's devices, its remote, its conflicts
check "summary: 200" "$(code -b "$TMP/jar" "$base/")" = 200
contains "a section per folder" "$TMP/body" "<section class=\"folder\" data-root=\"$croot\">"
contains "C: this device" "$TMP/body" '<li class="device" data-name="laptop">laptop <span class=muted>(this device)</span>'
contains "C: the device desk, last seen" "$TMP/body" '<li class="device" data-name="desk">desk: last seen 20'
contains "C: its remote, last sync" "$TMP/body" '<li class="remote" data-name="origin">origin'
contains "C: the remote has a last sync time" "$TMP/body" ': last sync 20'
contains "C: its conflicts, linked" "$TMP/body" "<a class=\"conflicts\" href=\"/conflicts?p=$enc_croot\">3 conflicts waiting</a>"
contains "the summary reloads itself (with the script)" "$TMP/body" "data-refresh=10"
check "devices: 200" "$(code -b "$TMP/jar" "$base/devices")" = 200
contains "devices: desk in C" "$TMP/body" "<tr class=\"device\" data-name=\"desk\" data-root=\"$croot\">"
contains "devices: laptop in C" "$TMP/body" "<tr class=\"device\" data-name=\"laptop\" data-root=\"$croot\">"

# the conflicts page: both sides, text shown, binary as downloads
check "conflicts: 200" "$(code -b "$TMP/jar" "$base/conflicts?p=$enc_croot")" = 200
contains "a section per conflict" "$TMP/body" "<section class=\"conflict\" data-path=\"doc.txt\" data-copy=\"$doc_copy\">"
contains "the binary one too" "$TMP/body" "<section class=\"conflict\" data-path=\"pic.bin\" data-copy=\"$pic_copy\">"
contains "the file's side" "$TMP/body" '<div class="side file">'
contains "the copy's side" "$TMP/body" '<div class="side copy">'
contains "the copy's device (the earlier save)" "$TMP/body" '<span class=device>laptop</span>'
# the file at the path: by desk, or as the merge left it (devices merge in the order of their random ids)
check "the file: by desk or as the merge left it" \
	-n "$(grep -o '<div class="side file"><h3>The file</h3><p><code>doc.txt</code><br>\(by <span class=device>desk\|as a merge left it\)' "$TMP/body")"
check "both texts shown" "$(grep -c '<pre class="content">alpha' "$TMP/body")" = 2
check "the list's both sides too" "$(grep -c '<pre class="content">list from' "$TMP/body")" = 2
contains "the file's text" "$TMP/body" "beta from laptop"
contains "the copy's text" "$TMP/body" "beta from desk"
contains "the binary: a download" "$TMP/body" "/current?p=$enc_croot&amp;f=$(enc "$pic_copy")"
for k in file copy both; do
	contains "a keep=$k button" "$TMP/body" "<button name=\"keep\" value=\"$k\""
done
check "conflicts in a folder not registered: 404" "$(code -b "$TMP/jar" "$base/conflicts?p=/tmp")" = 404
check "conflicts without the cookie: 403" "$(code "$base/conflicts?p=$enc_croot")" = 403

# a file as it is now: only inside the folder, never .dsync, no link out
check "current: the copy's bytes" "$(code -b "$TMP/jar" "$base/current?p=$enc_croot&f=$(enc "$pic_copy")")" = 200
check "current: as on disk" "$(sha256sum < "$TMP/body")" = "$(sha256sum < "$TMP/C/$pic_copy")"
echo secret > "$TMP/outside.txt"
ln -s "$TMP/outside.txt" "$TMP/C/link-out"
ln -s .dsync/config "$TMP/C/link-dsync"
ln -s doc.txt "$TMP/C/link-in"
for bad in ../outside.txt "sub/../../outside.txt" /etc/passwd .dsync/config .dsync ./doc.txt link-out link-dsync "" doc.txt/; do
	check "current '$bad': 404" "$(code -b "$TMP/jar" "$base/current?p=$enc_croot&f=$(enc "$bad")")" = 404
	check "current '$bad': nothing of it" -z "$(grep -e secret -e repositoryformat "$TMP/body")"
done
check "current: a link inside the folder is read" "$(code -b "$TMP/jar" "$base/current?p=$enc_croot&f=link-in")" = 200
check "current: a folder not registered: 404" "$(code -b "$TMP/jar" "$base/current?p=/etc&f=passwd")" = 404
check "current without the cookie: 403" "$(code "$base/current?p=$enc_croot&f=doc.txt")" = 403
rm "$TMP/C/link-out" "$TMP/C/link-dsync" "$TMP/C/link-in"

# resolving: POST only, CSRF, a real conflict only; then the folder and the history
nC=$(commit_count "$TMP/C")
code -b "$TMP/jar" "$base/conflicts?p=$enc_croot" > /dev/null
csrf=$(grep -o 'name=csrf value="[0-9a-f]*"' "$TMP/body" | head -1 | sed 's/.*value="\(.*\)"/\1/')
check "the conflicts page holds the CSRF token" ${#csrf} -eq 64
# pause and resume from the summary: the calls of 'dsync pause' and 'dsync resume'
paused_of() {   # paused_of ROOT: "paused_by" of ROOT in 'dsync status --all --json' (null: not paused)
	"$DSYNC" status --all --json | python3 -c 'import json,sys
for f in json.load(sys.stdin)["folders"]:
    if f["root"] == sys.argv[1]: print(json.dumps(f.get("paused_by")))' "$1"
}
pform() { echo "p=$enc_croot&action=$1${2:+&csrf=$2}"; }
check "summary: 200 (pause)" "$(code -b "$TMP/jar" "$base/")" = 200
contains "C: not watched (no watcher runs)" "$TMP/body" 'data-state="unwatched"'
contains "C: a Pause button" "$TMP/body" '<button name="action" value="pause">Pause</button>'
check "pause without CSRF: 403" "$(code -b "$TMP/jar" --data "$(pform pause)" "$base/pause")" = 403
check "pause with a wrong CSRF: 403" "$(code -b "$TMP/jar" --data "$(pform pause "$(printf '%064d' 0)")" "$base/pause")" = 403
check "pause by GET: 405" "$(code -b "$TMP/jar" "$base/pause?$(pform pause "$csrf")")" = 405
check "pause from another origin: 403" \
	"$(code -b "$TMP/jar" -H "Origin: http://evil.example" --data "$(pform pause "$csrf")" "$base/pause")" = 403
check "refused: not paused" "$(paused_of "$croot")" = null
check "action=stop: 400" "$(code -b "$TMP/jar" --data "$(pform stop "$csrf")" "$base/pause")" = 400
check "pause a folder not registered: 404" "$(code -b "$TMP/jar" --data "p=/tmp&action=pause&csrf=$csrf" "$base/pause")" = 404
check "pause: 303" "$(code -D "$TMP/hdr" -b "$TMP/jar" --data "$(pform pause "$csrf")" "$base/pause")" = 303
check "back to the summary, with a notice" "$(tr -d '\r' < "$TMP/hdr" | sed -n 's/^Location: //p')" = "/?done=paused"
check "dsync status --all: paused by the user" "$(paused_of "$croot")" = '"user"'
check "summary after the pause: 200" "$(code -b "$TMP/jar" "$base/?done=paused")" = 200
contains "it says so" "$TMP/body" '<p class="notice">Paused:'
contains "C: paused" "$TMP/body" 'data-state="paused"'
contains "C: the reason" "$TMP/body" 'paused by the user'
contains "C: a Resume button" "$TMP/body" '<button name="action" value="resume">Resume</button>'
check "resume: 303" "$(code -D "$TMP/hdr" -b "$TMP/jar" --data "$(pform resume "$csrf")" "$base/pause")" = 303
check "dsync status --all: not paused" "$(paused_of "$croot")" = null
check "summary after the resume: 200" "$(code -b "$TMP/jar" "$base/?done=resumed")" = 200
contains "C: a Pause button again" "$TMP/body" '<button name="action" value="pause">Pause</button>'
contains "C: its files kept only here, or none" "$TMP/body" 'class="only-here"'

check "a POST on a page, with the CSRF token: 405" "$(code -b "$TMP/jar" --data "csrf=$csrf" "$base/conflicts")" = 405
rform() { echo "p=$enc_croot&f=$(enc "$1")&copy=$(enc "$2")&keep=$3${4:+&csrf=$4}"; }
check "resolve by GET: 405" "$(code -b "$TMP/jar" "$base/resolve?$(rform doc.txt "$doc_copy" copy "$csrf")")" = 405
check "resolve without CSRF: 403" "$(code -b "$TMP/jar" --data "$(rform doc.txt "$doc_copy" copy)" "$base/resolve")" = 403
check "resolve with a wrong CSRF: 403" \
	"$(code -b "$TMP/jar" --data "$(rform doc.txt "$doc_copy" copy "$(printf '%064d' 0)")" "$base/resolve")" = 403
check "resolve without the cookie: 403" "$(code --data "$(rform doc.txt "$doc_copy" copy "$csrf")" "$base/resolve")" = 403
check "resolve from another origin: 403" \
	"$(code -b "$TMP/jar" -H "Origin: http://evil.example" --data "$(rform doc.txt "$doc_copy" copy "$csrf")" "$base/resolve")" = 403
check "resolve keep=other: 400" "$(code -b "$TMP/jar" --data "$(rform doc.txt "$doc_copy" other "$csrf")" "$base/resolve")" = 400
check "resolve a copy of another file: 404" \
	"$(code -b "$TMP/jar" --data "$(rform doc.txt "$pic_copy" copy "$csrf")" "$base/resolve")" = 404
check "resolve ../: 404" "$(code -b "$TMP/jar" --data "$(rform ../doc.txt "../$doc_copy" copy "$csrf")" "$base/resolve")" = 404
check "resolve in a folder not registered: 404" \
	"$(code -b "$TMP/jar" --data "p=/tmp&f=doc.txt&copy=$(enc "$doc_copy")&keep=copy&csrf=$csrf" "$base/resolve")" = 404
check "nothing resolved" -f "$TMP/C/$doc_copy"
check "no snapshot made" "$(commit_count "$TMP/C")" = "$nC"
check "resolve doc.txt keeping the copy: 303" \
	"$(code -D "$TMP/hdr" -b "$TMP/jar" --data "$(rform doc.txt "$doc_copy" copy "$csrf")" "$base/resolve")" = 303
check "to the conflicts page with a notice" \
	"$(tr -d '\r' < "$TMP/hdr" | sed -n 's/^Location: //p')" = "/conflicts?p=$enc_croot&done=copy"
check "doc.txt is the copy's version" "$(sed -n 2p "$TMP/C/doc.txt")" = "beta from laptop"
check "the copy is gone" ! -e "$TMP/C/$doc_copy"
check "the resolution is a snapshot" "$(commit_count "$TMP/C")" -gt "$nC"
check "the other version stays in the history" \
	"$(git --git-dir="$TMP/C/.dsync" log --format=%H refs/heads/main | while read -r c; do
		git --git-dir="$TMP/C/.dsync" show "$c:doc.txt"; done | grep -c '^beta from desk$')" -ge 1
check "the page after: 200" "$(code -b "$TMP/jar" "$base/conflicts?p=$enc_croot&done=copy")" = 200
contains "with the notice" "$TMP/body" '<p class="notice">Resolved'
contains "two conflicts left" "$TMP/body" "2 conflicts waiting"
list_now=$(cat "$TMP/C/list.txt")
check "resolve list.txt keeping the file: 303" \
	"$(code -b "$TMP/jar" --data "$(rform list.txt "$list_copy" file "$csrf")" "$base/resolve")" = 303
check "list.txt as it was" "$(cat "$TMP/C/list.txt")" = "$list_now"
check "its copy is gone" ! -e "$TMP/C/$list_copy"
check "a done= not known shows nothing" \
	"$(code -b "$TMP/jar" "$base/conflicts?p=$enc_croot&done=%3Cb%3Ehi"; grep -c 'class="notice"\|<b>hi' "$TMP/body")" = "2000"
check "resolve pic.bin keeping both: 303" \
	"$(code -b "$TMP/jar" --data "$(rform pic.bin "$pic_copy" both "$csrf")" "$base/resolve")" = 303
check "both pictures are there, the copy under a plain name" \
	"$(ls "$TMP/C" | grep -c '^pic.*\.bin$')-$(ls "$TMP/C" | grep -c 'sync-conflict')" = "2-0"
check "no conflict waits now" "$(code -b "$TMP/jar" "$base/" > /dev/null; grep -c 'class="conflicts"' "$TMP/body")" = 0

check "the folder's timeline: 200" "$(code -b "$TMP/jar" "$base/folder?p=$enc_root")" = 200
contains "the timeline has the first snapshot" "$TMP/body" ">first snapshot"
contains "the timeline has snapshot two" "$TMP/body" ">two"
check "a folder not registered: 404" "$(code -b "$TMP/jar" "$base/folder?p=/etc")" = 404

check "the file's versions: 200" "$(code -b "$TMP/jar" "$base/file?p=$enc_root&f=notes.txt")" = 200
contains "the versions list the first" "$TMP/body" "rev=$first"
contains "a row per version, with its full id" "$TMP/body" "<tr class=\"version\" data-rev=\"$first\">"
contains "a restore link to the preview" "$TMP/body" "<a class=\"restore\" href=\"/restore?p=$enc_root&amp;f=notes.txt&amp;rev=$first\">"
contains "a diff with the previous version" "$TMP/body" "<a class=\"diff-prev\" href=\"/diff?p=$enc_root&amp;f=notes.txt&amp;from=$first&amp;to=$second\">"
contains "the diff picker" "$TMP/body" '<form id=pick method=get action="/diff">'
contains "picked by default: the newest version to the file now" "$TMP/body" "value=\"$second\" checked aria-label=from>"
check "before= not a time: 400" "$(code -b "$TMP/jar" "$base/file?p=$enc_root&f=notes.txt&before=x")" = 400
check "before= a time after both: both versions" \
	"$(code -b "$TMP/jar" "$base/file?p=$enc_root&f=notes.txt&before=$(($(date +%s) + 100))"; grep -o 'class="version"' "$TMP/body" | wc -l)" = "2002"
check "before= 1970: none" \
	"$(code -b "$TMP/jar" "$base/file?p=$enc_root&f=notes.txt&before=1"; grep -o 'class="version"' "$TMP/body" | wc -l)" = "2000"

# the diff between two versions, and to the file now
check "diff: 200" "$(code -b "$TMP/jar" "$base/diff?p=$enc_root&f=notes.txt&from=$first&to=$second")" = 200
contains "diff: removed line" "$TMP/body" "<del>-first</del>"
contains "diff: added line" "$TMP/body" "<ins>+second</ins>"
contains "diff: in a pre" "$TMP/body" '<pre class="diff">'
echo "<b>now</b>" > "$TMP/A/notes.txt"
check "diff to the file now: 200" "$(code -b "$TMP/jar" "$base/diff?p=$enc_root&f=notes.txt&from=$second&to=current")" = 200
contains "diff to now: escaped" "$TMP/body" "<ins>+&lt;b&gt;now&lt;/b&gt;</ins>"
check "diff without to=: 400" "$(code -b "$TMP/jar" "$base/diff?p=$enc_root&f=notes.txt&from=$first")" = 400
check "diff from a version that does not exist: 404" \
	"$(code -b "$TMP/jar" "$base/diff?p=$enc_root&f=notes.txt&from=$(printf '%040d' 0)&to=$second")" = 404
for bad in ../notes.txt .dsync/config /etc/passwd "a/../notes.txt"; do
	check "diff of '$bad': 404" "$(code -b "$TMP/jar" "$base/diff?p=$enc_root&f=$(enc "$bad")&from=$first&to=current")" = 404
	check "download of '$bad': 404" "$(code -b "$TMP/jar" "$base/raw?p=$enc_root&f=$(enc "$bad")&rev=$first")" = 404
	check "versions of '$bad': 404" "$(code -b "$TMP/jar" "$base/file?p=$enc_root&f=$(enc "$bad")")" = 404
done
check "diff in a folder not registered: 404" "$(code -b "$TMP/jar" "$base/diff?p=/etc&f=passwd&from=$first&to=$second")" = 404
check "binary diff: 200" "$(code -b "$TMP/jar" "$base/diff?p=$enc_croot&f=pic.bin&from=$(git_of C rev-list --max-parents=0 refs/heads/main)&to=HEAD")" = 200
contains "a binary diff says so" "$TMP/body" "A binary file"

# the restore preview: what is replaced (with changes not yet snapshotted), what comes back
check "preview: 200" "$(code -b "$TMP/jar" "$base/restore?p=$enc_root&f=notes.txt&rev=$first")" = 200
contains "preview: what is replaced" "$TMP/body" '<section id="replaced">'
contains "preview: its size" "$TMP/body" "<span class=size>$(stat -c %s "$TMP/A/notes.txt") B</span>"
contains "preview: it has changes not yet snapshotted" "$TMP/body" "class=unsaved"
contains "preview: what comes back" "$TMP/body" '<section id="bringing">'
contains "preview: 6 bytes back" "$TMP/body" "<span class=size>6 B</span>"
contains "preview: its device" "$TMP/body" "<span class=device>"
contains "preview: the confirm form" "$TMP/body" '<form id="confirm-restore" method=post action="/restore">'
contains "preview: the confirm button" "$TMP/body" '<button id="restore-confirm"'
csrf=$(grep -o 'name=csrf value="[0-9a-f]*"' "$TMP/body" | head -1 | sed 's/.*value="\(.*\)"/\1/')
check "the page holds a CSRF token" ${#csrf} -eq 64
check "nothing changed by the preview" "$(cat "$TMP/A/notes.txt")" = "<b>now</b>"
ok "A: snapshot the edit" sh -c "cd '$TMP/A' && '$DSYNC' snapshot -q"
check "preview after the snapshot: 200" "$(code -b "$TMP/jar" "$base/restore?p=$enc_root&f=notes.txt&rev=$first")" = 200
contains "preview: now saved" "$TMP/body" "class=saved"
echo "second" > "$TMP/A/notes.txt"
ok "A: back to second" sh -c "cd '$TMP/A' && '$DSYNC' snapshot -q"
check "preview of a version not of this file: 404" \
	"$(code -b "$TMP/jar" "$base/restore?p=$enc_root&f=notes.txt&rev=$(printf '%040d' 0)")" = 404
check "preview of ../: 404" "$(code -b "$TMP/jar" "$base/restore?p=$enc_root&f=../notes.txt&rev=$first")" = 404
check "preview in a folder not registered: 404" "$(code -b "$TMP/jar" "$base/restore?p=/etc&f=notes.txt&rev=$first")" = 404

check "download of the first version: 200" "$(code -b "$TMP/jar" "$base/raw?p=$enc_root&f=notes.txt&rev=$first")" = 200
check "it is the first version's bytes" "$(cat "$TMP/body")" = "first"
check "a version that does not exist: 404" \
	"$(code -b "$TMP/jar" "$base/raw?p=$enc_root&f=notes.txt&rev=0000000000000000000000000000000000000000")" = 404

# a restore: POST with the CSRF token only
n0=$(commit_count "$TMP/A")
check "restore by GET is the preview: nothing done" "$(code -b "$TMP/jar" "$base/restore?p=$enc_root&f=notes.txt&rev=$first"; cat "$TMP/A/notes.txt")" = "200second"
check "restore without CSRF token: 403" \
	"$(code -b "$TMP/jar" --data-urlencode "p=$root" --data "f=notes.txt&rev=$first" "$base/restore")" = 403
check "restore with a wrong CSRF token: 403" \
	"$(code -b "$TMP/jar" --data-urlencode "p=$root" --data "f=notes.txt&rev=$first&csrf=$(printf '%064d' 0)" "$base/restore")" = 403
check "restore with the token but no cookie: 403" \
	"$(code --data-urlencode "p=$root" --data "f=notes.txt&rev=$first&csrf=$csrf" "$base/restore")" = 403
check "restore from another origin: 403" \
	"$(code -b "$TMP/jar" -H "Origin: http://evil.example" --data-urlencode "p=$root" --data "f=notes.txt&rev=$first&csrf=$csrf" "$base/restore")" = 403
# malformed bodies and cookies: refused, and the server goes on
for body in "csrf=%" "csrf=%4" "csrf=%zz" "csrf" "=&&=" "csrf=$csrf%00" "&csrf="; do
	check "a body '$body': 403" "$(code -b "$TMP/jar" --data "$body" "$base/restore")" = 403
done
check "a long cookie: 403" "$(code -H "Cookie: dsync_ui=$(head -c 5000 /dev/zero | tr '\0' a)" "$base/")" = 403
check "no Host: 403" "$(code -H "Host:" -b "$TMP/jar" "$base/")" = 403
check "a body over 64 KiB: 413" "$(head -c 70000 /dev/zero | tr '\0' a | code -b "$TMP/jar" --data-binary @- "$base/restore")" = 413
check "a restore of a path out of the folder: 404" \
	"$(code -b "$TMP/jar" --data-urlencode "p=$root" --data "f=../notes.txt&rev=$first&csrf=$csrf" "$base/restore")" = 404
check "a restore in a folder not registered: 404" \
	"$(code -b "$TMP/jar" --data "p=/tmp&f=notes.txt&rev=$first&csrf=$csrf" "$base/restore")" = 404
check "nothing was restored" "$(cat "$TMP/A/notes.txt")" = "second"
check "no snapshot was made" "$(commit_count "$TMP/A")" = "$n0"
check "restore with the CSRF token: 303" \
	"$(code -D "$TMP/hdr" -b "$TMP/jar" --data-urlencode "p=$root" --data "f=notes.txt&rev=$first&csrf=$csrf" "$base/restore")" = 303
check "to the file's page with a notice" \
	"$(tr -d '\r' < "$TMP/hdr" | sed -n 's/^Location: //p')" = "/file?p=$enc_root&f=notes.txt&done=restored"
check "which says so" "$(code -b "$TMP/jar" "$base/file?p=$enc_root&f=notes.txt&done=restored"; grep -c '<p class="notice">Restored' "$TMP/body")" = 2001
check "the file is the first version again" "$(cat "$TMP/A/notes.txt")" = "first"
check "the restore was recorded" "$(commit_count "$TMP/A")" -gt "$n0"
check "the replaced version is still in the history" \
	"$(git --git-dir="$TMP/A/.dsync" log --format=%H refs/heads/main | while read -r c; do
		git --git-dir="$TMP/A/.dsync" show "$c:notes.txt"; echo; done | grep -c '^second$')" -ge 1

# SIGTERM ends it
kill -TERM "$UI_PID"
for _ in $(seq 100); do
	kill -0 "$UI_PID" 2>/dev/null || break
	sleep 0.05
done
check "SIGTERM ends dsync ui" ! -d "/proc/$UI_PID"
wait "$UI_PID"
check "and it exits 0" $? -eq 0

# a link may open the dashboard at a file: the redirect keeps the page, the
# folder and the file, and drops the token
"$DSYNC" ui --no-open > "$TMP/ui2.out" 2> "$TMP/ui2.err" &
UI_PID=$!
STARTED_PIDS+=("$UI_PID")
for _ in $(seq 100); do
	grep '^dashboard: ' "$TMP/ui2.out" > /dev/null && break
	sleep 0.05
done
url=$(sed -n 's/^dashboard: //p' "$TMP/ui2.out")
base=${url%%/?token=*}
token=${url##*token=}
check "the token at a file's page: 303" \
	"$(code -D "$TMP/hdr" -c "$TMP/jar2" "$base/file?p=$enc_root&f=notes.txt&token=$token")" = 303
check "to that page without the token" \
	"$(tr -d '\r' < "$TMP/hdr" | sed -n 's/^Location: //p')" = "/file?p=$enc_root&f=notes.txt"
check "which the cookie opens" "$(code -b "$TMP/jar2" "$base/file?p=$enc_root&f=notes.txt")" = 200
contains "with the file's versions" "$TMP/body" "rev=$first"
kill -INT "$UI_PID"
wait "$UI_PID"
check "SIGINT ends it too, exit 0" $? -eq 0

finish
