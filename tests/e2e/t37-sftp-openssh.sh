#!/bin/bash
# sftp:// remotes through a real OpenSSH sshd on 127.0.0.1 (sshlib.sh): two
# devices add the store (an sftp:// URL that names a Host alias of the ssh
# config, and the scp form), the folder is made on the host, they sync
# through it, and a third joins from it by sftp://USER@127.0.0.1:PORT/...;
# the trees are equal, `dsync check --read-data` passes on all three, the
# store's files on the host are 0600 in 0700 folders and no temporary file
# is left. Once through the user's OpenSSH client (DSYNC_SSH=openssh), once
# built in (DSYNC_SSH=builtin). Then the OpenSSH client's refusals: a port
# nobody listens on is exit 1 with one line, a key the host does not take
# is exit 5, an unknown host without a terminal is exit 5 with the
# fingerprint `ssh-keygen -lf` gives and a command that accepts it (which,
# run, lets the next try in), a changed host key is exit 5 below ssh's own
# warning.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/sshlib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_SSH DSYNC_SSH_COMMAND

PASS=$TMP/passphrase
echo "correct horse battery staple" > "$PASS"

if ! ssh_can sshd; then
	echo "# skipped: no sshd here (see above)"
	finish
fi
ssh_client_keys
if ! sshd_start; then
	fail "sshd starts"
	finish
fi
ssh_known_host "$SSHD_PORT" "$SSHD_DIR"/ssh_host_{ed25519,ecdsa,rsa}_key.pub
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

# ok03 "what" CMD...: done, conflicts may wait (exit 0 or 3)
ok03() {
	local what=$1; shift
	local rc=0
	"$@" > "$TMP/out" 2> "$TMP/err" || rc=$?
	if [ "$rc" = 0 ] || [ "$rc" = 3 ]; then
		pass "$what (exit $rc)"
	else
		fail "$what (exit $rc)"
		sed 's/^/#   /' "$TMP/out" "$TMP/err" | head -20
	fi
}

# store_clean "what" DIR: the store's files are 0600, its folders 0700, and
# no temporary file is left
store_clean() {
	local what=$1 dir=$2
	check "$what: files there (blobs, keys, manifests)" "$(find "$dir" -type f | wc -l)" -ge 4
	check "$what: every file is mode 0600" -z "$(find "$dir" -type f ! -perm 0600)"
	check "$what: every folder is mode 0700" -z "$(find "$dir" -type d ! -perm 0700)"
	check "$what: no temporary file left" -z "$(find "$dir" -name '*.tmp-*')"
}

# sync_through MODE: devices A, B (and C joining) through sshd with the
# ssh client MODE; returns 2 when MODE is a placeholder in this build
sync_through() {
	local mode=$1 a=A-$1 b=B-$1 c=C-$1 d
	local store="$TMP/store-$mode/deep/docs"
	export DSYNC_SSH=$mode
	for d in "$a" "$b" "$c"; do
		mkdir -p "$TMP/home-$d"
		ln -sfn "$HOME/.ssh" "$TMP/home-$d/.ssh"
	done
	mkdir -p "$TMP/$a/docs" "$TMP/$b"
	echo "A's notes" > "$TMP/$a/notes.txt"
	echo "a doc" > "$TMP/$a/docs/a.md"
	head -c 300000 /dev/urandom > "$TMP/$a/docs/data.bin"
	echo "B's list" > "$TMP/$b/list.txt"
	ok "$mode: A init" as "$a" init "$TMP/$a" --device-name alpha
	ok "$mode: B init" as "$b" init "$TMP/$b" --device-name beta

	if ! on "$a" remote add origin "sftp://sshd$store" --passphrase-file "$PASS" > "$TMP/out" 2> "$TMP/err"; then
		if grep -F "not built yet" "$TMP/err" > /dev/null; then
			echo "# skipped: the $mode ssh client is not in this build ($(cat "$TMP/err"))"
			return 2
		fi
		fail "$mode: A remote add sftp://sshd$store"
		sed 's/^/#   /' "$TMP/out" "$TMP/err"
		return 1
	fi
	pass "$mode: A remote add sftp://sshd/... (a new store)"
	contains "... it says it made a store" "$TMP/out" "created an encrypted store"
	check "... the folder was made on the host (mkdir -p), mode 0700" "$(stat -c %a "$store" 2> /dev/null)" = 700
	ok "$mode: A remote list" on "$a" remote list
	contains "... names the normalised URL" "$TMP/out" "origin	sftp://sshd$store"

	ok "$mode: B remote add in the scp form (sshd:/path)" \
		on "$b" remote add origin "sshd:$store" --passphrase-file "$PASS"
	ok "$mode: B remote list" on "$b" remote list
	contains "... keeps the scp form as the same normalised URL" "$TMP/out" "origin	sftp://sshd$store"
	fails 1 "$mode: B remote add refuses the same store under another name, written otherwise" \
		on "$b" remote add again "ssh://sshd/$store/" --passphrase-file "$PASS"
	contains "... because it is origin already" "$TMP/err" "is remote 'origin' of this folder already"

	ok03 "$mode: A sync (push)" on "$a" sync
	ok03 "$mode: B sync (fetch A's, push B's)" on "$b" sync
	ok03 "$mode: A sync (fetch B's)" on "$a" sync
	# edits on both sides, files apart: no conflict
	echo "A's notes, v2" > "$TMP/$a/notes.txt"
	rm "$TMP/$a/docs/a.md"
	echo "B's list, v2" > "$TMP/$b/list.txt"
	mkdir -p "$TMP/$b/new"
	head -c 100000 /dev/urandom > "$TMP/$b/new/b.bin"
	ok03 "$mode: A sync after edits" on "$a" sync
	ok03 "$mode: B sync after edits" on "$b" sync
	ok03 "$mode: A sync again" on "$a" sync
	check "$mode: A and B have the same head" "$(head_id "$TMP/$a")" = "$(head_id "$TMP/$b")"
	check "$mode: A and B hold the same files" "$(files_digest "$TMP/$a")" = "$(files_digest "$TMP/$b")"
	check "$mode: ... all of them" "$(files_digest "$TMP/$a" | wc -l)" = 4

	ok "$mode: C joins from sftp://$SSH_USER@127.0.0.1:$SSHD_PORT/..." \
		as "$c" join "sftp://$SSH_USER@127.0.0.1:$SSHD_PORT$store" "$TMP/$c" --device-name gamma \
		--passphrase-file "$PASS"
	check "$mode: C holds the same files as A" "$(files_digest "$TMP/$c")" = "$(files_digest "$TMP/$a")"
	check "$mode: C has A's head" "$(head_id "$TMP/$c")" = "$(head_id "$TMP/$a")"
	ok "$mode: C remote list" on "$c" remote list
	contains "... names the normalised URL with user and port" "$TMP/out" \
		"sftp://$SSH_USER@127.0.0.1:$SSHD_PORT$store"
	for d in "$a" "$b" "$c"; do
		ok "$mode: $d: dsync check --read-data" on "$d" check --read-data
	done
	store_clean "$mode: the store on the host" "$store"
	unset DSYNC_SSH
	return 0
}

sync_through openssh
sync_through builtin
[ $? = 2 ] && echo "# the built-in run is skipped until i14-builtin is in this build"

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

ok "R remote list" on "$D" remote list
check "only the remote that went through was added" "$(cut -f1 "$TMP/out" | tr '\n' ' ')" = "unknown "
check "no folder was made where a refusal happened" ! -e "$TMP/never"

finish
