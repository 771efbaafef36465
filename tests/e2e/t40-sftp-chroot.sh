#!/bin/bash
# A friend's SFTP-only account as a remote: sshd gives the user, on one
# port, nothing but `ForceCommand internal-sftp` chrooted into a folder
# (sshlib.sh's `sshd_start --chroot`, as contrib/friend-host.md tells a host
# to set it up). Two devices add the store by a path relative to the
# chroot (the scp form `friend:store` and `sftp://friend/~/store`), sync
# through it, a third joins by sftp://USER@127.0.0.1:PORT/~/store; equal
# trees, `dsync check --read-data` on all three, 0600 files in 0700
# folders inside the chroot, no temporary file left. Once through the
# OpenSSH client, once built in. An absolute path stays inside the chroot.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/sftplib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_SSH DSYNC_SSH_COMMAND

PASS=$TMP/passphrase
echo "correct horse battery staple" > "$PASS"

if ! ssh_can sshd || ! ssh_can chroot; then
	ssh_skip "no chrooted SFTP account can run here"
fi
ssh_client_keys
if ! sshd_start --chroot; then
	fail "sshd starts with a chrooted SFTP-only port"
	finish
fi
ssh_known_host "$SSHD_CHROOT_PORT" "$SSHD_DIR"/ssh_host_{ed25519,ecdsa,rsa}_key.pub
ssh_config_host friend "$SSHD_CHROOT_PORT"
ssh_config_host 127.0.0.1 "$SSHD_CHROOT_PORT"
# the OpenSSH client finds ~/.ssh through the password database: each
# device's ssh reads this config (the built-in client reads $HOME/.ssh,
# which each device's HOME links to)
export DSYNC_SSH_COMMAND="ssh -F $SSH_CONFIG"

ok "the account runs no command (ForceCommand internal-sftp)" \
	bash -c "! ssh -F '$SSH_CONFIG' -n friend 'echo shell-ran' 2>&1 | grep -F shell-ran"

for mode in openssh builtin; do
	sync_through "$mode" "$mode" "friend:store-$mode" "sftp://friend/~/store-$mode" \
		"sftp://$SSH_USER@127.0.0.1:$SSHD_CHROOT_PORT/~/store-$mode" "sftp://friend/~/store-$mode" \
		"$SSHD_CHROOT/store-$mode"
done

# an absolute path names a place inside the chroot, never outside it
export DSYNC_SSH=openssh
ok "a remote at an absolute path ($TMP/outside) is made" \
	on A-openssh remote add outside "friend:$TMP/outside" --passphrase-file "$PASS"
check "... inside the chroot" -d "$SSHD_CHROOT$TMP/outside/keys"
check "... not outside it" ! -e "$TMP/outside"
unset DSYNC_SSH

finish
