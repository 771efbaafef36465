#!/bin/bash
# Passphrases: where they come from and what a change does.
#
# - A passphrase file is read as one bounded line: /dev/zero, a file of one
#   huge line, a FIFO nobody writes to all fail at once (exit 5) instead of
#   growing without end or waiting forever; a FIFO or pipe that is written to
#   (<(...), /dev/stdin) works; a folder is named as one.
# - An empty passphrase is one error (exit 5, one message) whether it came
#   from a file, $DSYNC_PASSPHRASE or the terminal; an empty new one too.
# - Ctrl-C at the terminal prompt gives the terminal its echo back.
# - $DSYNC_PASSPHRASE with a line break: its first line, as a file's.
# - dsync passphrase says truthfully what it did: the key is re-sealed, not
#   replaced, and a copy of the old key blob still opens with the old
#   passphrase (shown here).
# - A passphrase change killed before its new key blob is in place leaves a
#   temporary file in keys/; a later push (any store write) sweeps it once
#   it is over an hour old, and leaves a young one (a put in progress) alone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_TEST_SLOW

R=$TMP/store
PASS=$TMP/pass
NEW=$TMP/new
echo "right passphrase" > "$PASS"
echo "new passphrase" > "$NEW"

# Each device X: folder $TMP/X, HOME $TMP/home-X; no terminal unless said.
err_line() { grep '^dsync: error: ' "$TMP/err" | tr -d '\r'; }

# bounded CMD...: CMD under a 20 s timeout and (unless the binary is a
# sanitizer build, which needs a huge address space) a 2 GiB memory limit,
# so that a reader without bounds fails here instead of eating the machine
bounded() {
	if [[ $(ldd "$DSYNC" 2> /dev/null) = *lib[at]san* ]]; then
		timeout -s KILL 20 "$@"
	else
		(ulimit -v 2097152 && exec timeout -s KILL 20 "$@")
	fi
}

# on a terminal: CMD runs under script(1); INPUT is typed a second later
# (after the prompt turned echo off)
typed() {
	local input=$1; shift
	(sleep 1; printf '%s' "$input"; sleep 2) | script -qec "$(printf '%q ' "$@")" /dev/null
}

mkdir -p "$TMP/A"
echo "a file" > "$TMP/A/a.txt"
ok "A: init" as A init "$TMP/A" --device-name alpha
ok "A: remote add (a new store)" on A remote add origin "$R" --passphrase-file "$PASS"
ok "A: push" on A push -q

# ---------------------------------------------------------------------------
# 1. Passphrase files that are not small text files

fails 5 "/dev/zero as the passphrase file: exit 5, at once" bounded "$DSYNC" join "$R" "$TMP/Z" \
	--passphrase-file /dev/zero
contains "/dev/zero: says why" "$TMP/err" "NUL byte"
check "/dev/zero: no folder made" ! -e "$TMP/Z"

head -c $((8 * 1024 * 1024)) /dev/zero | tr '\0' x > "$TMP/long"
fails 5 "a passphrase file of one 8 MiB line: exit 5" bounded "$DSYNC" join "$R" "$TMP/Z" --passphrase-file "$TMP/long"
contains "one huge line: says it is too long" "$TMP/err" "longer than 4096 bytes"

{ cat "$PASS"; head -c $((8 * 1024 * 1024)) /dev/urandom; } > "$TMP/pass-then-junk"
ok "the passphrase on the first line of a big file: taken" \
	as B join "$R" "$TMP/B" --passphrase-file "$TMP/pass-then-junk" -q

mkfifo "$TMP/fifo"
T0=$(date +%s)
fails 5 "a FIFO nobody writes to: exit 5" bounded "$DSYNC" join "$R" "$TMP/Z" --passphrase-file "$TMP/fifo"
contains "the FIFO: says nothing wrote to it" "$TMP/err" "nothing wrote to the FIFO"
check "the FIFO: given up on within 15 s" $(($(date +%s) - T0)) -le 15
(sleep 1 && cat "$PASS" > "$TMP/fifo") &
STARTED_PIDS+=($!)
ok "a FIFO written to: taken" as C join "$R" "$TMP/C" --passphrase-file "$TMP/fifo" -q
wait
ok "process substitution: taken" as D join "$R" "$TMP/D" --passphrase-file <(cat "$PASS") -q
ok "a pipe on /dev/stdin: taken" \
	bash -c 'cat "$1" | HOME="$2" "$3" join "$4" "$5" --passphrase-file /dev/stdin -q' \
	_ "$PASS" "$TMP/home-E" "$DSYNC" "$R" "$TMP/E"

mkdir "$TMP/passdir"
fails 5 "a folder as the passphrase file: exit 5" as Z join "$R" "$TMP/Z" --passphrase-file "$TMP/passdir"
contains "a folder: says it is a folder" "$TMP/err" "is a folder"
fails 5 "a missing passphrase file: exit 5" as Z join "$R" "$TMP/Z" --passphrase-file "$TMP/nothing"
contains "a missing file: names it" "$TMP/err" "$TMP/nothing"
check "none of these made a folder" ! -e "$TMP/Z"
check "none of these kept a key" "$(cached_keys Z)" = 0

# ---------------------------------------------------------------------------
# 2. An empty passphrase: one error, whichever way it came

: > "$TMP/empty"
echo > "$TMP/blank"
fails 5 "empty file: exit 5" as Z join "$R" "$TMP/Z" --passphrase-file "$TMP/empty"
E_FILE=$(err_line)
fails 5 "a file with an empty first line: exit 5" as Z join "$R" "$TMP/Z" --passphrase-file "$TMP/blank"
E_BLANK=$(err_line)
fails 5 "DSYNC_PASSPHRASE empty: exit 5" env DSYNC_PASSPHRASE= HOME="$TMP/home-Z" \
	setsid -w "$DSYNC" join "$R" "$TMP/Z" < /dev/null
E_ENV=$(err_line)
fails 5 "DSYNC_PASSPHRASE a line break: exit 5" env DSYNC_PASSPHRASE=$'\n' HOME="$TMP/home-Z" \
	setsid -w "$DSYNC" join "$R" "$TMP/Z" < /dev/null
E_ENVNL=$(err_line)
fails 5 "an empty line typed on the terminal: exit 5" typed $'\n' env HOME="$TMP/home-Z" "$DSYNC" join "$R" "$TMP/Z"
E_TTY=$(grep -h '^dsync: error: ' "$TMP/out" "$TMP/err" | tr -d '\r')  # script(1): all on stdout
echo "# empty passphrase: $E_FILE"
check "empty: says it is empty" -n "$(echo "$E_FILE" | grep 'passphrase.*is empty')"
check "empty: the same error from a blank line" "$E_BLANK" = "$E_FILE"
check "empty: the same error from the environment" "$E_ENV" = "$E_FILE"
check "empty: the same error from a line break in the environment" "$E_ENVNL" = "$E_FILE"
check "empty: the same error from the terminal" "$E_TTY" = "$E_FILE"
check "empty: nothing made" ! -e "$TMP/Z"

# the new passphrase of a new store, and of a change
mkdir -p "$TMP/N"
ok "N: init" as N init "$TMP/N"
fails 5 "a new store, empty new passphrase (file): exit 5" on N remote add o "$TMP/store2" --passphrase-file "$TMP/blank"
N_FILE=$(err_line)
fails 5 "a new store, empty new passphrase (env): exit 5" env DSYNC_PASSPHRASE= HOME="$TMP/home-N" \
	bash -c 'cd "$1" && setsid -w "$2" remote add o "$3" < /dev/null' _ "$TMP/N" "$DSYNC" "$TMP/store2"
check "a new store: the same error both ways" "$(err_line)" = "$N_FILE"
check "a new store: says the new passphrase is empty" -n "$(echo "$N_FILE" | grep 'new passphrase.*is empty')"
fails 5 "passphrase change, empty new one (file): exit 5" \
	on A passphrase --passphrase-file "$PASS" --new-passphrase-file "$TMP/empty"
P_FILE=$(err_line)
fails 5 "passphrase change, empty new one (env): exit 5" env DSYNC_NEW_PASSPHRASE= HOME="$TMP/home-A" \
	bash -c 'cd "$1" && setsid -w "$2" passphrase --passphrase-file "$3" < /dev/null' _ "$TMP/A" "$DSYNC" "$PASS"
check "passphrase change: the same error both ways" "$(err_line)" = "$P_FILE"

# Ctrl-C at the prompt (echo is off then): the terminal gets its echo back,
# and nothing is made
cat > "$TMP/ctrlc.py" << 'EOF'
import os, pty, select, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
buf, end = b"", time.time() + 20
while b"Passphrase" not in buf and time.time() < end:
    if select.select([fd], [], [], 0.2)[0]:
        buf += os.read(fd, 1024)
time.sleep(0.3)
os.write(fd, b"\x03")
_, status = os.waitpid(pid, 0)
echo = termios.tcgetattr(fd)[3] & termios.ECHO
print("prompted" if b"Passphrase" in buf else "no prompt",
      "SIGINT" if os.WIFSIGNALED(status) and os.WTERMSIG(status) == 2 else "status %d" % status,
      "echo on" if echo else "echo off")
EOF
ok "Ctrl-C at the prompt" env HOME="$TMP/home-Z" python3 "$TMP/ctrlc.py" "$DSYNC" join "$R" "$TMP/Z"
check "Ctrl-C at the prompt: ends the command, the terminal echoes again" \
	"$(cat "$TMP/out")" = "prompted SIGINT echo on"
check "Ctrl-C at the prompt: nothing made" ! -e "$TMP/Z"

# ---------------------------------------------------------------------------
# 3. A line break inside $DSYNC_PASSPHRASE: its first line counts

ok "DSYNC_PASSPHRASE 'right\\nmore': its first line opens the store" env DSYNC_PASSPHRASE="right passphrase
a second line" HOME="$TMP/home-F" setsid -w "$DSYNC" join "$R" "$TMP/F" -q < /dev/null
ok "DSYNC_PASSPHRASE ending in CR LF: opens the store" env DSYNC_PASSPHRASE=$'right passphrase\r\n' \
	HOME="$TMP/home-G" setsid -w "$DSYNC" join "$R" "$TMP/G" -q < /dev/null

# ---------------------------------------------------------------------------
# 4. What a passphrase change does and doesn't do

mkdir "$TMP/oldkeys"
cp "$R"/keys/* "$TMP/oldkeys/"
ok "passphrase: changed" on A passphrase --passphrase-file "$PASS" --new-passphrase-file "$NEW"
cp "$TMP/out" "$TMP/changed"
sed 's/^/# /' "$TMP/changed"
check "passphrase: doesn't claim the old one no longer opens the store" \
	-z "$(grep 'no longer opens' "$TMP/changed")"
contains "passphrase: says the key itself is the same" "$TMP/changed" "The key itself is the same"
contains "passphrase: says an old copy still opens with the old one" "$TMP/changed" "still opens with the old one"
fails 5 "the store with the old passphrase: refused" as O join "$R" "$TMP/O" --passphrase-file "$PASS"
# which is all true: an old copy of the store still opens with the old one
cp -a "$R" "$TMP/oldcopy"
rm -f "$TMP/oldcopy"/keys/*
cp "$TMP/oldkeys"/* "$TMP/oldcopy/keys/"
ok "an old copy of the store, old passphrase: opens (the key is unchanged)" \
	as O2 join "$TMP/oldcopy" "$TMP/O2" --passphrase-file "$PASS" -q
ok "the store itself, new passphrase: opens" as P join "$R" "$TMP/P" --passphrase-file "$NEW" -q

# ---------------------------------------------------------------------------
# 5. A killed passphrase change: its temporary key blob is swept

KEYS_BEFORE=$(ls "$R/keys")
(cd "$TMP/A" && HOME="$TMP/home-A" DSYNC_TEST_SLOW=3000 exec "$DSYNC" passphrase --passphrase-file "$NEW" \
	--new-passphrase-file "$PASS" > /dev/null 2>&1) &
PID=$!
STARTED_PIDS+=("$PID")
for _ in $(seq 100); do
	[ -n "$(find "$R/keys" -name '.*.tmp-*')" ] && break
	sleep 0.1
done
kill -9 "$PID" 2> /dev/null
wait "$PID" 2> /dev/null
check "killed passphrase: a temporary key blob left in keys/" -n "$(find "$R/keys" -name '.*.tmp-*')"
check "killed passphrase: the key blobs as they were" "$(ls "$R/keys")" = "$KEYS_BEFORE"
# a young temporary file (a put in progress elsewhere) stays
echo young > "$R/keys/.0123456789abcdef.tmp-00000000"
find "$R/keys" -name '.*.tmp-*' ! -name '*-00000000' -exec touch -d '2 hours ago' {} +
echo "new text" > "$TMP/A/b.txt"
ok "A: push after the killed change" on A push -q
check "the push swept the old temporary key blob" \
	-z "$(find "$R/keys" -name '.*.tmp-*' ! -name '*-00000000')"
check "the push left the young one alone" -e "$R/keys/.0123456789abcdef.tmp-00000000"
rm -f "$R/keys/.0123456789abcdef.tmp-00000000"
ok "the store still opens with the new passphrase" as Q join "$R" "$TMP/Q" --passphrase-file "$NEW" -q
ok "A: check" on A check

finish
