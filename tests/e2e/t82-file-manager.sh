#!/bin/bash
# File-manager actions (contrib/file-manager/) and one dashboard per user
# (docs/ui.md): installed by `cmake --install` into a prefix of the test's,
# the Nautilus scripts are run as Nautilus runs them (in the folder shown, the
# selected names as arguments, NAUTILUS_SCRIPT_SELECTED_FILE_PATHS and _URIS
# set) and the Dolphin service menus' Exec lines as KIO runs them (%F: every
# selected path, each one argument). "Keep history" registers the folder;
# "Show versions" and "Restore…" reuse a running `dsync ui` (one server pid,
# a URL that works once and lands on the file's page) or start one in the
# background; names with spaces, quotes, a newline or a leading '-' work; a
# path outside any folder is a one-line error and a desktop notification.
# Then the socket itself: a stale one is replaced, one in a folder others may
# enter is refused, another uid is not answered, a wrong request gets an
# error line, --new and --port start servers of their own.
. "$(dirname "$0")/lib.sh"

command -v curl > /dev/null || { echo "1..0 # SKIP no curl"; exit 0; }
unset DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS

# ---------------------------------------------------------------- installed
BUILD=$(dirname "$DSYNC")
INST=$TMP/inst
ok "cmake --install into a prefix" cmake --install "$BUILD" --prefix "$INST"
export PATH="$INST/bin:$PATH"
KIO=$INST/share/kio/servicemenus
NS=$INST/share/dsync/nautilus-scripts/dsync
check "the helper is installed, executable" -x "$INST/bin/dsync-file-manager"
check "Dolphin's service menu is in share/kio/servicemenus" -f "$KIO/dsync.desktop"
check "and the folders' one" -f "$KIO/dsync-folder.desktop"
for s in "Keep history of this folder" "Show versions" "Restore…"; do
	check "the Nautilus script '$s' is installed, executable" -x "$NS/$s"
done
# desktop-file-validate knows only the freedesktop types: of a KDE service
# menu (Type=Service) it says MimeType and Actions belong to applications.
# Anything else it says is a real fault.
if command -v desktop-file-validate > /dev/null; then
	for d in dsync.desktop dsync-folder.desktop; do
		desktop-file-validate "$KIO/$d" > "$TMP/dfv" 2>&1
		grep -v 'key "\(MimeType\|Actions\)" is present in group "Desktop Entry", but the type is "Service"' \
			"$TMP/dfv" > "$TMP/dfv2"
		check "desktop-file-validate $d: nothing but Type=Service's keys" ! -s "$TMP/dfv2"
		sed 's/^/#   /' "$TMP/dfv2"
	done
else
	fail "desktop-file-validate missing (contrib/install-deps.sh --tests)"
fi

# A private session bus and a monitor of its Notify calls, as t76 has.
BUS_OK=
if command -v dbus-daemon > /dev/null && command -v dbus-monitor > /dev/null; then
	BUS=$(dbus-daemon --session --address="unix:dir=$TMP" --print-address=1 --print-pid=1 --fork --nopidfile) && {
		DBUS_SESSION_BUS_ADDRESS=$(sed -n 1p <<< "$BUS")
		export DBUS_SESSION_BUS_ADDRESS
		STARTED_PIDS+=("$(sed -n 2p <<< "$BUS")")
		dbus-monitor --session "interface='org.freedesktop.Notifications',member='Notify'" > "$TMP/mon" 2>&1 &
		STARTED_PIDS+=("$!")
		for _ in $(seq 100); do
			grep -q NameAcquired "$TMP/mon" && break
			sleep 0.1
		done
		grep -q NameAcquired "$TMP/mon" && BUS_OK=1
	}
fi

# nautilus SCRIPT DIR NAME...: SCRIPT as Nautilus runs it: in DIR, with the
# selected NAMEs as arguments and their paths and URIs in the environment,
# one a line.
nautilus() {
	local script=$1 dir=$2 n paths="" uris=""
	shift 2
	for n; do
		paths+="$dir/$n"$'\n'
		uris+="file://$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "$dir/$n")"$'\n'
	done
	(cd "$dir" && NAUTILUS_SCRIPT_SELECTED_FILE_PATHS=$paths NAUTILUS_SCRIPT_SELECTED_URIS=$uris \
		NAUTILUS_SCRIPT_CURRENT_URI="file://$dir" "$NS/$script" "$@")
}

# dolphin FILE ACTION PATH...: the Exec line of ACTION in service menu FILE
# as KIO runs it: %F is every PATH, each one argument; %f one run per PATH.
dolphin() {
	local file=$KIO/$1 action=$2 exec w rc=0
	local -a words argv
	shift 2
	exec=$(awk -v g="[Desktop Action $action]" '$0 == g { on = 1; next } /^\[/ { on = 0 }
		on && /^Exec=/ { sub(/^Exec=/, ""); print }' "$file")
	# no quoting in our Exec lines: split at spaces is what KIO makes of them
	case $exec in *[\"\'\\\`\$]*) echo "quoting in '$exec'" >&2; return 99 ;; esac
	read -ra words <<< "$exec"
	if [[ " ${words[*]} " == *" %f "* ]]; then
		for p; do
			argv=()
			for w in "${words[@]}"; do [ "$w" = %f ] && argv+=("$p") || argv+=("$w"); done
			"${argv[@]}" || rc=$?
		done
		return $rc
	fi
	argv=()
	for w in "${words[@]}"; do [ "$w" = %F ] && argv+=("$@") || argv+=("$w"); done
	"${argv[@]}"
}

registered() { grep -qxF -- "$(cd "$1" && pwd -P)" "$HOME/.config/dsync/folders"; }
enc() { python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "$1"; }
code() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
# lands URL PAGE: the URL works once, its redirect is PAGE, which the cookie
# opens (its body in $TMP/page)
lands() {
	local url=$1 want=$2 loc
	[ "$(code -D "$TMP/hdr" -c "$TMP/jar" "$url")" = 303 ] || { echo "# not 303: $url" >&2; return 1; }
	loc=$(tr -d '\r' < "$TMP/hdr" | sed -n 's/^Location: //p')
	[ "$loc" = "$want" ] || { echo "# landed on '$loc', not '$want'" >&2; return 1; }
	[ "$(code "$url")" = 403 ] || { echo "# the URL works twice" >&2; return 1; }
	[ "$(code -b "$TMP/jar" "$(base_of "$url")$loc")" = 200 ] || { echo "# the page is not 200" >&2; return 1; }
	cp "$TMP/body" "$TMP/page"
}
urls() { sed -n 's/^dashboard: //p' "$TMP/out"; }
base_of() { echo "${1%%/[a-z?]*}"; }

# ---------------------------------------------------------------- keep
FM=$TMP/fm
mkdir -p "$FM/My Docs" "$FM/shown" "$FM/-dash" "$FM/new"$'\n'"line" "$FM/it's \"quoted\"" "$TMP/outside"
echo "one" > "$FM/My Docs/a file.txt"
echo "dash" > "$FM/My Docs/-x.txt"
echo "nl" > "$FM/My Docs/new"$'\n'"line.txt"
echo "q" > "$FM/My Docs/it's \"q\".txt"
mkdir -p "$FM/My Docs/sub"
echo "deep" > "$FM/My Docs/sub/deep.txt"
echo "x" > "$TMP/outside/x.txt"

ok "Nautilus: Keep history of a selected folder" nautilus "Keep history of this folder" "$FM" "My Docs"
check "it is a dsync folder" -d "$FM/My Docs/.dsync"
check "and registered" "$(registered "$FM/My Docs" && echo yes)" = yes
contains "without a service, it says how to record every save" "$TMP/out" "systemctl --user enable --now dsync"
ok "Nautilus: Keep history with nothing selected keeps the folder shown" nautilus "Keep history of this folder" "$FM/shown"
check "the folder shown is registered" "$(registered "$FM/shown" && echo yes)" = yes
ok "Dolphin: Keep history of three hostile names at once (%F)" \
	dolphin dsync-folder.desktop keep "$FM/-dash" "$FM/new"$'\n'"line" "$FM/it's \"quoted\""
for d in "-dash" "new"$'\n'"line" "it's \"quoted\""; do
	check "registered: $(printf '%q' "$d")" "$(registered "$FM/$d" && echo yes)" = yes
done
ok "a folder kept already: said, not an error" dolphin dsync-folder.desktop keep "$FM/My Docs"
contains "kept already" "$TMP/out" "kept already"
fails 1 "Keep history of a file: exit 1" dolphin dsync-folder.desktop keep "$FM/My Docs/a file.txt"
check "one line on stderr" "$(wc -l < "$TMP/err")" -eq 1
contains "saying it is not a folder" "$TMP/err" "is not a folder"
fails 1 "Keep history of a folder inside a dsync folder: exit 1" \
	nautilus "Keep history of this folder" "$FM/My Docs" sub
check "one line" "$(wc -l < "$TMP/err")" -eq 1
contains "dsync's reason" "$TMP/err" "Cannot keep the history of sub"
ok "snapshot" sh -c "cd '$FM/My Docs' && '$DSYNC' snapshot -m two"
ROOT=$(cd "$FM/My Docs" && pwd -P)
EROOT=$(enc "$ROOT")

# ---------------------------------------------------------------- show, reused
"$DSYNC" ui --no-open > "$TMP/ui.out" 2> "$TMP/ui.err" &
UI_PID=$!
STARTED_PIDS+=("$UI_PID")
for _ in $(seq 100); do
	grep -q '^dashboard: ' "$TMP/ui.out" && break
	sleep 0.05
done
first=$(sed -n 's/^dashboard: //p' "$TMP/ui.out")
check "dsync ui --no-open runs" -n "$first"
BASE=$(base_of "$first")

ok "Nautilus: Show versions of a file, with dsync ui running" nautilus "Show versions" "$ROOT" "a file.txt"
contains "it reuses that one" "$TMP/out" "reusing the dashboard running as pid $UI_PID"
url=$(urls)
check "at the same server" "$(base_of "$url")" = "$BASE"
ok "the URL works once and lands on the file's versions" lands "$url" "/file?p=$EROOT&f=a%20file.txt"

ok "Nautilus: Show versions of three hostile names at once" \
	nautilus "Show versions" "$ROOT" "-x.txt" "new"$'\n'"line.txt" "it's \"q\".txt"
check "three URLs" "$(urls | wc -l)" -eq 3
check "all from the one server" "$(grep -c "reusing the dashboard running as pid $UI_PID" "$TMP/out")" -eq 3
mapfile -t U < <(urls)
ok "the leading dash" lands "${U[0]}" "/file?p=$EROOT&f=-x.txt"
ok "the newline" lands "${U[1]}" "/file?p=$EROOT&f=new%0Aline.txt"
ok "the quotes" lands "${U[2]}" "/file?p=$EROOT&f=it%27s%20%22q%22.txt"
contains "the page is that file's" "$TMP/page" "it&#39;s"

ok "Dolphin: Restore… on a file (%F)" dolphin dsync.desktop restore "$ROOT/a file.txt"
ok "lands on its versions" lands "$(urls)" "/file?p=$EROOT&f=a%20file.txt"
ok "Dolphin: Restore… on the folder" dolphin dsync.desktop restore "$ROOT"
ok "lands on its timeline" lands "$(urls)" "/folder?p=$EROOT"
ok "Dolphin: Show versions of a subfolder" dolphin dsync.desktop show "$ROOT/sub"
contains "says the timeline is the whole folder's" "$TMP/out" "sub is a subfolder"
ok "lands on the folder's timeline" lands "$(urls)" "/folder?p=$EROOT"
rm "$FM/My Docs/a file.txt"
ok "dsync ui PATH of a deleted file" dsync ui --no-open "$ROOT/a file.txt"
ok "lands on its versions" lands "$(urls)" "/file?p=$EROOT&f=a%20file.txt"
contains "which still lists the one that was" "$TMP/page" "a file.txt"
ok "dsync ui with a relative PATH, from inside the folder" sh -c "cd '$ROOT/sub' && '$DSYNC' ui --no-open deep.txt"
ok "lands on its versions" lands "$(urls)" "/file?p=$EROOT&f=sub/deep.txt"
ok "and the first URL still works once" lands "$first" "/"

# outside any folder
fails 1 "dsync ui PATH outside any folder: exit 1" dsync ui --no-open "$TMP/outside/x.txt"
check "one line" "$(wc -l < "$TMP/err")" -eq 1
contains "not in a dsync folder" "$TMP/err" "is not in a dsync folder"
fails 1 "Nautilus: Show versions outside any folder: exit 1" nautilus "Show versions" "$TMP/outside" "x.txt"
check "one line" "$(wc -l < "$TMP/err")" -eq 1
contains "naming the file and the reason" "$TMP/err" "Cannot show the versions of x.txt: '$TMP/outside/x.txt' is not in a dsync folder"
if [ -n "$BUS_OK" ]; then
	for _ in $(seq 50); do
		grep -q 'Cannot show the versions of x.txt' "$TMP/mon" && break
		sleep 0.1
	done
	contains "a desktop notification says it" "$TMP/mon" "Cannot show the versions of x.txt"
else
	echo "# no dbus-daemon: the notification is not checked"
fi
fails 2 "dsync ui PATH inside .dsync: a usage error" dsync ui --no-open "$ROOT/.dsync/config"
fails 2 "two PATHs: a usage error" dsync ui --no-open "$ROOT" "$ROOT"
fails 2 "--idle-exit 0: a usage error" dsync ui --no-open --idle-exit 0
fails 2 "--idle-exit -5: a usage error" dsync ui --no-open --idle-exit -5

kill -TERM "$UI_PID"
wait "$UI_PID"
check "the dashboard ends on SIGTERM, exit 0" $? -eq 0
SOCK=$HOME/.cache/dsync/ui.sock
check "and removes its socket" ! -e "$SOCK"

# ---------------------------------------------------------------- show, started
ok "Show versions with no dashboard running starts one" nautilus "Show versions" "$ROOT" "-x.txt"
bg=$(sed -n 's/^running in the background as pid \([0-9]*\).*/\1/p' "$TMP/out")
check "in the background, its pid said" -n "$bg"
STARTED_PIDS+=("${bg:-0}")
check "which runs" -d "/proc/${bg:-0}"
ok "its URL lands on the file" lands "$(urls)" "/file?p=$EROOT&f=-x.txt"
check "its socket is 0600" "$(stat -c %a "$SOCK")" = 600
check "in a folder of 0700" "$(stat -c %a "$HOME/.cache/dsync")" = 700
ok "Show versions again: the background one is asked" dolphin dsync.desktop show "$ROOT/-x.txt"
contains "the same pid" "$TMP/out" "reusing the dashboard running as pid $bg"
ok "its URL works once" lands "$(urls)" "/file?p=$EROOT&f=-x.txt"

# the wire protocol, by hand
sock_say() { python3 - "$SOCK" "$1" << 'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
out = b""
try:
    s.sendall(sys.argv[2].encode())
    while True:
        d = s.recv(4096)
        if not d:
            break
        out += d
except OSError:
    pass  # closed on us: what it says to garbage
sys.stdout.write(out.decode(errors="replace"))
EOF
}
check "'token' gets 'ok PORT TOKEN'" -n "$(sock_say $'token\n' | grep -E '^ok [0-9]+ [0-9a-f]{64}$')"
check "anything else gets an error line" "$(sock_say $'hello\n')" = "error unknown request"
check "a line too long gets nothing" -z "$(sock_say "$(head -c 600 /dev/zero | tr '\0' a)"$'\n')"
check "two lines get nothing" -z "$(sock_say $'token\ntoken\n')"
check "and it still answers" -n "$(sock_say $'token\n' | grep '^ok ')"
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null && [ -x /usr/bin/python3 ]; then
	# let nobody reach the socket, then see that the server does not answer
	chmod 711 "$HOME" "$HOME/.cache" "$HOME/.cache/dsync"
	chmod 666 "$SOCK"
	out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 - "$SOCK" << 'EOF' 2>&1
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(b"token\n")
    print("answer:", s.recv(4096) or "none")
except (BrokenPipeError, ConnectionResetError):
    print("answer: none")  # closed on it
EOF
)
	chmod 700 "$HOME/.cache" "$HOME/.cache/dsync"
	chmod 600 "$SOCK"
	check "another uid that reaches the socket gets no token" "$out" = "answer: none"
	[ "$out" = "answer: none" ] || echo "#   $out"
else
	echo "# not root, or no setpriv or /usr/bin/python3: another uid's connection is not tried"
fi

kill -TERM "$bg"
for _ in $(seq 100); do [ -d "/proc/$bg" ] || break; sleep 0.05; done
check "the background one ends on SIGTERM" ! -d "/proc/$bg"

# five clicks at once with none running: one server
for i in 1 2 3 4 5; do
	"$INST/bin/dsync-file-manager" show "$ROOT/-x.txt" > "$TMP/five.$i" 2>&1 &
	five[i]=$!
done
for i in 1 2 3 4 5; do wait "${five[i]}"; done
bg=$(sed -n 's/^running in the background as pid \([0-9]*\).*/\1/p' "$TMP"/five.*)
for p in $bg; do STARTED_PIDS+=("$p"); done
check "five at once: one starts a server" "$(echo "$bg" | grep -c .)" -eq 1
check "the four others ask it" "$(cat "$TMP"/five.* | grep -c "reusing the dashboard running as pid $bg")" -eq 4
kill -TERM "$bg"
for _ in $(seq 100); do [ -d "/proc/$bg" ] || break; sleep 0.05; done

# ---------------------------------------------------------------- the socket
start_ui() { # start_ui OUT [ARGS]: a dsync ui in the background; sets PID and URL
	local out=$1
	shift
	"$DSYNC" ui --no-open "$@" > "$out" 2> "$out.err" &
	PID=$!
	STARTED_PIDS+=("$PID")
	for _ in $(seq 100); do
		grep -q '^dashboard: ' "$out" && break
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	URL=$(sed -n 's/^dashboard: //p' "$out")
}
start_ui "$TMP/s1"
p1=$PID
{ kill -9 "$p1"; wait "$p1"; } 2>/dev/null
check "kill -9 leaves the socket behind" -S "$SOCK"
start_ui "$TMP/s2"
p2=$PID
check "a new dsync ui starts over the stale socket" -n "$URL"
check "and runs" -d "/proc/$p2"
ok "a later one asks it" dsync ui --no-open "$ROOT/-x.txt"
contains "the new one" "$TMP/out" "reusing the dashboard running as pid $p2"

start_ui "$TMP/s3" --new
p3=$PID
check "--new starts another server though one runs" "$(base_of "$URL")" != "$(base_of "$(sed -n 's/^dashboard: //p' "$TMP/s2")")"
ok "the shared one is still the first" dsync ui --no-open
contains "pid $p2" "$TMP/out" "reusing the dashboard running as pid $p2"
start_ui "$TMP/s4" --port 0
p4=$PID
check "--port starts another server too" -z "$(grep reusing "$TMP/s4")"
check "and it runs" -d "/proc/$p4"
kill -TERM "$p3" "$p4"
wait "$p3" "$p4"
check "the socket is still the shared one's after the others end" -S "$SOCK"
ok "asked again" dsync ui --no-open
contains "pid $p2" "$TMP/out" "reusing the dashboard running as pid $p2"
kill -TERM "$p2"
wait "$p2"

# a folder others may enter is refused: not used, said, and still served
chmod 777 "$HOME/.cache/dsync"
start_ui "$TMP/s5"
p5=$PID
check "dsync ui with the folder 0777 still serves" -n "$URL"
contains "and says it refuses the folder" "$TMP/s5.err" "mode 0777, not 0700"
check "no socket made in it" ! -e "$SOCK"
start_ui "$TMP/s6"
p6=$PID
check "a second one is not sent to the first" -z "$(grep reusing "$TMP/s6")"
kill -TERM "$p5" "$p6"
wait "$p5" "$p6"
# a symlink in its place is refused too
chmod 700 "$HOME/.cache/dsync"
mv "$HOME/.cache/dsync" "$HOME/.cache/real"
ln -s real "$HOME/.cache/dsync"
start_ui "$TMP/s7"
contains "a symlink is refused" "$TMP/s7.err" "it is a symlink"
kill -TERM "$PID"
wait "$PID"

# --idle-exit: a test build's minute is DSYNC_TEST_UI_MINUTE seconds
chmod 700 "$HOME/.cache/real"
rm "$HOME/.cache/dsync"
mv "$HOME/.cache/real" "$HOME/.cache/dsync"
DSYNC_TEST_UI_MINUTE=2 start_ui "$TMP/s8" --idle-exit 2
p8=$PID
sleep 2
ok "a token asked for after 2 s" dsync ui --no-open
asked=$(now_ms)
contains "from the idle one" "$TMP/out" "reusing the dashboard running as pid $p8"
sleep 2
if [ $(($(now_ms) - asked)) -lt 3500 ]; then
	check "keeps it running past its 4 s from the start" -d "/proc/$p8"
else
	echo "# too slow a machine to see it still running"
fi
for _ in $(seq 200); do [ -d "/proc/$p8" ] || break; sleep 0.05; done
check "4 s after the last token it ends by itself" ! -d "/proc/$p8"
wait "$p8"
check "exit 0" $? -eq 0
check "its socket removed" ! -e "$SOCK"

# ---------------------------------------------------------------- setup
ok "dsync-file-manager setup copies the Nautilus scripts" dsync-file-manager setup
for s in "Keep history of this folder" "Show versions" "Restore…"; do
	check "\$HOME/.local/share/nautilus/scripts/dsync/$s, executable" -x "$HOME/.local/share/nautilus/scripts/dsync/$s"
done

finish
