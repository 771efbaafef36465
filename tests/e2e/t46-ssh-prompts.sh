#!/bin/bash
# What logging in to a host over ssh asks, asked by the program on the
# terminal (cmd/prompt.c through dsync_sync_options.prompt), against a real
# sshd with the built-in client chosen by 'remote add --ssh builtin': an
# unknown host key shows its SHA256 fingerprint and takes "no" (refused,
# exit 5, nothing recorded or made), the pasted fingerprint or "yes" (one
# line added to known_hosts); a key's passphrase is asked without echo, and
# asked again after a wrong one; without a terminal nothing is asked and the
# same login fails with exit 5 and says why.  And the progress line of a
# push under --limit-rate: the speed (near the limit) and the time left.
# Then the user's own ssh (--ssh openssh): it asks the key's passphrase
# itself on the terminal, and no progress line is written over it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_SSH DSYNC_SSH_COMMAND

if ! sshd_start; then
	ssh_skip "no sshd here"
fi
ssh_client_keys
# the key with a passphrase is the only one this host takes from us
ssh_config_host box "$SSHD_PORT" IdentityFile "$HOME/.ssh/id_locked"
FP=$(ssh-keygen -lf "$SSHD_DIR/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
PASS=$TMP/passphrase
echo "store passphrase" > "$PASS"

# on_tty DIR TRANSCRIPT CMD...: CMD in DIR on a new pseudo-terminal (its
# controlling terminal, as a user's); the script on stdin says what to type
# when: lines "PROMPT-TEXT<TAB>ANSWER", each answer typed once its prompt has
# appeared.  The terminal's whole output goes to TRANSCRIPT; the exit status
# is CMD's.
cat > "$TMP/drive.py" << 'PY'
import os, pty, select, sys, time
cwd, transcript, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
steps = [l.rstrip("\n").split("\t", 1) for l in sys.stdin if l.strip()]
pid, fd = pty.fork()
if pid == 0:
    os.chdir(cwd)
    os.execvp(argv[0], argv)
seen, at, deadline = b"", 0, time.time() + 60
while time.time() < deadline:
    if at < len(steps) and steps[at][0].encode() in seen:
        seen = seen[seen.index(steps[at][0].encode()) + len(steps[at][0]):]
        time.sleep(0.2)   # the prompt turns echo off after printing
        os.write(fd, steps[at][1].encode() + b"\n")
        at += 1
        continue
    r, _, _ = select.select([fd], [], [], 0.5)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        seen += data
        with open(transcript, "ab") as f:
            f.write(data)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
PY
on_tty() { local dir=$1 transcript=$2; shift 2; : > "$transcript"; python3 "$TMP/drive.py" "$dir" "$transcript" "$@"; }

mkdir -p "$TMP/A"
echo "a file" > "$TMP/A/a.txt"
ok "A: init" as A init "$TMP/A" --device-name alpha
HOME_A=$TMP/home-A
# A's user has the test's ssh setup
cp -a "$HOME/.ssh" "$HOME_A/"
KH=$HOME_A/.ssh/known_hosts
sed -i "s|$HOME/.ssh/known_hosts|$KH|" "$HOME_A/.ssh/config"
URL="sftp://box$TMP/store"

# 1. no terminal: nothing asked, the unknown host refused with its fingerprint
fails 5 "no terminal: an unknown host is refused (exit 5)" on A remote add box "$URL" --ssh builtin \
	--passphrase-file "$PASS"
contains "... the message holds the fingerprint" "$TMP/err" "$FP"
check "... known_hosts unchanged" ! -s "$KH"
check "... no store made" ! -e "$TMP/store"

# 2. on a terminal, "no": refused, nothing recorded
printf 'continue connecting\tno\n' |
	HOME=$HOME_A on_tty "$TMP/A" "$TMP/t1" "$DSYNC" remote add box "$URL" --ssh builtin --passphrase-file "$PASS"
check "a terminal, 'no': exit 5" $? = 5
contains "... the question shows the fingerprint" "$TMP/t1" "key fingerprint is $FP"
contains "... in OpenSSH's words" "$TMP/t1" "Are you sure you want to continue connecting (yes/no/[fingerprint])?"
check "... known_hosts unchanged" ! -s "$KH"
check "... no store made" ! -e "$TMP/store"
check "... no remote added" -z "$(on A remote list)"

# 3. the fingerprint pasted, then the key's passphrase (a wrong one first)
printf 'continue connecting\t%s\nEnter passphrase for key\twrong horse\nEnter passphrase for key\t%s\n' \
	"$FP" "$SSH_KEY_PASSPHRASE" |
	HOME=$HOME_A on_tty "$TMP/A" "$TMP/t2" "$DSYNC" remote add box "$URL" --ssh builtin --passphrase-file "$PASS"
rc=$?
check "a terminal: fingerprint and key passphrase typed: remote added (exit $rc)" $rc = 0
[ $rc = 0 ] || sed 's/^/#   /' "$TMP/t2" | tail -15
check "... the passphrase was asked twice (a wrong one first)" "$(grep -c "Enter passphrase for key '.*id_locked'" "$TMP/t2")" = 2
check "... neither passphrase was echoed" "$(grep -c -e "$SSH_KEY_PASSPHRASE" -e "wrong horse" "$TMP/t2")" = 0
check "... one line added to known_hosts" "$(wc -l < "$KH")" = 1
check "... the store is on the host" -f "$TMP/store/dsync-store"
check "... remote.box.ssh = builtin kept" "$(git_of A config remote.box.ssh)" = builtin

# 4. the host is known now: without a terminal the locked key can't be used
fails 5 "no terminal: a key with a passphrase can't be used (exit 5)" on A sync
contains "... says why" "$TMP/err" "no terminal"
check "... nothing was asked" "$(grep -c "Enter passphrase" "$TMP/err")" = 0

# 5. on a terminal the same sync asks the key's passphrase once and works
printf 'Enter passphrase for key\t%s\n' "$SSH_KEY_PASSPHRASE" |
	HOME=$HOME_A on_tty "$TMP/A" "$TMP/t3" "$DSYNC" sync
rc=$?
check "a terminal: sync with the key's passphrase typed (exit $rc)" $rc = 0
[ $rc = 0 ] || sed 's/^/#   /' "$TMP/t3" | tail -15
contains "... pushed" "$TMP/t3" "pushed"
check "... no host key question: it is known" "$(grep -c "continue connecting" "$TMP/t3")" = 0

# 6. "yes" to a host not known (known_hosts emptied)
: > "$KH"
printf 'continue connecting\tyes\nEnter passphrase for key\t%s\n' "$SSH_KEY_PASSPHRASE" |
	HOME=$HOME_A on_tty "$TMP/A" "$TMP/t4" "$DSYNC" fetch
rc=$?
check "a terminal, 'yes': fetch works (exit $rc)" $rc = 0
[ $rc = 0 ] || sed 's/^/#   /' "$TMP/t4" | tail -15
check "... one line added to known_hosts" "$(wc -l < "$KH")" = 1

# 7. progress on the terminal with speed and time left, under --limit-rate
head -c $((3 * 1024 * 1024)) /dev/urandom > "$TMP/A/big.bin"
T0=$(now_ms)
printf 'Enter passphrase for key\t%s\n' "$SSH_KEY_PASSPHRASE" |
	HOME=$HOME_A on_tty "$TMP/A" "$TMP/t5" "$DSYNC" push --limit-rate 1M
rc=$?
T1=$(now_ms)
check "push --limit-rate 1M of 3 MiB on a terminal (exit $rc)" $rc = 0
check "... took at least 2 s ($((T1 - T0)) ms)" $((T1 - T0)) -ge 2000
tr '\r' '\n' < "$TMP/t5" | grep -a '^push box: ' > "$TMP/t5.lines"
check "... the progress line shows the speed" "$(grep -c 'of 3\.[0-9] MiB, [0-9.]* [KM]iB/s, ' "$TMP/t5.lines")" -ge 1
check "... and the time left" "$(grep -c ', [0-9]*:[0-9][0-9] left' "$TMP/t5.lines")" -ge 1
check "... the speed near the limit (at most 1.2 MiB/s)" \
	"$(sed -n 's/.*, \([0-9.]*\) MiB\/s,.*/\1/p' "$TMP/t5.lines" | awk '$1 > 1.2' | wc -l)" = 0

# 8. the user's own ssh asks itself on the terminal (no BatchMode there), and
# no progress line is written over its question
ssh_config_host box-openssh "$SSHD_PORT" IdentityFile "$HOME/.ssh/id_locked" BatchMode no
sed -i "s|$HOME/.ssh/known_hosts|$KH|" "$HOME/.ssh/config"
cp "$HOME/.ssh/config" "$HOME_A/.ssh/config"
printf 'Enter passphrase for key\t%s\n' "$SSH_KEY_PASSPHRASE" |
	HOME=$HOME_A on_tty "$TMP/A" "$TMP/t6" "$DSYNC" remote add viassh "sftp://box-openssh$TMP/store2" \
	--ssh openssh --ssh-command "ssh -F $HOME_A/.ssh/config" --passphrase-file "$PASS"
rc=$?
check "the user's ssh: its passphrase question answered, remote added (exit $rc)" $rc = 0
[ $rc = 0 ] || sed 's/^/#   /' "$TMP/t6" | tail -15
contains "... ssh asked on the terminal" "$TMP/t6" "Enter passphrase for key"
check "... the passphrase was not echoed" "$(grep -c -e "$SSH_KEY_PASSPHRASE" "$TMP/t6")" = 0
check "... remote.viassh.ssh = openssh kept" "$(git_of A config remote.viassh.ssh)" = openssh
printf 'Enter passphrase for key\t%s\n' "$SSH_KEY_PASSPHRASE" |
	HOME=$HOME_A on_tty "$TMP/A" "$TMP/t7" "$DSYNC" push viassh
rc=$?
check "the user's ssh: push (exit $rc)" $rc = 0
check "... says it pushed, only that" "$(tr -d '\r' < "$TMP/t7" | grep -c 'pushed [0-9]* objects\|already had')" = 1
check "... no progress line before ssh's question" \
	"$(tr '\r' '\n' < "$TMP/t7" | grep -a -B1 'Enter passphrase' | grep -ac 'push viassh\|packing')" = 0

finish
