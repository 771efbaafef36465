#!/bin/bash
# Sync housekeeping: a device that pushes after every save consolidates its
# small packs (more than 32) into one and retires the old ones safely; a join
# then downloads a handful of packs. Also: the passphrase asked on a terminal
# (a new one twice, no echo), and progress shown only on a terminal.
. "$(dirname "$0")/lib.sh"
export DSYNC_TEST_KDF=min DSYNC_PASSPHRASE=pass-word

R="$TMP/remote"
on() { local who=$1; shift; (export HOME="$TMP/h$who"; cd "$TMP/$who" && "$@"); }
mkdir -p "$TMP/hA" "$TMP/hB" "$TMP/hC"
HOME="$TMP/hA" dsync init "$TMP/A" --device-name alpha >/dev/null
ok "a new store" on A "$DSYNC" remote add usb "$R"

# 40 saves, each pushed: 40 packs, unless they are consolidated
export DSYNC_TEST_RETIRE_GRACE=3600
for i in $(seq 1 40); do
	echo "save $i" > "$TMP/A/f$i.txt"
	on A "$DSYNC" push --quiet || fail "push $i"
done
packs=$(ls "$R/packs" | wc -l)
check "retired packs stay for readers in flight ($packs blobs)" "$packs" -ge 40
manifest_packs=$(on A "$DSYNC" check | sed -n 's/.*manifests*, \([0-9]*\) packs* present.*/\1/p')
check "the manifest names the consolidated pack and the newer ones ($manifest_packs)" "${manifest_packs:-99}" -le 9
# a reader that already holds them all does not download the merged pack
mkdir -p "$TMP/B"
ok "B joins" env HOME="$TMP/hB" "$DSYNC" join "$R" "$TMP/B"
check "B has every file" "$(files_digest "$TMP/A")" = "$(files_digest "$TMP/B")"
check "B has the whole history" "$(commit_count "$TMP/B")" = "$(commit_count "$TMP/A")"

# after the grace period the retired packs go
export DSYNC_TEST_RETIRE_GRACE=0
echo more > "$TMP/A/more.txt"
ok "a push after the grace period" on A "$DSYNC" push --quiet
packs=$(ls "$R/packs" | wc -l)
check "retired packs removed ($packs left of 41)" "$packs" -le 10
ok "check --read-data passes after consolidation" on A "$DSYNC" check --read-data
ok "B syncs after the retirement" on B "$DSYNC" sync
check "B is in step" "$(files_digest "$TMP/A")" = "$(files_digest "$TMP/B")"
# a new device downloads a handful of packs, not one per save
ok "C joins" env HOME="$TMP/hC" "$DSYNC" join "$R" "$TMP/C"
contains "C fetched a handful of packs" "$TMP/out" "fetched"
n=$(sed -n 's/^fetched \([0-9]*\) pack.*/\1/p' "$TMP/out")
check "C downloaded $n packs for 42 pushes (at most 10)" "${n:-99}" -le 10
check "C has every file" "$(files_digest "$TMP/A")" = "$(files_digest "$TMP/C")"

# the terminal: a new store asks twice without echo; a join asks once
if command -v python3 >/dev/null; then
	cat > "$TMP/ptydrive.py" <<'PY'
import os, pty, sys, time
answers = sys.argv[1].split(",")
argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out = b""
def read_some(t=0.2):
    global out
    import select
    while True:
        r, _, _ = select.select([fd], [], [], t)
        if not r:
            return
        try:
            data = os.read(fd, 4096)
        except OSError:
            return
        if not data:
            return
        out += data
for a in answers:
    deadline = time.time() + 20
    while b": " not in out.split(b"\n")[-1] and time.time() < deadline:
        read_some()
    os.write(fd, (a + "\n").encode())
    out += b"\n"
    time.sleep(0.2)
read_some(1.0)
while True:
    try:
        data = os.read(fd, 4096)
        if not data:
            break
        out += data
    except OSError:
        break
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
PY
	mkdir -p "$TMP/hD" "$TMP/D"
	HOME="$TMP/hD" dsync init "$TMP/D" --device-name delta >/dev/null
	echo "tty file" > "$TMP/D/t.txt"
	ok "remote add on a terminal: new passphrase twice" \
		env -u DSYNC_PASSPHRASE HOME="$TMP/hD" bash -c "cd '$TMP/D' && python3 '$TMP/ptydrive.py' 'tty-secret,tty-secret' '$DSYNC' remote add t '$TMP/remote2'"
	contains "it asked for a new passphrase" "$TMP/out" "New passphrase for"
	contains "and to repeat it" "$TMP/out" "Repeat it"
	check "the passphrase was not echoed" "$(grep -c tty-secret "$TMP/out")" = 0
	ok "a sync on a terminal shows progress" \
		env -u DSYNC_PASSPHRASE HOME="$TMP/hD" bash -c "cd '$TMP/D' && python3 '$TMP/ptydrive.py' '' '$DSYNC' sync"
	contains "progress names the remote" "$TMP/out" "push t:"
	mkdir -p "$TMP/hE"
	ok "join on a terminal asks once" \
		env -u DSYNC_PASSPHRASE HOME="$TMP/hE" python3 "$TMP/ptydrive.py" 'tty-secret' "$DSYNC" join "$TMP/remote2" "$TMP/E"
	contains "it asked for the passphrase" "$TMP/out" "Passphrase for"
	check "E got the file" "$(cat "$TMP/E/t.txt" 2>/dev/null)" = "tty file"
	fails 5 "a wrong passphrase on a terminal: exit 5" \
		env -u DSYNC_PASSPHRASE HOME="$TMP/hF" python3 "$TMP/ptydrive.py" 'nope' "$DSYNC" join "$TMP/remote2" "$TMP/F"
	check "nothing left behind" ! -e "$TMP/F"
fi
# not a terminal: no progress lines
ok "a quiet sync off a terminal" on D "$DSYNC" sync t
check "no progress off a terminal" "$(grep -c $'\r' "$TMP/err")" = 0

finish
