#!/usr/bin/env bash
# Logging in to an sftp:// remote (issue 14, acceptance 3), through the
# user's OpenSSH client (DSYNC_SSH=openssh) and the built-in one
# (DSYNC_SSH=builtin), against a real sshd: a key only ssh-agent holds, a key
# file, a passphrase-protected key typed on a pseudo-terminal
# (tests/tools/ptyrun.py), a key the host does not accept (exit 5, "cannot
# log in"), an RSA key (the OpenSSH client logs in with rsa-sha2; the
# built-in client, which can only sign with ssh-rsa, refuses with exit 5 and
# says why and what to do; it offers no RSA key of the agent at all); a
# port nobody listens on (exit 1, one line); and, built in, one warning for
# a ~/.ssh/config ProxyJump it does not follow. Each login is a `dsync remote add` of the store
# made at the start (through the key file), so success means the store was
# reached and opened. The built-in client reads $HOME/.ssh, so the device's
# home links to the harness's; the OpenSSH client gets `-F` the same config.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_SSH DSYNC_SSH_COMMAND
# the machine's /etc/ssh/ssh_config stays out of the built-in client's way
export DSYNC_TEST_SSH_SYSTEM_CONFIG=/dev/null

PTYRUN="$DSYNC_SRC/tests/tools/ptyrun.py"
PASS=$TMP/passphrase
echo "auth test passphrase" > "$PASS"
STORE=$TMP/store

ssh_test_start
ok "ssh-agent starts" ssh_agent_start
ssh_keygen_quiet -t ed25519 -N "" -C "test-agent" -f "$HOME/.ssh/id_agent"
ssh_authorize "$HOME/.ssh/id_agent.pub"
ok "a key is added to the agent" ssh-add "$HOME/.ssh/id_agent"
# only the agent holds it now; its .pub names it for IdentitiesOnly
rm "$HOME/.ssh/id_agent"
# an RSA key in the agent too: the built-in client must pass over it
ok "an RSA key is added to the agent" ssh-add "$HOME/.ssh/id_rsa"

ssh_config_host keyfile "$SSHD_PORT"
ssh_config_host agent "$SSHD_PORT" IdentityAgent "$SSH_AUTH_SOCK" IdentityFile "$HOME/.ssh/id_agent.pub"
# BatchMode no: the OpenSSH client asks the passphrase on the terminal
ssh_config_host locked "$SSHD_PORT" IdentityFile "$HOME/.ssh/id_locked" BatchMode no
ssh_config_host wrong "$SSHD_PORT" IdentityFile "$HOME/.ssh/id_wrong"
ssh_config_host rsa "$SSHD_PORT" IdentityFile "$HOME/.ssh/id_rsa"

mkdir -p "$TMP/A" "$TMP/home-A"
ln -s "$HOME/.ssh" "$TMP/home-A/.ssh"
echo "hello" > "$TMP/A/hello.txt"
ok "A: init" as A init "$TMP/A" --device-name alpha
DSYNC_SSH=openssh DSYNC_SSH_COMMAND="ssh -F $SSH_CONFIG" \
	ok "A: the store is made through the key file" on A remote add r "sftp://keyfile$STORE" --passphrase-file "$PASS"
DSYNC_SSH=openssh DSYNC_SSH_COMMAND="ssh -F $SSH_CONFIG" ok "A: first sync" on A sync
check "the store is in the host's folder" -f "$STORE/dsync-store"

n=0
# device: a new folder D$n (a store can be a remote of a folder once), into
# which a login adds the store; its home's .ssh is the harness's
device() {
	n=$((n + 1))
	mkdir -p "$TMP/D$n" "$TMP/home-D$n"
	ln -s "$HOME/.ssh" "$TMP/home-D$n/.ssh"
	on "D$n" init . --device-name "d$n" > /dev/null
}

# login MODE ALIAS: remote add of the store through ALIAS in MODE, no terminal
login() {
	local mode=$1 alias=$2
	device
	if [ "$mode" = openssh ]; then
		DSYNC_SSH=openssh DSYNC_SSH_COMMAND="ssh -F $SSH_CONFIG" \
			on "D$n" remote add r "sftp://$alias$STORE" --passphrase-file "$PASS"
	else
		DSYNC_SSH=builtin on "D$n" remote add r "sftp://$alias$STORE" --passphrase-file "$PASS"
	fi
}

# login_pty MODE ALIAS ANSWER...: the same on a pseudo-terminal that types
# the key's passphrase when asked (ANSWER: ptyrun.py's --answer pairs)
login_pty() {
	local mode=$1 alias=$2 cmd
	shift 2
	device
	cmd=(env HOME="$TMP/home-D$n" DSYNC_SSH="$mode" "$DSYNC" remote add r "sftp://$alias$STORE"
	     --passphrase-file "$PASS")
	[ "$mode" = openssh ] && cmd=(env DSYNC_SSH_COMMAND="ssh -F $SSH_CONFIG" "${cmd[@]}")
	(cd "$TMP/D$n" && python3 "$PTYRUN" --timeout 60 "$@" -- "${cmd[@]}")
}

for mode in openssh builtin; do
	echo "# --- $mode"
	ok "$mode: a key file logs in" login "$mode" keyfile
	ok "$mode: a key only ssh-agent holds logs in" login "$mode" agent
	fails 5 "$mode: a key the host does not accept is refused with exit 5" login "$mode" wrong
	contains "... 'cannot log in'" "$TMP/err" "cannot log in"
	check "... in one line" "$(grep -c . "$TMP/err")" = 1
	fails 5 "$mode: the passphrase-protected key is refused without a terminal" login "$mode" locked
done

# the passphrase typed on a terminal: the built-in client asks through
# dsync's prompt; a wrong one is asked again, as OpenSSH does
ok "builtin: the passphrase-protected key logs in, typed on a terminal (a wrong one first)" \
	login_pty builtin locked \
	--answer "wrong passphrase.*\n.*Enter passphrase for key" "$SSH_KEY_PASSPHRASE" \
	--answer "Enter passphrase for key" "not the passphrase"
contains "... asked as OpenSSH asks" "$TMP/out" "Enter passphrase for key '$HOME/.ssh/id_locked': "
contains "... and again after the wrong one" "$TMP/out" "wrong passphrase, or the host does not accept this key"
contains "... two answers typed" "$TMP/err" "answers=2"
check "... nothing echoed" -z "$(grep -e "$SSH_KEY_PASSPHRASE" -e "not the passphrase" "$TMP/out")"
ok "openssh: the passphrase-protected key logs in, typed on a terminal" \
	login_pty openssh locked --answer "Enter passphrase for key" "$SSH_KEY_PASSPHRASE"
contains "... ssh asked for it" "$TMP/out" "Enter passphrase for key"

# a port nobody listens on: not an auth failure but exit 1, in one line
ssh_config_host closed "$(free_port)"
for mode in openssh builtin; do
	fails 1 "$mode: a host that can't be reached is exit 1" login "$mode" closed
	contains "... saying so" "$TMP/err" "cannot reach"
	check "... in one line" "$(grep -c . "$TMP/err")" = 1
done

# RSA
ok "openssh: an RSA key logs in (rsa-sha2)" login openssh rsa
fails 5 "builtin: an RSA key is refused with exit 5" login builtin rsa
contains "... saying it is an RSA key" "$TMP/err" "your key is an RSA key ($HOME/.ssh/id_rsa)"
contains "... what to do: an ed25519 key" "$TMP/err" "ssh-keygen -t ed25519"
contains "... or the OpenSSH client" "$TMP/err" "install the OpenSSH client"
check "... in one line" "$(grep -c . "$TMP/err")" = 1
# the same with only the default files and an RSA key in the agent: the
# built-in client offers no RSA key at all (each costs one of MaxAuthTries)
mv "$HOME/.ssh/id_ed25519" "$HOME/.ssh/id_ed25519.away"
ssh_config_host rsadefault "$SSHD_PORT" IdentityAgent "$SSH_AUTH_SOCK" IdentitiesOnly no
sed -i '/^Host rsadefault$/,/^Host /{/identityfile/d}' "$SSH_CONFIG"
ssh-add -d "$HOME/.ssh/id_agent.pub" > /dev/null 2>&1
log_lines=$(wc -l < "$SSHD_DIR/log")
fails 5 "builtin: ~/.ssh/id_rsa and an RSA agent key only: exit 5" login builtin rsadefault
contains "... the RSA message" "$TMP/err" "ssh-keygen -t ed25519"
tail -n +$((log_lines + 1)) "$SSHD_DIR/log" > "$TMP/sshd-log-tail"
grep -e "$(ssh-keygen -lf "$HOME/.ssh/id_rsa.pub" | cut -d' ' -f2)" -e "ssh-rsa" "$TMP/sshd-log-tail" > /dev/null
check "... and sshd never saw an RSA key offered" $? != 0
contains "... (sshd did log this connection)" "$TMP/sshd-log-tail" "Connection from 127.0.0.1" 
mv "$HOME/.ssh/id_ed25519.away" "$HOME/.ssh/id_ed25519"

# ~/.ssh/config options the built-in client does not follow: one warning
ssh_config_host jumpy "$SSHD_PORT" ProxyJump "nobody@192.0.2.1" CertificateFile "$HOME/.ssh/none-cert.pub"
ok "builtin: a host whose config sets ProxyJump still logs in (directly)" login builtin jumpy
contains "... with a warning naming the option and the fix" "$TMP/err" \
	"~/.ssh/config sets ProxyJump for jumpy, which the built-in client ignores: install the OpenSSH client or set remote.NAME.ssh = openssh"
check "... once" "$(grep -c 'built-in client ignores' "$TMP/err")" = 1

# the store is the one made at the start, whichever way it was reached
DSYNC_SSH=builtin ok "A: sync through the built-in client" on A sync

finish
