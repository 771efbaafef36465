#!/bin/bash
# sftp:// remotes through a real OpenSSH sshd on 127.0.0.1 (sshlib.sh): two
# devices add the store (an sftp:// or ssh:// URL naming a Host alias of the ssh
# config, and the scp form), the folder is made on the host, they sync
# through it, and a third joins from it by sftp://USER@127.0.0.1:PORT/...;
# the trees are equal, `dsync check --read-data` passes on all three, the
# store's files on the host are 0600 in 0700 folders and no temporary file
# is left. Once through the user's OpenSSH client (DSYNC_SSH=openssh), once
# built in (DSYNC_SSH=builtin). The ssh config's ControlPersist and ProxyJump
# work through the OpenSSH client. Then the OpenSSH client's refusals: a port
# nobody listens on is exit 1 with one line, a key the host does not take
# is exit 5, an unknown host without a terminal is exit 5 with the
# fingerprint `ssh-keygen -lf` gives and a command that accepts it (which,
# run, lets the next try in), a changed host key is exit 5 below ssh's own
# warning; on a terminal ssh asks its own question, and 'yes' records the
# key while 'no' is exit 5.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/sftplib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_SSH DSYNC_SSH_COMMAND

PASS=$TMP/passphrase
echo "correct horse battery staple" > "$PASS"

ssh_test_start
# an alias (port, user, key from the config), and the address itself
ssh_config_host sshd "$SSHD_PORT"
ssh_config_host 127.0.0.1 "$SSHD_PORT"
ssh_config_host sshd-wrong "$SSHD_PORT" IdentityFile "$HOME/.ssh/id_wrong"
: > "$TMP/unknown_known_hosts"
ssh_config_host sshd-unknown "$SSHD_PORT" UserKnownHostsFile "$TMP/unknown_known_hosts"
ssh-keygen -q -t ed25519 -N "" -f "$TMP/other_host_key" < /dev/null > /dev/null
printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cut -d' ' -f1,2 "$TMP/other_host_key.pub")" > "$TMP/changed_known_hosts"
ssh_config_host sshd-changed "$SSHD_PORT" UserKnownHostsFile "$TMP/changed_known_hosts"
# the OpenSSH client finds ~/.ssh through the password database: each
# device's ssh reads this config (the built-in client reads $HOME/.ssh,
# which each device's HOME links to)
export DSYNC_SSH_COMMAND="ssh -F $SSH_CONFIG"

# sync_through TAG MODE URL_A URL_B URL_C NORM HOSTDIR (sftplib.sh)
store="$TMP/store-openssh/deep/docs"
sync_through openssh openssh "sftp://sshd$store" "sshd:$store" \
	"sftp://$SSH_USER@127.0.0.1:$SSHD_PORT$store" "sftp://sshd$store" "$store"
store="$TMP/store-builtin/deep/docs"
sync_through builtin builtin "ssh://sshd/$store/" "sshd:$store" \
	"sftp://$SSH_USER@127.0.0.1:$SSHD_PORT$store" "sftp://sshd$store" "$store"

# ---------------------------------------------------------------------------
# What the user's ssh config says is what dsync gets: a connection shared
# through a ControlPersist master (which outlives dsync and keeps ssh's
# stderr open: dsync must not wait for it), and a host reached by ProxyJump
export DSYNC_SSH=openssh
ssh_config_host sshd-mux "$SSHD_PORT" ControlMaster auto ControlPath "$TMP/mux-%C" ControlPersist 60
ssh_config_host sshd-jump "$SSHD_PORT" ProxyJump sshd
for d in M N; do
	mkdir -p "$TMP/$d" "$TMP/home-$d"
done
echo "through a master" > "$TMP/M/m.txt"
ok "M init" as M init "$TMP/M" --device-name mu
t0=$(now_ms)
ok "M remote add through a ControlPersist master" \
	timeout 20 bash -c "cd '$TMP/M' && HOME='$TMP/home-M' setsid -w '$DSYNC' remote add origin \
		'sftp://sshd-mux$TMP/store-mux' --passphrase-file '$PASS' < /dev/null"
ok "M sync through it (the master is reused)" timeout 20 bash -c "cd '$TMP/M' && HOME='$TMP/home-M' setsid -w '$DSYNC' sync < /dev/null"
check "... both done in under 10 s (no wait for the master's end)" $(( $(now_ms) - t0 )) -lt 10000
check "the master is running (its socket is there)" -n "$(find "$TMP" -maxdepth 1 -name 'mux-*' -type s)"
ok "N joins through ProxyJump" \
	as N join "sftp://sshd-jump$TMP/store-mux" "$TMP/N" --device-name nu --passphrase-file "$PASS"
check "... and holds M's file" "$(cat "$TMP/N/m.txt" 2> /dev/null)" = "through a master"
ok "the master stops when asked" ssh -F "$SSH_CONFIG" -O exit sshd-mux
unset DSYNC_SSH

# ---------------------------------------------------------------------------
# dsync's own shared connection (docs/sftp.md section 2.2): the first round
# logs in and leaves a master; the next rounds open a session on it and log
# in no more; DSYNC_SSH_SHARE=0 logs in each time; a host whose config sets
# its own ControlPath (sshd-mux, above) gets no socket of dsync's; the master
# ends when asked and the next round logs in again
export DSYNC_SSH=openssh
logins() { grep -c 'Accepted publickey' "$SSHD_DIR/log"; }
shared() { find "$XDG_RUNTIME_DIR/dsync" -name "*-$1" -type s 2> /dev/null | wc -l; }
mkdir -p "$TMP/S" "$TMP/home-S"
echo "shared" > "$TMP/S/s.txt"
ok "S init" as S init "$TMP/S" --device-name sigma
ssh_masters_stop
n0=$(logins)
ok "S remote add (a new connection)" on S remote add origin "sftp://sshd$TMP/store-shared" --passphrase-file "$PASS"
check "... logged in once" "$(logins)" = $((n0 + 1))
check "... and left a master: its socket in \$XDG_RUNTIME_DIR/dsync, 0700" "$(shared sshd)" = 1
check "... the folder is ours alone" "$(stat -c %a "$XDG_RUNTIME_DIR/dsync")" = 700
check "... none for the host with its own ControlPath" "$(shared sshd-mux)" = 0
for i in 1 2 3; do
	echo "round $i" >> "$TMP/S/s.txt"
	ok "S sync $i on the shared connection" on S sync
done
check "... three rounds, no new login" "$(logins)" = $((n0 + 1))
ok "S joins T on it" as T join "sftp://sshd$TMP/store-shared" "$TMP/T" --device-name tau --passphrase-file "$PASS"
check "... T has S's file" "$(cat "$TMP/T/s.txt" 2> /dev/null)" = "$(cat "$TMP/S/s.txt")"
check "... still no new login" "$(logins)" = $((n0 + 1))
DSYNC_SSH_SHARE=0 ok "S sync with DSYNC_SSH_SHARE=0" on S sync
check "... logs in" "$(logins)" = $((n0 + 2))
ssh_masters_stop
check "the master ends when asked (no socket left)" "$(shared sshd)" = 0
ok "S sync after it ended" on S sync
check "... logs in again" "$(logins)" = $((n0 + 3))
unset DSYNC_SSH

# ---------------------------------------------------------------------------
# The OpenSSH client's refusals: one line each, exit 1 or 5, nothing added
export DSYNC_SSH=openssh
D=R
mkdir -p "$TMP/$D" "$TMP/home-$D"
echo "x" > "$TMP/$D/x.txt"
ok "R init" as "$D" init "$TMP/$D" --device-name refusals

# one_line "what": the error is one line that says dsync: error:
one_line() {
	check "$1: one line on stderr" "$(wc -l < "$TMP/err")" = 1
	contains "$1: ... a dsync error" "$TMP/err" "dsync: error: "
}

dead=$(free_port)
fails 1 "a port nobody listens on: exit 1" \
	on "$D" remote add dead "sftp://$SSH_USER@127.0.0.1:$dead/$TMP/never" --passphrase-file "$PASS"
one_line "unreachable"
contains "... it cannot reach the host and says why" "$TMP/err" \
	"cannot reach $SSH_USER@127.0.0.1:$dead: ssh: connect to host 127.0.0.1 port $dead: Connection refused"

fails 5 "a key the host does not take: exit 5" \
	on "$D" remote add wrong "sftp://sshd-wrong$TMP/never" --passphrase-file "$PASS"
one_line "wrong key"
contains "... it cannot log in" "$TMP/err" "cannot log in to sshd-wrong: the host refused every key ssh offered"
contains "... with ssh's reason" "$TMP/err" "Permission denied (publickey)"

fp=$(ssh-keygen -lf "$SSHD_DIR/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
fails 5 "an unknown host without a terminal: exit 5" \
	on "$D" remote add unknown "sftp://sshd-unknown$TMP/store-unknown" --passphrase-file "$PASS"
one_line "unknown host"
contains "... it is not known" "$TMP/err" "the host key of sshd-unknown is not known yet"
contains "... with the fingerprint ssh-keygen -lf gives ($fp)" "$TMP/err" "(ED25519 key $fp)"
contains "... and the command that accepts it" "$TMP/err" \
	"accept it with '$DSYNC_SSH_COMMAND -o StrictHostKeyChecking=accept-new sshd-unknown true'"
check "... known_hosts is left as it was" ! -s "$TMP/unknown_known_hosts"
accept=$(sed -n "s/.*accept it with '\([^']*\)'.*/\1/p" "$TMP/err")
ok "the accept command from the message runs" bash -c "$accept"
check "... and records the host key" -s "$TMP/unknown_known_hosts"
ok "then the remote add goes through" \
	on "$D" remote add unknown "sftp://sshd-unknown$TMP/store-unknown" --passphrase-file "$PASS"

fails 5 "a changed host key: exit 5" \
	on "$D" remote add changed "sftp://sshd-changed$TMP/never" --passphrase-file "$PASS"
contains "... below ssh's own warning" "$TMP/err" "REMOTE HOST IDENTIFICATION HAS CHANGED"
check "... our line comes last" -n "$(tail -n 1 "$TMP/err" | grep -F 'dsync: error: the host key of sshd-changed has CHANGED')"

# on a terminal ssh asks itself (no BatchMode): OpenSSH's own question,
# answered on the pseudo-terminal, records the key
: > "$TMP/ask_known_hosts"
ssh_config_host sshd-ask "$SSHD_PORT" BatchMode no StrictHostKeyChecking ask \
	UserKnownHostsFile "$TMP/ask_known_hosts"
ok "on a terminal, ssh asks about the unknown host key and 'yes' lets the remote add through" \
	python3 "$DSYNC_SRC/tests/tools/ptyrun.py" --timeout 60 --answer 'continue connecting' yes -- \
	bash -c "cd '$TMP/$D' && HOME='$TMP/home-$D' exec '$DSYNC' remote add asked 'sftp://sshd-ask$TMP/store-asked' \
		--passphrase-file '$PASS'"
contains "... it was OpenSSH's question, with the fingerprint" "$TMP/out" "$fp"
check "... the key is recorded" -n "$(grep -F "$(cut -d' ' -f2 "$SSHD_DIR/ssh_host_ed25519_key.pub")" "$TMP/ask_known_hosts")"
# the host new again: its key forgotten, and the connection the 'yes' left
# for the next rounds (docs/sftp.md section 2.2) ended
: > "$TMP/ask_known_hosts"
ssh_masters_stop
fails 5 "... and 'no' is refused with exit 5" \
	python3 "$DSYNC_SRC/tests/tools/ptyrun.py" --timeout 60 --answer 'continue connecting' no -- \
	bash -c "cd '$TMP/$D' && HOME='$TMP/home-$D' exec '$DSYNC' remote add refused 'sftp://sshd-ask$TMP/store-refused' \
		--passphrase-file '$PASS'"
contains "... the host key is not known" "$TMP/out" "the host key of sshd-ask is not known yet"
check "... nothing recorded" ! -s "$TMP/ask_known_hosts"

ok "R remote list" on "$D" remote list
check "only the remotes that went through were added" "$(cut -f1 "$TMP/out" | sort | tr '\n' ' ')" = "asked unknown "
check "no folder was made where a refusal happened" ! -e "$TMP/never"

finish
