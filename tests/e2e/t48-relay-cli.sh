#!/bin/bash
# The relay from the command line (issue 15; docs/relays.md): a real
# `dsync relay` on 127.0.0.1, `dsync init --relay URL --group NAME` making
# the group, its store and the first push, two more devices joining by the
# group's name (both spellings of join, the name in another case), the three
# converging; a weak passphrase refused with its reason before anything is
# made, a missing --group and a wrong passphrase with their exit codes; the
# kept token and signing key (0600) that let later rounds run without the
# passphrase; `remote set NAME caFile`; `dsync status`'s line per relay
# remote; the quota warning at 90% (once a day) and the push a full quota
# ends.
. "$(dirname "$0")/lib.sh"
export DSYNC_TEST_KDF=min
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE
PASS="gravel idiom unsnap pouch mocker"

# start_relay NAME ARGS...: `dsync relay` on a free port with data in
# $TMP/NAME; sets URL (http://127.0.0.1:PORT/)
start_relay() {
	local name=$1 i pid port=""; shift
	"$DSYNC" relay --listen 127.0.0.1:0 --data "$TMP/$name" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	pid=$!
	STARTED_PIDS+=("$pid")
	for i in $(seq 1 200); do
		port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$TMP/$name.out")
		[ -n "$port" ] && break
		sleep 0.05
	done
	URL="http://127.0.0.1:$port/"
	[ -n "$port" ]
}
# on WHO CMD...: CMD in folder $TMP/WHO as that device's user (HOME $TMP/hWHO)
on() { local who=$1; shift; (export HOME="$TMP/h$who"; cd "$TMP/$who" && "$@"); }
mkdir -p "$TMP/hA" "$TMP/hB" "$TMP/hC" "$TMP/hD"

ok "the relay starts and says where it listens" start_relay relay
R1=$URL

# ---- refusals before anything is made
mkdir -p "$TMP/A"
echo "first" > "$TMP/A/notes.txt"
fails 2 "init --relay without --group" env HOME="$TMP/hA" "$DSYNC" init "$TMP/A" --relay "$R1"
contains "  and says to name the group" "$TMP/err" "is a relay: name the group with --group NAME"
check "  nothing made" ! -e "$TMP/A/.dsync"
fails 2 "a weak passphrase is refused" \
	env HOME="$TMP/hA" DSYNC_PASSPHRASE=password "$DSYNC" init "$TMP/A" --relay "$R1" --group Smith-Family
contains "  with its reason" "$TMP/err" "the passphrase is too weak (about"
contains "  naming the word" "$TMP/err" "the common word 'password'"
contains "  and what to do" "$TMP/err" "use at least 5 random words (or the one dsync offers at a terminal)"
check "  nothing made" ! -e "$TMP/A/.dsync"
check "  no group on the relay" -z "$(ls "$TMP/relay/groups" 2>/dev/null)"
fails 2 "--group without a relay URL" env HOME="$TMP/hA" "$DSYNC" init "$TMP/A" --group Smith-Family
fails 2 "join of a relay without --group" env HOME="$TMP/hB" DSYNC_PASSPHRASE="$PASS" "$DSYNC" join "$R1" "$TMP/B"
contains "  says why" "$TMP/err" "is a relay: name the group with --group NAME"
fails 2 "--group with a file:// store" env HOME="$TMP/hB" "$DSYNC" join "file://$TMP/x" "$TMP/B" --group g
check "  nothing made" ! -e "$TMP/B"

# ---- init --relay: the group, its store, the first push
ok "init --relay --group makes the group and pushes" \
	env HOME="$TMP/hA" DSYNC_PASSPHRASE="$PASS" "$DSYNC" init "$TMP/A" --relay "$R1" --group Smith-Family \
	--device-name laptop
contains "  says the group was made" "$TMP/out" "created the relay group 'Smith-Family'"
contains "  and pushed" "$TMP/out" "pushed "
contains "  and says how to join" "$TMP/out" "dsync join --relay $R1 --group 'Smith-Family'"
check "  remote.origin.url is the relay" "$(git --git-dir="$TMP/A/.dsync" config remote.origin.url)" = "$R1"
check "  remote.origin.group as typed" "$(git --git-dir="$TMP/A/.dsync" config remote.origin.group)" = "Smith-Family"
ok "remote list" on A "$DSYNC" remote list
check "  names the group" "$(cat "$TMP/out")" = "$(printf 'origin\t%s\tgroup Smith-Family' "$R1")"
KEYS=$(find "$TMP/hA/.config/dsync/relay" -type f)
check "  one kept key file" "$(echo "$KEYS" | wc -l)" = 1
check "  under GROUP-ID/DEVICE-ID" "$(basename "$KEYS")" = "$(git --git-dir="$TMP/A/.dsync" config dsync.deviceId)"
check "  mode 0600" "$(stat -c %a "$KEYS")" = 600
check "  token and signing key only" \
	"$(sed -e 's/^token [0-9a-f]\{64\}$/T/' -e 's/^sign-key [0-9a-f]\{128\}$/S/' "$KEYS" | tr -d '\n')" = TS
check "  no passphrase in it" -z "$(grep -F "gravel" "$KEYS")"

# ---- two more devices join by the group's name
ok "join --relay URL --group NAME DIR" \
	env HOME="$TMP/hB" DSYNC_PASSPHRASE="$PASS" "$DSYNC" join --relay "$R1" --group smith-family "$TMP/B"
check "  B has A's file" "$(cat "$TMP/B/notes.txt" 2>/dev/null)" = "first"
ok "join URL DIR --group NAME" \
	env HOME="$TMP/hC" DSYNC_PASSPHRASE="$PASS" "$DSYNC" join "$R1" "$TMP/C" --group "  SMITH-family "
check "  C has A's file" "$(cat "$TMP/C/notes.txt" 2>/dev/null)" = "first"
fails 5 "a wrong passphrase is refused" \
	env HOME="$TMP/hD" DSYNC_PASSPHRASE="gravel idiom unsnap pouch mockery" "$DSYNC" join --relay "$R1" \
	--group Smith-Family "$TMP/D"
contains "  naming the relay and the group" "$TMP/err" \
	"relay '$R1' refused group 'Smith-Family': wrong passphrase, or no such group"
check "  nothing made" ! -e "$TMP/D"
fails 5 "no such group is the same refusal" \
	env HOME="$TMP/hD" DSYNC_PASSPHRASE="$PASS" "$DSYNC" join --relay "$R1" --group Jones-Family "$TMP/D"
contains "  the same message" "$TMP/err" "refused group 'Jones-Family': wrong passphrase, or no such group"

# ---- converge, every round without the passphrase (the kept token and key)
echo "from B" > "$TMP/B/b.txt"
echo "from C" > "$TMP/C/c.txt"
echo "second" >> "$TMP/A/notes.txt"
ok "B syncs without a passphrase" on B "$DSYNC" sync --quiet
ok "C syncs" on C "$DSYNC" sync --quiet
ok "A syncs" on A "$DSYNC" sync --quiet
ok "B syncs again" on B "$DSYNC" sync --quiet
ok "C syncs again" on C "$DSYNC" sync --quiet
check "the three converge (A = B)" "$(files_digest "$TMP/A")" = "$(files_digest "$TMP/B")"
check "  (A = C)" "$(files_digest "$TMP/A")" = "$(files_digest "$TMP/C")"
check "  with every change" "$(cat "$TMP/C/b.txt" "$TMP/B/c.txt" "$TMP/B/notes.txt" | tr '\n' ' ')" = \
	"from B from C first second "

# ---- remote set caFile
echo "not really a CA" > "$TMP/ca.pem"
ok "remote set origin caFile FILE" on A "$DSYNC" remote set origin caFile ../ca.pem
check "  kept as an absolute path" "$(git --git-dir="$TMP/A/.dsync" config remote.origin.caFile)" = "$TMP/ca.pem"
fails 2 "a CA file that isn't there is refused" on A "$DSYNC" remote set origin caFile "$TMP/nothing.pem"
ok "remote unset origin caFile" on A "$DSYNC" remote unset origin caFile
check "  gone" -z "$(git --git-dir="$TMP/A/.dsync" config remote.origin.caFile)"

# ---- remote add --group into a folder of its own
mkdir -p "$TMP/E"
ok "a plain folder" env HOME="$TMP/hA" "$DSYNC" init "$TMP/E"
fails 2 "remote add of a relay without --group" on E "$DSYNC" remote add family "$R1"
fails 5 "remote add of a new group with a weak passphrase makes none" env HOME="$TMP/hA" DSYNC_PASSPHRASE=hello123 \
	bash -c 'cd "$1" && "$2" remote add other "$3" --group Other-Family' _ "$TMP/E" "$DSYNC" "$R1"
contains "  says why" "$TMP/err" "(no group is made with this passphrase: the passphrase is too weak"
ok "remote add NAME URL --group NAME" env HOME="$TMP/hA" DSYNC_PASSPHRASE="$PASS" \
	bash -c 'cd "$1" && "$2" remote add family "$3" --group Smith-Family' _ "$TMP/E" "$DSYNC" "$R1"
ok "  and a sync brings the files" env HOME="$TMP/hA" bash -c 'cd "$1" && "$2" sync --quiet' _ "$TMP/E" "$DSYNC"
check "  E = A" "$(files_digest "$TMP/E")" = "$(files_digest "$TMP/A")"

# ---- status: a line per relay remote
ok "status" on A "$DSYNC" status
contains "  the relay remote's usage" "$TMP/out" "remote origin: "
contains "  without a quota" "$TMP/out" "used (no quota)"
ok "status --json" on A "$DSYNC" status --json
contains "  the same fields" "$TMP/out" ',"relays":[{"remote":"origin","used":'
git --git-dir="$TMP/A/.dsync" config remote.origin.url "http://127.0.0.1:1/"
ok "status with the relay unreachable still works" on A "$DSYNC" status
contains "  and says the usage is unknown" "$TMP/out" "remote origin: usage unknown (cannot reach relay 'origin'"
git --git-dir="$TMP/A/.dsync" config remote.origin.url "$R1"
ok "a folder without relay remotes: no such line" bash -c 'cd "$1" && HOME="$2" "$3" init . >/dev/null && HOME="$2" "$3" status' \
	_ "$(mkdir -p "$TMP/F" && echo "$TMP/F")" "$TMP/hA" "$DSYNC"
check "  none" -z "$(grep '^remote ' "$TMP/out")"

# ---- quota: the warning at 90%, once a day; a full quota ends the push
ok "a relay with a 200 KiB quota" start_relay small --quota 200K
R2=$URL
mkdir -p "$TMP/Q"
ok "init --relay on it" env HOME="$TMP/hQ" DSYNC_PASSPHRASE="$PASS" "$DSYNC" init "$TMP/Q" --relay "$R2" \
	--group Quota-Family
ok "status tells the quota" on Q "$DSYNC" status
contains "  used of the quota" "$TMP/out" "of 200.0 KiB ("
USED=$(on Q "$DSYNC" status --json | sed -n 's/.*"used":\([0-9]*\).*/\1/p')
# random bytes don't compress: the pack is about the file's size
head -c $((200 * 1024 * 93 / 100 - USED - 3000)) /dev/urandom > "$TMP/Q/big.bin"
ok "a push to 90-something %" on Q "$DSYNC" sync
contains "  warns" "$TMP/err" "relay 'origin' is 9"
contains "  with the advice" "$TMP/err" "ask its operator for more space or remove old versions"
check "  the time of the warning kept" -s "$TMP/Q/.dsync/dsync-remotes/origin/quota-warned"
echo small > "$TMP/Q/small.txt"
ok "the next push" on Q "$DSYNC" sync
check "  doesn't warn again the same day" -z "$(grep "full (" "$TMP/err")"
head -c $((40 * 1024)) /dev/urandom > "$TMP/Q/more.bin"
fails 1 "a push over the quota fails" on Q "$DSYNC" sync
contains "  with the relay's refusal" "$TMP/err" "relay 'origin' refused the upload: the group's quota (200.0 KiB) is full"

finish
