# A phone for the `dsync mirror` tests: a real SSH server on 127.0.0.1 serving
# a plain folder owned by a throwaway unprivileged user, as a phone's SSH
# server serves its shared storage. Sourced after lib.sh, synclib.sh and
# sshlib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/synclib.sh"
#   . "$(dirname "$0")/sshlib.sh"
#   . "$(dirname "$0")/mirrorlib.sh"
#
#   mirror_test_start KIND [--sftp-log]
#                       what most mirror tests begin with: the phone started
#                       (phone_start), skipped where this machine can't run
#                       the server (except under CI), and the computer's
#                       device "pc" (PC=$TMP/pc, HOME $TMP/home-pc) made ready
#   phone_start openssh|dropbear [--sftp-log]
#                       a user dsphNNNN (useradd -M, shell /bin/sh, home
#                       PHONE_HOME in $TMP, removed when the test exits, even
#                       on failure) owning PHONE_HOME and the phone's folder
#                       PHONE_DIR=$PHONE_HOME/storage/DCIM; the test's client
#                       key authorized in PHONE_HOME/.ssh/authorized_keys; then
#                       OpenSSH's sshd with /usr/lib/openssh/sftp-server as
#                       its sftp subsystem (as Termux), or Dropbear, which
#                       reads ~USER/.ssh/authorized_keys and runs
#                       /usr/lib/sftp-server (as SimpleSSHD), on a free port.
#                       Sets PHONE_USER, PHONE_PORT, PHONE_PID, PHONE_KIND,
#                       PHONE_URL=sftp://USER@127.0.0.1:PORT$PHONE_DIR, the
#                       host keys in known_hosts, a Host block for 127.0.0.1
#                       in the ssh config, and exports DSYNC_SSH_COMMAND, a
#                       script that notes its start in SSH_CALLS and runs
#                       `ssh -F $SSH_CONFIG` (dsync's OpenSSH client uses the
#                       test's key and known_hosts; the built-in one reads
#                       $HOME/.ssh, which the pc's HOME links to). With
#                       --sftp-log (openssh only) the sftp-server logs every
#                       request to PHONE_SFTP_LOG (-e -l DEBUG3).
#   phone_stop
#   phone_as CMD...     CMD as the phone's user (what an app on the phone does)
#   phone_write REL     stdin into PHONE_DIR/REL, as the phone's user
#                       (folders made as needed)
#   phone_random REL BYTES  random bytes into PHONE_DIR/REL, as the phone's user
#   phone_rm REL... / phone_mv FROM TO   as the phone's user
#   phone_files         the phone folder's files and links, one path a line
#   pc_files [SUB]      the same for $PC/SUB (default the mirror's subfolder)
#   phone_leftovers     names of dsync's on the phone (.NAME.dsync-*), if any
#   phone_clean "what" [SUB]
#                       after a round: nothing of dsync's on the phone, and
#                       the phone and $PC/SUB (default $PC_SUB) hold the same
#                       files, byte for byte (the phone lists nothing but user
#                       files)
#   mround "what" [ARGS...]  `dsync mirror sync ARGS` on pc, expect exit 0
#   mround03 "what" [ARGS...]  the same, conflicts may wait (exit 0 or 3)
#   mlog DEVICE         "S PATH[ FROM]" for each file change of DEVICE's
#                       snapshots in pc's `dsync log --json --all-files`
#   mlog_has "what" DEVICE LINE   mlog DEVICE has LINE ("A Phone/DCIM/x.jpg",
#                       "R Phone/DCIM/new.jpg Phone/DCIM/old.jpg")
#   history_blobs D     every blob id reachable from any of D's refs
#   blob_id FILE        FILE's git blob id
#   shas_of DIR GLOB... the sorted SHA-256s of the files matching the globs
#   mirror_basics TAG   acceptance 1 (t59, t60): see below
#
# The phone's user exists only for the test: every process left running as
# that user (a session the server forked, a writer the test started) is
# killed by its pid before the user is removed.

PHONE_USER="" PHONE_HOME="" PHONE_DIR="" PHONE_URL="" PHONE_PORT="" PHONE_PID=""
PHONE_KIND="" PHONE_SRV="" PHONE_SFTP_LOG=""
PC=$TMP/pc
PC_SUB=Phone/DCIM

# phone_user_add: a fresh unprivileged user dsphNNNN with its home in $TMP.
# useradd fails while another test holds /etc/passwd's lock: try again.
phone_user_add() {
	local try name
	for try in $(seq 30); do
		name=dsph$(printf '%04d' $((RANDOM % 10000)))
		getent passwd "$name" > /dev/null && continue
		PHONE_HOME=$TMP/phone-home-$name
		# -p '*': a password nobody can type, but not a locked account
		# ('!'), which sshd refuses without PAM
		if useradd -M -d "$PHONE_HOME" -s /bin/sh -p '*' "$name" 2> "$TMP/useradd.err"; then
			PHONE_USER=$name
			return 0
		fi
		sleep 0.2
	done
	echo "# useradd failed:" >&2
	sed 's/^/#   /' "$TMP/useradd.err" >&2
	return 1
}

# phone_user_del: the user's processes killed by pid, then the user removed
phone_user_del() {
	[ -n "$PHONE_USER" ] || return 0
	local pids pid try
	# (a shell loop of the user's may start another child meanwhile)
	for try in $(seq 50); do
		# (ps fails when there is none: no reason to stop a caller's set -e)
		pids=$(ps -o pid= -o stat= -u "$PHONE_USER" 2> /dev/null | awk '$2 !~ /^Z/ { print $1 }' || true)
		[ -n "$pids" ] || break
		for pid in $pids; do
			kill -9 "$pid" 2> /dev/null || true
		done
		sleep 0.1
	done
	for try in $(seq 30); do
		getent passwd "$PHONE_USER" > /dev/null || break
		userdel "$PHONE_USER" 2> /dev/null && break
		sleep 0.2
	done
	PHONE_USER=""
}

phone_as() { runuser -u "$PHONE_USER" -- "$@"; }

# phone_launch: start the phone's server on a free port (a port picked free
# may be taken before the server binds it: try a few)
phone_launch() {
	local try
	for try in 1 2 3 4 5; do
		PHONE_PORT=$(free_port)
		if [ "$PHONE_KIND" = openssh ]; then
			# the subsystem runs through the user's shell: the
			# redirection sends the sftp-server's own log to a file
			# (with -e it would go to the client)
			SSH_AUTHORIZED_KEYS="$PHONE_HOME/.ssh/authorized_keys" \
				SSHD_SFTP_SERVER="$SSHD_SFTP_SERVER${PHONE_SFTP_LOG:+ -e -l DEBUG3 2>> $PHONE_SFTP_LOG}" \
				sshd_write_config "$PHONE_SRV" "$PHONE_PORT"
			"$SSHD_BIN" -D -f "$PHONE_SRV/sshd_config" -E "$PHONE_SRV/log" < /dev/null &
		else
			# -s: keys only; no -g: the user is not root anyway
			dropbear -F -E -s "${DROPBEAR_KEYS[@]}" -p "127.0.0.1:$PHONE_PORT" \
				-P "$PHONE_SRV/dropbear.pid" < /dev/null 2> "$PHONE_SRV/log" &
		fi
		PHONE_PID=$!
		STARTED_PIDS+=("$PHONE_PID")
		ssh_wait_banner "$PHONE_PORT" "$PHONE_PID" && return 0
		stop_pid "$PHONE_PID"
		PHONE_PID=""
	done
	echo "# the phone's $PHONE_KIND did not start; its log:" >&2
	sed 's/^/#   /' "$PHONE_SRV/log" >&2
	return 1
}

phone_start() {
	PHONE_KIND=$1
	PHONE_SFTP_LOG=""
	case $PHONE_KIND in
	openssh) ssh_can sshd || return 1 ;;
	dropbear) ssh_can dropbear || return 1 ;;
	*) echo "# phone_start openssh|dropbear" >&2; return 1 ;;
	esac
	[ -f "$HOME/.ssh/id_ed25519" ] || ssh_client_keys
	phone_user_add || return 1
	PHONE_DIR=$PHONE_HOME/storage/DCIM
	mkdir -p "$PHONE_HOME/.ssh" "$PHONE_DIR"
	cp "$HOME/.ssh/id_ed25519.pub" "$PHONE_HOME/.ssh/authorized_keys"
	chmod 700 "$PHONE_HOME" "$PHONE_HOME/.ssh"
	chmod 600 "$PHONE_HOME/.ssh/authorized_keys"
	chown -R "$PHONE_USER:" "$PHONE_HOME"
	PHONE_SRV=$TMP/phone-$PHONE_KIND
	if [ "$PHONE_KIND" = openssh ]; then
		sshd_host_keys "$PHONE_SRV"
		[ "$(id -u)" != 0 ] || mkdir -p /run/sshd
		if [ "${2:-}" = --sftp-log ]; then
			PHONE_SFTP_LOG=$PHONE_SRV/sftp-server.log
			: > "$PHONE_SFTP_LOG"
			chown "$PHONE_USER:" "$PHONE_SFTP_LOG"
		fi
	else
		dropbear_host_keys "$PHONE_SRV"
	fi
	phone_launch || return 1
	if [ "$PHONE_KIND" = openssh ]; then
		ssh_known_host "$PHONE_PORT" "$PHONE_SRV"/ssh_host_{ed25519,ecdsa,rsa}_key.pub
	else
		ssh_known_host "$PHONE_PORT" "$PHONE_SRV"/host_{ed25519,ecdsa,rsa}.pub
	fi
	ssh_config_host 127.0.0.1 "$PHONE_PORT" user "$PHONE_USER"
	# ssh -F $SSH_CONFIG, each start noted in SSH_CALLS: a round through
	# the built-in client must start none
	SSH_CALLS=$TMP/ssh-calls
	printf '#!/bin/sh\necho "$*" >> "%s"\nexec ssh -F "%s" "$@"\n' "$SSH_CALLS" "$SSH_CONFIG" > "$TMP/ssh-noted"
	chmod 755 "$TMP/ssh-noted"
	export DSYNC_SSH_COMMAND=$TMP/ssh-noted
	PHONE_URL=sftp://$PHONE_USER@127.0.0.1:$PHONE_PORT$PHONE_DIR
	echo "# phone: $PHONE_KIND on 127.0.0.1:$PHONE_PORT (pid $PHONE_PID), user $PHONE_USER, folder $PHONE_DIR"
}

phone_stop() { ssh_masters_stop; stop_pid "$PHONE_PID"; PHONE_PID=""; }

# mirror_test_start KIND [--sftp-log]
mirror_test_start() {
	local kind=$1
	if ! ssh_can "${kind/openssh/sshd}"; then
		ssh_skip "no $kind here"
	fi
	if [ "$(id -u)" != 0 ]; then
		ssh_skip "not root: the phone's user is made for the test (useradd)"
	fi
	if ! phone_start "$@"; then
		fail "the phone ($kind) starts"
		finish
	fi
	mkdir -p "$PC" "$TMP/home-pc"
	ln -sfn "$HOME/.ssh" "$TMP/home-pc/.ssh"
	unset DSYNC_SSH
}

phone_write() {
	phone_as sh -c 'mkdir -p "$(dirname "$1")" && cat > "$1"' sh "$PHONE_DIR/$1"
}
phone_random() { head -c "$2" /dev/urandom | phone_write "$1"; }
phone_rm() {
	local p
	for p in "$@"; do phone_as rm -rf "$PHONE_DIR/$p"; done
}
phone_mv() {
	phone_as sh -c 'mkdir -p "$(dirname "$2")" && mv "$1" "$2"' sh "$PHONE_DIR/$1" "$PHONE_DIR/$2"
}

phone_files() { (cd "$PHONE_DIR" 2> /dev/null && find . ! -type d -printf '%P\n' | LC_ALL=C sort); }
pc_files() { (cd "$PC/${1:-$PC_SUB}" 2> /dev/null && find . ! -type d -printf '%P\n' | LC_ALL=C sort); }
phone_leftovers() { find "$PHONE_DIR" -name '.*.dsync-*' -printf '%P\n' 2> /dev/null; }

phone_clean() {
	local what=$1 sub=${2:-$PC_SUB} a b
	check "$what: nothing of dsync's left on the phone" -z "$(phone_leftovers)"
	a=$(files_digest "$PHONE_DIR")
	b=$(files_digest "$PC/$sub")
	if [ "$a" = "$b" ] && [ -n "$a" ]; then
		pass "$what: the phone holds the user's files only, the same as $sub on the computer"
	else
		fail "$what: the phone's files differ from $sub on the computer (< phone, > computer)"
		diff <(echo "$a") <(echo "$b") | grep '^[<>]' | head -20 | sed 's/^/#   /'
	fi
}

mround() {
	local what=$1; shift
	ok "$what" on pc mirror sync "$@"
	[ -s "$TMP/out" ] && sed 's/^/#   | /' "$TMP/out"
	return 0
}
mround03() {
	local what=$1 rc=0; shift
	on pc mirror sync "$@" > "$TMP/out" 2> "$TMP/err" || rc=$?
	MROUND_RC=$rc
	if [ "$rc" = 0 ] || [ "$rc" = 3 ]; then
		pass "$what (exit $rc)"
		sed 's/^/#   | /' "$TMP/out"
	else
		fail "$what (exit $rc)"
		sed 's/^/#   /' "$TMP/out" "$TMP/err" | head -20
	fi
}

mlog() {
	on pc log --json --all-files 2> /dev/null |
		jq -r --arg d "$1" '.snapshots[] | select(.device == $d) | .files[] |
			[.status, .path, (.from // empty)] | join(" ")'
}
mlog_has() {
	if mlog "$2" | grep -Fx -- "$3" > /dev/null; then
		pass "$1"
	else
		fail "$1: no '$3' in $2's snapshots; dsync log says:"
		on pc log --all-files 2>&1 | head -30 | sed 's/^/#   /'
	fi
}

history_blobs() { git_of "$1" rev-list --objects --all | cut -d' ' -f1 | sort -u; }
blob_id() { git hash-object --no-filters -- "$1"; }

mirrorlib_cleanup() {
	ssh_masters_stop
	stop_pid "$PHONE_PID"
	phone_user_del
	sshlib_cleanup
}
trap mirrorlib_cleanup EXIT

# shas_of DIR GLOB...: the sorted SHA-256s of the files matching the globs
# in DIR
shas_of() {
	local dir=$1 g f; shift
	for g in "$@"; do
		for f in "$dir"/$g; do
			[ -f "$f" ] && sha "$f"
		done
	done | sort
}

# mirror_basics TAG: acceptance 1 against the phone started (mirror_test_start),
# checking the phone after every round (phone_clean). A photo added on the
# phone reaches the folder and its history names the phone; an edit and a
# new file in the folder reach the phone; a deletion on either side travels
# to the other (and a folder emptied on the phone goes); a conflicting edit
# leaves both versions on both sides; a rename on the phone is recorded as a
# rename. Then one round through the built-in SSH client (libssh2, which
# can't replace a name atomically: the old file is moved aside first),
# replacing a file on the phone, and a round with nothing to do.
mirror_basics() {
	local tag=$1 n
	mkdir -p "$PC/$PC_SUB" "$PC/Documents"
	echo "notes on the computer" > "$PC/Documents/notes.txt"
	echo "written on the computer" > "$PC/$PC_SUB/from-pc.txt"
	printf 'the original\n' > "$PC/$PC_SUB/doc.txt"
	phone_random IMG_0001.jpg 200000
	phone_random Camera/IMG_0002.jpg 150000
	printf 'the original\n' | phone_write doc.txt
	ok "$tag: init the computer's folder" as pc init "$PC" --device-name pc

	ok "$tag: mirror add phone $PHONE_URL --path-in-folder $PC_SUB" \
		on pc mirror add phone "$PHONE_URL" --path-in-folder "$PC_SUB"
	contains "$tag: ... it says so" "$TMP/out" "mirror 'phone' added"
	ok "$tag: mirror list" on pc mirror list
	contains "$tag: ... names the mirror and its subfolder" "$TMP/out" "-> $PC_SUB"
	contains "$tag: ... and the phone's folder" "$TMP/out" "127.0.0.1:$PHONE_PORT$PHONE_DIR"
	check "$tag: nothing was written to the phone by add" "$(phone_files | wc -l)" = 3

	mround "$tag: first round"
	check "$tag: the phone's photo is in the folder" \
		"$(sha "$PC/$PC_SUB/IMG_0001.jpg" 2> /dev/null)" = "$(sha "$PHONE_DIR/IMG_0001.jpg")"
	check "$tag: ... and the one in a subfolder" \
		"$(sha "$PC/$PC_SUB/Camera/IMG_0002.jpg" 2> /dev/null)" = "$(sha "$PHONE_DIR/Camera/IMG_0002.jpg")"
	check "$tag: the computer's file is on the phone" \
		"$(cat "$PHONE_DIR/from-pc.txt" 2> /dev/null)" = "written on the computer"
	check "$tag: the file both had, equal, is one file" -z "$(ls "$PC/$PC_SUB" | grep sync-conflict)"
	check "$tag: nothing outside the subfolder went to the phone" ! -e "$PHONE_DIR/notes.txt"
	mlog_has "$tag: dsync log names the phone as the device that added the photo" phone \
		"A $PC_SUB/IMG_0001.jpg"
	phone_clean "$tag: after the first round"
	check "$tag: the phone's files belong to its user" \
		-z "$(find "$PHONE_DIR" ! -user "$PHONE_USER")"

	# a photo taken on the phone
	phone_random Camera/IMG_0003.jpg 300000
	mround "$tag: a round after a photo was taken"
	check "$tag: the new photo is in the folder" \
		"$(sha "$PC/$PC_SUB/Camera/IMG_0003.jpg" 2> /dev/null)" = "$(sha "$PHONE_DIR/Camera/IMG_0003.jpg")"
	mlog_has "$tag: ... and in history, recorded by the phone" phone "A $PC_SUB/Camera/IMG_0003.jpg"
	phone_clean "$tag: after the photo"

	# edits in the folder
	echo "written on the computer, and edited there" > "$PC/$PC_SUB/from-pc.txt"
	mkdir -p "$PC/$PC_SUB/Albums/2026"
	echo "a list" > "$PC/$PC_SUB/Albums/2026/list.txt"
	mround "$tag: a round after edits in the folder"
	check "$tag: the edit is on the phone" \
		"$(cat "$PHONE_DIR/from-pc.txt" 2> /dev/null)" = "written on the computer, and edited there"
	check "$tag: the new file is on the phone, in its new folders" \
		"$(cat "$PHONE_DIR/Albums/2026/list.txt" 2> /dev/null)" = "a list"
	phone_clean "$tag: after edits in the folder"

	# a deletion on the phone
	phone_rm IMG_0001.jpg
	mround "$tag: a round after a deletion on the phone"
	check "$tag: the photo deleted on the phone is gone from the folder" ! -e "$PC/$PC_SUB/IMG_0001.jpg"
	mlog_has "$tag: ... recorded as the phone's deletion" phone "D $PC_SUB/IMG_0001.jpg"
	phone_clean "$tag: after the deletion on the phone"

	# a deletion in the folder, which empties a folder on the phone
	rm -r "$PC/$PC_SUB/Albums"
	mround "$tag: a round after a deletion in the folder"
	check "$tag: the file deleted in the folder is gone from the phone" ! -e "$PHONE_DIR/Albums/2026/list.txt"
	check "$tag: ... and the folders it left empty there" ! -e "$PHONE_DIR/Albums"
	phone_clean "$tag: after the deletion in the folder"

	# a conflicting edit
	printf 'edited on the computer\n' > "$PC/$PC_SUB/doc.txt"
	printf 'edited on the phone, differently\n' | phone_write doc.txt
	local want
	want=$(printf 'edited on the computer\n' | sha256sum | cut -c1-64; printf 'edited on the phone, differently\n' | sha256sum | cut -c1-64)
	want=$(echo "$want" | sort)
	mround03 "$tag: a round after a conflicting edit"
	check "$tag: both versions are in the folder (doc.txt and a conflict copy)" \
		"$(shas_of "$PC/$PC_SUB" doc.txt 'doc.sync-conflict-*.txt')" = "$want"
	check "$tag: ... and both are on the phone" \
		"$(shas_of "$PHONE_DIR" doc.txt 'doc.sync-conflict-*.txt')" = "$want"
	phone_clean "$tag: after the conflict"
	ok "$tag: the conflict is resolved keeping the file" on pc conflicts resolve "$PC_SUB/doc.txt" --keep file
	mround "$tag: a round after the conflict was resolved"
	check "$tag: the conflict copy is gone from the phone" -z "$(ls "$PHONE_DIR" | grep sync-conflict)"
	phone_clean "$tag: after the conflict was resolved"

	# a rename on the phone
	phone_mv Camera/IMG_0002.jpg Camera/holiday.jpg
	mround "$tag: a round after a rename on the phone"
	check "$tag: the folder has the new name" \
		"$(sha "$PC/$PC_SUB/Camera/holiday.jpg" 2> /dev/null)" = "$(sha "$PHONE_DIR/Camera/holiday.jpg")"
	check "$tag: ... and not the old one" ! -e "$PC/$PC_SUB/Camera/IMG_0002.jpg"
	mlog_has "$tag: dsync log records the phone's rename (R)" phone \
		"R $PC_SUB/Camera/holiday.jpg $PC_SUB/Camera/IMG_0002.jpg"
	phone_clean "$tag: after the rename"

	# a round through the built-in client: a file replaced on the phone
	ok "$tag: mirror set phone ssh builtin" on pc mirror set phone ssh builtin
	: > "$SSH_CALLS"
	echo "edited for the built-in client: a longer line" > "$PC/$PC_SUB/from-pc.txt"
	phone_random Camera/IMG_0004.jpg 120000
	mround "$tag: a round through the built-in SSH client"
	check "$tag: builtin: the edit replaced the file on the phone" \
		"$(cat "$PHONE_DIR/from-pc.txt" 2> /dev/null)" = "edited for the built-in client: a longer line"
	check "$tag: builtin: the new photo is in the folder" \
		"$(sha "$PC/$PC_SUB/Camera/IMG_0004.jpg" 2> /dev/null)" = "$(sha "$PHONE_DIR/Camera/IMG_0004.jpg")"
	phone_clean "$tag: after the built-in client's round"
	check "$tag: builtin: the round ran no ssh" ! -s "$SSH_CALLS"
	ok "$tag: mirror unset phone ssh" on pc mirror unset phone ssh

	# nothing changed
	n=$(commit_count "$PC")
	mround "$tag: a round with nothing changed"
	contains "$tag: ... says the phone is up to date" "$TMP/out" "phone: up to date"
	check "$tag: ... through the OpenSSH client again" -s "$SSH_CALLS"
	check "$tag: ... and records nothing" "$(commit_count "$PC")" = "$n"
	phone_clean "$tag: after the round with nothing changed"
	check "$tag: the computer's files outside the subfolder are untouched" \
		"$(cat "$PC/Documents/notes.txt")" = "notes on the computer"
}
