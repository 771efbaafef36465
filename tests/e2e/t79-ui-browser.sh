#!/bin/bash
# dsync ui in a real browser: headless Chromium driven over WebDriver
# (chromedriver, ../tools/webdriver.py) against a real `dsync ui` of device A,
# which syncs with device B through a store on a real sshd (sshlib.sh). The
# summary shows both devices and the remote; the devices page both devices; a
# conflict the test made is shown with both versions and resolved by a click
# (the file on disk and the history checked after); an old version is
# restored by clicks through the preview (the replaced version stays in the
# history); a diff page shows the changed lines; a browser without the
# cookie, the used token and a POST with a wrong CSRF token made by the
# page's JavaScript are refused, and change nothing. Screenshots of each page
# go to ${DSYNC_ARTIFACTS:-BUILD/artifacts}/ui/ (CI keeps them), never the
# source tree.
#
# The pages' elements the test relies on (their contract):
#   /                    section.folder[data-root=ROOT], li.device[data-name=NAME],
#                        li.remote[data-name=NAME], a.conflicts while conflicts wait
#   /devices             tr.device[data-name=NAME]
#   /conflicts?p=ROOT    section.conflict[data-path=PATH][data-copy=COPY] with
#                        div.side.file and div.side.copy, each a pre.content;
#                        button[name=keep][value=file|copy|both]
#   /file?p=ROOT&f=PATH  tr.version[data-rev=FULL-ID] with a.restore and a.diff-prev
#   /restore?p&f&rev     #replaced, #bringing, form#confirm-restore (a POST with
#                        csrf) and its button#restore-confirm
#   a diff               pre.diff
#   after an action      p.notice (p.error on errors)
# A confirm dialog a button opens is accepted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/sshlib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_SSH DSYNC_SSH_COMMAND

if [ ! -x "${CHROMEDRIVER:-/usr/bin/chromedriver}" ] || [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
	if [ -n "${CI:-}" ]; then
		fail "under CI chromium and chromedriver are installed (contrib/install-deps.sh --tests)"
	else
		echo "# skipped: no chromium or chromedriver here (apt-get install chromium chromium-driver)"
	fi
	finish
fi

# The browsers are driven by one webdriver.py process for the whole test (its
# 'serve' mode, a coprocess: a Python start for each command would take a
# third of a second on a busy machine). wd CMD ARG... drives the browser with
# the session cookie, wd2 a second one without it; both as 'webdriver.py -s
# STATE CMD ARG...' would, output and exit status included (not in a pipeline:
# bash gives a pipeline's commands no coprocess).
WEBDRIVER="$DSYNC_SRC/tests/tools/webdriver.py"
coproc WD { exec python3 "$WEBDRIVER" serve; }
WD_SERVE_PID=$WD_PID   # bash unsets WD_PID when the coprocess ends
WD_IN=${WD[1]}
WD_OUT=${WD[0]}
STARTED_PIDS+=("$WD_SERVE_PID")
# (lengths in bytes: lib.sh sets LC_ALL=C, so ${#a} and read -N count bytes)
wd_call() {
	local a rc no ne out='' err=''
	{ printf '%d\n' $#; for a; do printf '%d\n%s\n' "${#a}" "$a"; done; } >&"$WD_IN" || return 1
	read -r rc no ne <&"$WD_OUT" || return 1
	[ "$no" = 0 ] || IFS= read -r -d '' -N "$no" out <&"$WD_OUT"
	[ "$ne" = 0 ] || IFS= read -r -d '' -N "$ne" err <&"$WD_OUT"
	printf '%s' "$out"
	printf '%s' "$err" >&2
	return "$rc"
}
wd() { wd_call -s "$TMP/wd.state" "$@"; }
wd2() { wd_call -s "$TMP/wd2.state" "$@"; }

# the browsers, chromedriver and the dashboard stop by pid before lib.sh's
# cleanup removes $TMP (a test stopped by a signal still runs the EXIT trap)
t79_cleanup() {
	local st
	for st in "$TMP/wd.state" "$TMP/wd2.state"; do
		[ -e "$st" ] && python3 "$WEBDRIVER" -s "$st" stop
	done
	[ -z "${UI_PID:-}" ] || kill -TERM "$UI_PID" 2> /dev/null
	# the end of its input ends webdriver.py's serve
	exec {WD_IN}>&- {WD_OUT}<&- 2> /dev/null
	for _ in $(seq 50); do
		kill -0 "${WD_SERVE_PID:-}" 2> /dev/null || break
		sleep 0.1
	done
	sshlib_cleanup   # sshd, then lib.sh's cleanup
}
trap t79_cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

ART=${DSYNC_ARTIFACTS:-$(dirname "$DSYNC")/artifacts}/ui
mkdir -p "$ART"

# shot NAME [wd2]: a screenshot of the page (in the first browser, or the
# second) as $ART/NAME.png, checked to be a PNG (its signature and IHDR read
# back from the file) of the window's width with more in it than a blank page
# (about 4.5 kB)
shot() {
	local f="$ART/$1.png" hex size
	rm -f "$f"
	ok "screenshot $1" "${2:-wd}" shot "$f"
	echo "# screenshot: $f"
	hex=$(od -An -tx1 -N24 "$f" 2> /dev/null | tr -d ' \n')
	size=$(stat -c %s "$f" 2> /dev/null || echo 0)
	check "$1.png: a PNG 1280 pixels wide ($size bytes)" \
		"${hex:0:16}:${hex:24:8}:${hex:32:8}" = "89504e470d0a1a0a:49484452:00000500"
	check "$1.png: more than a blank page" "$size" -gt 5000
}

# seen "what" CSS: an element matches on the current page (the pages are
# plain HTML, there once loaded: a short wait)
seen() { ok "$1" wd wait "$2" 3; }

# text_has "what" CSS TEXT: the first element matching CSS shows TEXT
text_has() {
	local got
	got=$(wd text "$2" 2>&1)
	if [[ "$got" == *"$3"* ]]; then
		pass "$1"
	else
		fail "$1: '$3' not in '$2'"
		echo "$got" | sed 's/^/#   /' | head -10
	fi
}

# status: the HTTP status of the page the browser shows
status() { wd js 'return performance.getEntriesByType("navigation")[0].responseStatus'; }

# version_with D FILE TEXT: the id of a version of FILE in D's history
# ('dsync versions') whose bytes hold TEXT ('dsync show ID:FILE'); empty if none
version_with() {
	local id
	for id in $(on "$1" versions "$2" --json | python3 -c '
import json, sys
for v in json.load(sys.stdin)["versions"]:
	print(v["id"])'); do
		if on "$1" show "$id:$2" 2> /dev/null | grep -F -- "$3" > /dev/null; then
			echo "$id"
			return
		fi
	done
}

urlarg() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# ---------------------------------------------------------------------------
# Two devices, alpha (A) and beta (B), through one store; a conflict waits on A

# the store on an sshd of the test's own, reached through the user's OpenSSH
# client with the test's config (each device's HOME links to its .ssh)
ssh_test_start
ssh_config_host sshd "$SSHD_PORT"
export DSYNC_SSH=openssh DSYNC_SSH_COMMAND="ssh -F $SSH_CONFIG"
for d in A B; do
	mkdir -p "$TMP/home-$d"
	ln -sfn "$HOME/.ssh" "$TMP/home-$d/.ssh"
done
URL=sftp://sshd$TMP/store
PASS=$TMP/passphrase
echo "correct horse battery staple" > "$PASS"
A=$TMP/A
B=$TMP/B
mkdir -p "$A"
printf 'Dear Sam,\nthe plan\nyours\n' > "$A/letter.txt"
echo "notes one" > "$A/notes.txt"
ok "A: init" as A init "$A" --device-name alpha
NOTES1=$(head_id "$A")
echo "notes two, longer" > "$A/notes.txt"
ok "A: snapshot notes two" on A snapshot -m "notes two"
NOTES2=$(head_id "$A")
ok "A: remote add (over ssh)" on A remote add origin "$URL" --passphrase-file "$PASS"
ok "A: push" on A push
ok "B: join" as B join "$URL" "$B" --device-name beta --passphrase-file "$PASS"

# the same line on both: B's edit first, A's a second later, so A's (the
# later head) keeps the path and B's is the conflict copy
sed -i 's/^the plan$/the plan from beta/' "$B/letter.txt"
ok "B: snapshot" on B snapshot -m "beta's plan"
ok03 "B: sync" on B sync
t0=$(date +%s)
while [ "$(date +%s)" = "$t0" ]; do sleep 0.1; done
sed -i 's/^the plan$/the plan from alpha/' "$A/letter.txt"
ok "A: snapshot" on A snapshot -m "alpha's plan"
fails 3 "A: sync leaves a conflict waiting (exit 3)" on A sync
COPY=$(cd "$A" && printf '%s\n' letter.sync-conflict-*.txt)
check "A: one conflict copy" "$(echo "$COPY" | grep -c .)" = 1
check "A: the copy is there" -f "$A/$COPY"
check "A: alpha's text at the path" "$(sed -n 2p "$A/letter.txt")" = "the plan from alpha"
check "A: beta's in the copy" "$(sed -n 2p "$A/$COPY" 2> /dev/null)" = "the plan from beta"
root=$(cd "$A" && pwd -P)

# ---------------------------------------------------------------------------
# The dashboard of A's user, and a browser

(cd "$A" && HOME=$TMP/home-A DISPLAY='' WAYLAND_DISPLAY='' exec "$DSYNC" ui --no-open) \
	> "$TMP/ui.out" 2> "$TMP/ui.err" &
UI_PID=$!
STARTED_PIDS+=("$UI_PID")
for _ in $(seq 100); do
	grep '^dashboard: ' "$TMP/ui.out" > /dev/null && break
	sleep 0.1
done
url=$(sed -n 's/^dashboard: //p' "$TMP/ui.out")
check "dsync ui prints its URL" -n "$url"
base=${url%%/?token=*}

ok "a headless Chromium starts" wd start "$TMP/profile"
STARTED_PIDS+=("$(cat "$TMP/out")")   # chromedriver
[ -s "$TMP/wd.state" ] || { sed 's/^/#   /' "$TMP/wd.state.log" 2> /dev/null | tail -20; finish; }

# (a) the summary: the token becomes a cookie; the folder, both devices, the remote
ok "open the printed URL" wd go "$url"
check "the token's redirect: the summary without the token" "$(wd url)" = "$base/"
check "the summary: 200" "$(status)" = 200
seen "the summary: the folder" "section.folder[data-root=\"$root\"]"
seen "the summary: device alpha" "li.device[data-name=\"alpha\"]"
seen "the summary: device beta" "li.device[data-name=\"beta\"]"
seen "the summary: remote origin" "li.remote[data-name=\"origin\"]"
seen "the summary: a link to the conflicts" "a.conflicts"
shot summary

# (b) the devices page
ok "open /devices" wd go "$base/devices"
seen "devices: alpha" "tr.device[data-name=\"alpha\"]"
seen "devices: beta" "tr.device[data-name=\"beta\"]"
shot devices

# (c) the conflict: both sides shown, resolved by a click on "keep the copy"
ok "back to the summary" wd go "$base/"
ok "click a.conflicts" wd click "a.conflicts"
u=$(wd url)
check "the conflicts page" "${u%%\?*}" = "$base/conflicts"
CONFLICT="section.conflict[data-path=\"letter.txt\"]"
seen "conflicts: letter.txt" "$CONFLICT"
ok "conflicts: its copy" wd attr "$CONFLICT" data-copy
check "conflicts: the copy's name" "$(cat "$TMP/out")" = "$COPY"
text_has "conflicts: the file's side holds alpha's text" "$CONFLICT div.side.file pre.content" "the plan from alpha"
text_has "conflicts: the copy's side holds beta's text" "$CONFLICT div.side.copy pre.content" "the plan from beta"
shot conflicts
n0=$(commit_count "$A")
ok "click keep=copy" wd click "$CONFLICT button[name=keep][value=copy]"
if wd alert text > /dev/null 2>&1; then
	ok "accept the confirm dialog" wd alert accept
fi
seen "the resolve says it is done" "p.notice"
shot resolved
check "on disk: letter.txt holds beta's text" "$(sed -n 2p "$A/letter.txt")" = "the plan from beta"
check "on disk: the copy is gone" ! -e "$A/$COPY"
ok "dsync conflicts after the click" on A conflicts
check "dsync conflicts: none waits" "$(cat "$TMP/out")" = "no conflicts"
check "a new snapshot" "$(commit_count "$A")" -gt "$n0"
git_of A log -1 --format=%s refs/heads/main > "$TMP/subject"
contains "the snapshot says what was resolved" "$TMP/subject" "resolved the conflict at letter.txt"
check "the replaced version (alpha's) is in the history" -n "$(version_with A letter.txt "the plan from alpha")"

# (d) restore by clicks: the timeline, the file's page, the preview, confirm
ok "open the folder's timeline" wd go "$base/folder?p=$(urlarg "$root")"
seen "the timeline links notes.txt" "a[href*=\"f=notes.txt\"]"
shot folder
ok "click notes.txt" wd click "a[href*=\"f=notes.txt\"]"
seen "the file page: the version 'notes one'" "tr.version[data-rev=\"$NOTES1\"]"
seen "the file page: the version 'notes two'" "tr.version[data-rev=\"$NOTES2\"]"
shot file
n0=$(commit_count "$A")
ok "click restore on 'notes one'" wd click "tr.version[data-rev=\"$NOTES1\"] a.restore"
text_has "the preview: what will be replaced (notes two, 18 bytes)" "#replaced" "18 B"
text_has "the preview: what comes back (notes one, 10 bytes)" "#bringing" "10 B"
text_has "the preview: from which snapshot" "#bringing" "${NOTES1:0:12}"
seen "the preview: a confirm button" "form#confirm-restore button#restore-confirm"
shot restore-preview
check "the preview changed nothing on disk" "$(cat "$A/notes.txt")" = "notes two, longer"
check "nor in the history" "$(commit_count "$A")" = "$n0"

# (f, first part) the preview's form posted by the page's JavaScript with a
# wrong CSRF token, and without one: 403, nothing done. (A fetch() would be
# stopped before it leaves: the pages' Content-Security-Policy lets scripts
# connect nowhere; a form may post to this server.)
PREVIEW=$(wd url)
post_form() {   # post_form CSRF|-: the confirm form with csrf replaced (or left out), submitted
	wd js '
		const form = document.querySelector("form#confirm-restore"), csrf = form.querySelector("[name=csrf]");
		if (arguments[0] === "-") csrf.remove(); else csrf.value = arguments[0];
		form.submit();' "$1" > /dev/null && wd wait-url "$base/restore" && status
	wd go "$PREVIEW"
}
fetched=$(wd js-async '
	const done = arguments[arguments.length - 1];
	const form = new URLSearchParams(new FormData(document.querySelector("form#confirm-restore")));
	form.set("csrf", arguments[0]);
	fetch("/restore", {method: "POST", body: form}).then(r => done(r.status), e => done(e.name));' \
	"$(printf '%064d' 0)")
check "a fetch() of a restore with a wrong CSRF token: stopped by the page's policy, or 403 ($fetched)" \
	"$([ "$fetched" = '"TypeError"' ] || [ "$fetched" = 403 ] && echo refused)" = refused
check "the form posted with a wrong CSRF token: 403" "$(post_form "$(printf '%064d' 0)")" = 403
check "the form posted without its CSRF token: 403" "$(post_form -)" = 403
check "refused: the file is as it was" "$(cat "$A/notes.txt")" = "notes two, longer"
check "refused: no snapshot made" "$(commit_count "$A")" = "$n0"
seen "back on the preview" "#restore-confirm"

ok "click restore-confirm" wd click "#restore-confirm"
if wd alert text > /dev/null 2>&1; then
	ok "accept the confirm dialog" wd alert accept
fi
seen "the restore says it is done" "p.notice"
shot restored
check "on disk: 'notes one' is back" "$(cat "$A/notes.txt")" = "notes one"
check "the restore made a snapshot" "$(commit_count "$A")" -gt "$n0"
check "the replaced version ('notes two') is in dsync versions" -n "$(version_with A notes.txt "notes two")"
ok "dsync versions notes.txt" on A versions notes.txt
check "three versions of notes.txt" "$(grep -c . "$TMP/out")" -ge 3

# (e) a diff page: the newest version against the one before
ok "open the file page again" wd go "$base/file?p=$(urlarg "$root")&f=notes.txt"
ok "click a.diff-prev" wd click "tr.version a.diff-prev"
text_has "the diff shows the line removed" "pre.diff" "-notes two, longer"
text_has "the diff shows the line added" "pre.diff" "+notes one"
shot diff

# (f) refusals: the used token again, a browser without the cookie
ok "the used token again" wd go "$url"
check "the used token: 403" "$(status)" = 403
ok "a second headless Chromium (no cookie)" wd2 start "$TMP/profile2"
STARTED_PIDS+=("$(cat "$TMP/out")")
ok "it opens the summary" wd2 go "$base/"
check "without the cookie: 403" "$(wd2 js 'return performance.getEntriesByType("navigation")[0].responseStatus')" = 403
wd2 js 'return document.body.innerText' > "$TMP/body"
contains "and a page saying why" "$TMP/body" "forbidden: open the link"
ok "it opens the used token" wd2 go "$url"
check "the used token, another browser: 403" \
	"$(wd2 js 'return performance.getEntriesByType("navigation")[0].responseStatus')" = 403
shot refused wd2
check "after the refusals: notes.txt as restored" "$(cat "$A/notes.txt")" = "notes one"

ok "the first browser stops" wd stop
ok "the second browser stops" wd2 stop
check "no Chromium of this test left" -z "$(pgrep -f -- "--user-data-dir=$TMP/profile")"
kill -TERM "$UI_PID"
wait "$UI_PID"
check "dsync ui ends on SIGTERM, exit 0" $? -eq 0
UI_PID=
finish
