#!/bin/bash
# dsync ui: the local dashboard, driven with curl.  Only 127.0.0.1 with a
# Host of 127.0.0.1:PORT or localhost:PORT; the one-time token in the printed
# URL becomes an HttpOnly SameSite=Strict cookie and never works again;
# without the cookie everything is 403; the pages list the registered folder,
# its snapshots and a file's versions; a download gives a version's bytes; a
# POST without or with a wrong CSRF token is 403 and with the right one
# restores (the replaced version stays in the history).
. "$(dirname "$0")/lib.sh"

command -v curl > /dev/null || { echo "1..0 # SKIP no curl"; exit 0; }

mkdir -p "$TMP/A"
echo "first" > "$TMP/A/notes.txt"
ok "init" dsync init "$TMP/A"
ok "snapshot 1" sh -c "cd '$TMP/A' && '$DSYNC' snapshot -m one"
echo "second" > "$TMP/A/notes.txt"
ok "snapshot 2" sh -c "cd '$TMP/A' && '$DSYNC' snapshot -m two"
root=$(cd "$TMP/A" && pwd -P)
first=$(git --git-dir="$TMP/A/.dsync" rev-parse refs/heads/main~1)

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
check "the folder's timeline: 200" "$(code -b "$TMP/jar" "$base/folder?p=$enc_root")" = 200
contains "the timeline has the first snapshot" "$TMP/body" ">first snapshot"
contains "the timeline has snapshot two" "$TMP/body" ">two"
check "a folder not registered: 404" "$(code -b "$TMP/jar" "$base/folder?p=/etc")" = 404

check "the file's versions: 200" "$(code -b "$TMP/jar" "$base/file?p=$enc_root&f=notes.txt")" = 200
contains "the versions list the first" "$TMP/body" "rev=$first"
csrf=$(grep -o 'name=csrf value="[0-9a-f]*"' "$TMP/body" | head -1 | sed 's/.*value="\(.*\)"/\1/')
check "the page holds a CSRF token" ${#csrf} -eq 64

check "download of the first version: 200" "$(code -b "$TMP/jar" "$base/raw?p=$enc_root&f=notes.txt&rev=$first")" = 200
check "it is the first version's bytes" "$(cat "$TMP/body")" = "first"
check "a version that does not exist: 404" \
	"$(code -b "$TMP/jar" "$base/raw?p=$enc_root&f=notes.txt&rev=0000000000000000000000000000000000000000")" = 404

# a restore: POST with the CSRF token only
n0=$(commit_count "$TMP/A")
check "restore by GET: 404" "$(code -b "$TMP/jar" "$base/restore?p=$enc_root&f=notes.txt&rev=$first")" = 404
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
check "restore with the CSRF token: 200" \
	"$(code -b "$TMP/jar" --data-urlencode "p=$root" --data "f=notes.txt&rev=$first&csrf=$csrf" "$base/restore")" = 200
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
