#!/usr/bin/env bash
# Host keys of an sftp:// remote (issue 14, acceptance 4), through the
# user's OpenSSH client (DSYNC_SSH=openssh) and the built-in one
# (DSYNC_SSH=builtin), against a real sshd with ed25519, ECDSA and RSA host
# keys, each case with a known_hosts file of its own:
#   unknown host, no terminal   exit 5, the message holds the fingerprint
#                               ssh-keygen -lf shows; known_hosts untouched
#   changed key                 exit 5, "CHANGED"
#   hashed entries (ssh-keygen -H)             logs in
#   only the ed25519 key known (libssh2 1.10 would pick ECDSA unless told)
#                                              logs in
#   @revoked                    exit 5, "revoked" (for every host, "*", and
#                               for the host alone); logs in when another
#                               type's key is known, as OpenSSH does
# and, built in, an unknown host on a pseudo-terminal: OpenSSH's question;
# "no" refuses, "yes" or the fingerprint logs in and records one line that
# the OpenSSH client then accepts. Each login is a `dsync remote add` of
# the store made at the start, in a new folder.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_SSH DSYNC_SSH_COMMAND
# the machine's /etc/ssh/ssh_config stays out of the built-in client's way
export DSYNC_TEST_SSH_SYSTEM_CONFIG=/dev/null

PTYRUN="$DSYNC_SRC/tests/tools/ptyrun.py"
PASS=$TMP/passphrase
echo "host key test passphrase" > "$PASS"
STORE=$TMP/store

ssh_test_start
HOSTNAME_KH="[127.0.0.1]:$SSHD_PORT"
FP_ED25519=$(ssh-keygen -lf "$SSHD_DIR/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
echo "# the host's ed25519 key: $FP_ED25519"

# known_hosts NAME LINE...: a known_hosts file of its own for a case
known_hosts() {
	local f="$TMP/kh_$1"; shift
	: > "$f"
	local l
	for l in "$@"; do printf '%s\n' "$l" >> "$f"; done
	echo "$f"
}
key_of() { cut -d' ' -f1,2 "$1"; }
ED=$(key_of "$SSHD_DIR/ssh_host_ed25519_key.pub")
EC=$(key_of "$SSHD_DIR/ssh_host_ecdsa_key.pub")
RSA=$(key_of "$SSHD_DIR/ssh_host_rsa_key.pub")
ssh_keygen_quiet -t ed25519 -N "" -C other -f "$TMP/other_host_key"
OTHER=$(key_of "$TMP/other_host_key.pub")

ssh_config_host good "$SSHD_PORT"
ssh_config_host unknown "$SSHD_PORT" UserKnownHostsFile "$(known_hosts empty)"
ssh_config_host changed "$SSHD_PORT" UserKnownHostsFile \
	"$(known_hosts changed "$HOSTNAME_KH $OTHER" "$HOSTNAME_KH $EC" "$HOSTNAME_KH $RSA")"
kh=$(known_hosts hashed "$HOSTNAME_KH $ED" "$HOSTNAME_KH $EC" "$HOSTNAME_KH $RSA")
ssh-keygen -q -H -f "$kh" > /dev/null 2>&1 && rm -f "$kh.old"
ssh_config_host hashed "$SSHD_PORT" UserKnownHostsFile "$kh"
ssh_config_host edonly "$SSHD_PORT" UserKnownHostsFile "$(known_hosts edonly "$HOSTNAME_KH $ED")"
ssh_config_host revoked "$SSHD_PORT" UserKnownHostsFile \
	"$(known_hosts revoked "$HOSTNAME_KH $ED" "@revoked * $ED")"
ssh_config_host revoked1 "$SSHD_PORT" UserKnownHostsFile \
	"$(known_hosts revoked1 "$HOSTNAME_KH $ED" "@revoked $HOSTNAME_KH $ED")"
ssh_config_host revokedalt "$SSHD_PORT" UserKnownHostsFile \
	"$(known_hosts revokedalt "$HOSTNAME_KH $ED" "$HOSTNAME_KH $EC" "@revoked * $ED")"
check "the hashed file holds no host name" -z "$(grep -F 127.0.0.1 "$TMP/kh_hashed")"

mkdir -p "$TMP/A" "$TMP/home-A"
ln -s "$HOME/.ssh" "$TMP/home-A/.ssh"
echo "hello" > "$TMP/A/hello.txt"
ok "A: init" on A init . --device-name alpha
DSYNC_SSH=openssh DSYNC_SSH_COMMAND="ssh -F $SSH_CONFIG" \
	ok "A: the store is made" on A remote add r "sftp://good$STORE" --passphrase-file "$PASS"
DSYNC_SSH=openssh DSYNC_SSH_COMMAND="ssh -F $SSH_CONFIG" ok "A: first sync" on A sync

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

# login_pty ALIAS ANSWER: built in, on a pseudo-terminal that answers the
# host key question with ANSWER
login_pty() {
	local alias=$1 answer=$2
	device
	(cd "$TMP/D$n" && python3 "$PTYRUN" --timeout 60 --answer "continue connecting" "$answer" -- \
		env HOME="$TMP/home-D$n" DSYNC_SSH=builtin "$DSYNC" remote add r "sftp://$alias$STORE" \
		--passphrase-file "$PASS")
}

for mode in openssh builtin; do
	echo "# --- $mode"
	fails 5 "$mode: an unknown host without a terminal is refused with exit 5" login "$mode" unknown
	contains "... with its ed25519 fingerprint, as ssh-keygen -lf shows it" "$TMP/err" "$FP_ED25519"
	check "... in one line" "$(grep -c . "$TMP/err")" = 1
	check "... and known_hosts is left empty" ! -s "$TMP/kh_empty"
	fails 5 "$mode: a changed host key is refused with exit 5" login "$mode" changed
	contains "... saying it CHANGED" "$TMP/err" "CHANGED"
	ok "$mode: hashed entries are accepted" login "$mode" hashed
	ok "$mode: a known_hosts with only the ed25519 key is accepted" login "$mode" edonly
	fails 5 "$mode: a key marked @revoked for every host is refused with exit 5" login "$mode" revoked
	grep -i "revoked" "$TMP/err" > /dev/null
	check "... saying it is revoked" $? = 0
	fails 5 "$mode: a key marked @revoked for this host is refused with exit 5" login "$mode" revoked1
	grep -i "revoked" "$TMP/err" > /dev/null
	check "... saying it is revoked" $? = 0
	ok "$mode: with the ed25519 key revoked and the ECDSA key known, it logs in with the ECDSA key" \
		login "$mode" revokedalt
done

echo "# --- builtin on a terminal"
login builtin revoked1 > "$TMP/out" 2> "$TMP/err"
contains "the built-in message names the revoked key's file" "$TMP/err" "@revoked in $TMP/kh_revoked1"
login builtin changed > "$TMP/out" 2> "$TMP/err"
contains "a changed key's message says how to remove the old key" "$TMP/err" \
	"ssh-keygen -f $TMP/kh_changed -R '$HOSTNAME_KH'"

ssh_config_host asked "$SSHD_PORT" UserKnownHostsFile "$(known_hosts asked)"
fails 5 "an unknown host answered 'no' is refused with exit 5" login_pty asked no
contains "... asked with OpenSSH's words" "$TMP/out" \
	"The authenticity of host '$HOSTNAME_KH' can't be established."
contains "... and the ed25519 fingerprint" "$TMP/out" "ED25519 key fingerprint is $FP_ED25519."
contains "... and OpenSSH's question" "$TMP/out" "Are you sure you want to continue connecting (yes/no/[fingerprint])?"
check "... nothing recorded" ! -s "$TMP/kh_asked"
ok "an unknown host answered 'yes' logs in" login_pty asked yes
check "... one line recorded" "$(wc -l < "$TMP/kh_asked")" = 1
contains "... for [127.0.0.1]:port, its ed25519 key" "$TMP/kh_asked" "$HOSTNAME_KH $ED"
ok "... and the next login, without a terminal, takes it" login builtin asked
ok "... as the OpenSSH client does" ssh -F "$SSH_CONFIG" asked true
check "... still one line" "$(wc -l < "$TMP/kh_asked")" = 1

ssh_config_host asked2 "$SSHD_PORT" UserKnownHostsFile "$(known_hosts asked2)" HashKnownHosts yes
ok "an unknown host answered with its fingerprint logs in" login_pty asked2 "$FP_ED25519"
check "... one line recorded, hashed (HashKnownHosts yes)" "$(grep -c '^|1|' "$TMP/kh_asked2")" = 1
ok "... which ssh-keygen finds" ssh-keygen -F "$HOSTNAME_KH" -f "$TMP/kh_asked2"
ok "... and the OpenSSH client accepts" ssh -F "$SSH_CONFIG" asked2 true

finish
