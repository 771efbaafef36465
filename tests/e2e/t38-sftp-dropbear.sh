#!/bin/bash
# sftp:// remotes through Dropbear (Debian's dropbear-bin) running OpenSSH's
# sftp-server as its SFTP subsystem, as Android's SimpleSSHD and many NAS
# boxes do: two devices add the store (sftp:// through a Host alias, and the
# scp form), sync through it, a third joins by
# sftp://USER@127.0.0.1:PORT/...; equal trees, `dsync check --read-data` on
# all three, 0600 files in 0700 folders on the host, no temporary file left;
# the server's VERSION reply offered posix-rename and fsync. Once through
# the user's OpenSSH client, once built in. Then Dropbear's refusals through
# the OpenSSH client: a key it does not take is exit 5, an unknown host key
# without a terminal is exit 5 with its fingerprint.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/sftplib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_SSH DSYNC_SSH_COMMAND

PASS=$TMP/passphrase
echo "correct horse battery staple" > "$PASS"

if ! ssh_can dropbear; then
	ssh_skip "Dropbear can't run here"
fi
ssh_client_keys
if ! dropbear_start; then
	fail "dropbear starts"
	finish
fi
ssh_known_host "$DROPBEAR_PORT" "$DROPBEAR_DIR"/host_{ed25519,ecdsa,rsa}.pub
ssh_config_host dropbear "$DROPBEAR_PORT"
ssh_config_host 127.0.0.1 "$DROPBEAR_PORT"
ssh_config_host dropbear-wrong "$DROPBEAR_PORT" IdentityFile "$HOME/.ssh/id_wrong"
: > "$TMP/unknown_known_hosts"
ssh_config_host dropbear-unknown "$DROPBEAR_PORT" UserKnownHostsFile "$TMP/unknown_known_hosts"
# the OpenSSH client finds ~/.ssh through the password database: each
# device's ssh reads this config (the built-in client reads $HOME/.ssh,
# which each device's HOME links to)
export DSYNC_SSH_COMMAND="ssh -F $SSH_CONFIG"
# what each SFTP session's VERSION reply offered
export DSYNC_TEST_SFTP_STATS="$TMP/sftp-stats"

for mode in openssh builtin; do
	store="$TMP/store-$mode/on/the/nas"
	: > "$DSYNC_TEST_SFTP_STATS"
	sync_through "$mode" "$mode" "sftp://dropbear$store" "dropbear:$store" \
		"sftp://$SSH_USER@127.0.0.1:$DROPBEAR_PORT$store" "sftp://dropbear$store" "$store"
	check "$mode: SFTP sessions were counted" "$(wc -l < "$DSYNC_TEST_SFTP_STATS")" -ge 5
	check "$mode: every one was offered posix-rename and fsync" \
		-z "$(grep -v 'ext=posix-rename,fsync' "$DSYNC_TEST_SFTP_STATS")"
done
unset DSYNC_TEST_SFTP_STATS

# ---------------------------------------------------------------------------
# Dropbear's refusals through the OpenSSH client
export DSYNC_SSH=openssh
D=R
mkdir -p "$TMP/$D" "$TMP/home-$D"
echo "x" > "$TMP/$D/x.txt"
ok "R init" as "$D" init "$TMP/$D" --device-name refusals

fails 5 "a key Dropbear does not take: exit 5" \
	on "$D" remote add wrong "sftp://dropbear-wrong$TMP/never" --passphrase-file "$PASS"
check "... one line" "$(wc -l < "$TMP/err")" = 1
contains "... it cannot log in" "$TMP/err" "cannot log in to dropbear-wrong: the host refused every key ssh offered"

fp=$(ssh-keygen -lf "$DROPBEAR_DIR/host_ed25519.pub" | cut -d' ' -f2)
fails 5 "Dropbear's host key unknown, no terminal: exit 5" \
	on "$D" remote add unknown "sftp://dropbear-unknown$TMP/never" --passphrase-file "$PASS"
check "... one line" "$(wc -l < "$TMP/err")" = 1
contains "... with the fingerprint ssh-keygen -lf gives ($fp)" "$TMP/err" "(ED25519 key $fp)"
check "... no folder was made" ! -e "$TMP/never"

finish
