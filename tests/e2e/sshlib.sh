# Real SSH servers and clients for the sftp:// tests, sourced after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/sshlib.sh"
#
# Everything lives in the test's $TMP and stops with it: an OpenSSH sshd and a
# Dropbear on 127.0.0.1 on free ports with their own host keys, client keys,
# a client config and known_hosts in $HOME/.ssh, an ssh-agent.
#
#   free_port                  a free TCP port on 127.0.0.1
#   ssh_client_keys            $HOME/.ssh/id_ed25519, id_rsa, id_locked (with
#                              passphrase $SSH_KEY_PASSPHRASE), id_wrong (never
#                              authorized); the first three are authorized
#   ssh_authorize PUBFILE      let PUBFILE's key log in to both servers
#   sshd_start [--chroot]      OpenSSH sshd: sets SSHD_PORT, SSHD_PID,
#                              SSHD_DIR; with --chroot (root only) also
#                              SSHD_CHROOT_PORT, a port on which the same user
#                              gets only `internal-sftp` chrooted into
#                              $SSHD_CHROOT (a folder in $TMP)
#   sshd_stop
#   dropbear_start             Dropbear (root only: it reads the user's real
#                              home, so it runs in a mount namespace that binds
#                              $SSH_SERVER_HOME over it): sets DROPBEAR_PORT,
#                              DROPBEAR_PID, DROPBEAR_DIR
#   dropbear_stop
#   ssh_known_host PORT PUBFILE...  add [127.0.0.1]:PORT entries to known_hosts
#   ssh_hash_known_hosts       hash known_hosts (ssh-keygen -H)
#   ssh_config_host ALIAS PORT [Option value]...  a Host block in the config
#   ssh_agent_start / ssh_agent_stop   sets SSH_AUTH_SOCK, SSH_AGENT_PID
#   ssh_agent_add KEYFILE      add a key, typing $SSH_KEY_PASSPHRASE if asked
#   ssh_can NAME               0 if this machine can run NAME (sshd, dropbear,
#                              chroot), else prints why on stderr
#
# The OpenSSH client finds ~/.ssh through the password database, not $HOME,
# so the clients here must be run as `ssh -F "$SSH_CONFIG"` / `sftp -F ...`:
# every Host block names its key files and known_hosts explicitly, and the
# defaults at the end forbid the agent and the real ~/.ssh keys, so a login
# that works used exactly what the test gave it.
#
# The user logged in as is the current one (root in CI); its sessions see
# HOME as the password database says. Every server and agent started is
# stopped by its pid when the test exits, before lib.sh removes $TMP.

SSH_USER=$(id -un)
SSH_CONFIG="$HOME/.ssh/config"
SSH_KNOWN_HOSTS="$HOME/.ssh/known_hosts"
SSH_KEY_PASSPHRASE="correct horse battery"
# the home Dropbear sees for $SSH_USER, and sshd's AuthorizedKeysFile
SSH_SERVER_HOME="$TMP/ssh-server-home"
SSH_AUTHORIZED_KEYS="$SSH_SERVER_HOME/.ssh/authorized_keys"
SSHD_BIN=/usr/sbin/sshd
SSHD_SFTP_SERVER=/usr/lib/openssh/sftp-server
# Dropbear runs the path compiled into it (SFTPSERVER_PATH); Debian's is this
# link to OpenSSH's sftp-server
DROPBEAR_SFTP_SERVER=/usr/lib/sftp-server
# sshd refuses a ChrootDirectory any of whose path components is writable by
# others, and $TMP lies under /tmp (mode 1777): the chroot folder is bound
# over this root-owned mount point in sshd's own mount namespace
SSHD_CHROOT_MOUNT=/mnt
unset SSH_AUTH_SOCK SSH_AGENT_PID
SSHD_PID="" DROPBEAR_PID="" SSH_AGENT_PID=""

mkdir -p "$HOME/.ssh" "$SSH_SERVER_HOME/.ssh"
chmod 700 "$HOME/.ssh" "$SSH_SERVER_HOME" "$SSH_SERVER_HOME/.ssh"
: > "$SSH_KNOWN_HOSTS"
: > "$SSH_CONFIG"
: > "$SSH_AUTHORIZED_KEYS"
chmod 600 "$SSH_AUTHORIZED_KEYS"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ssh_skip WHY: ends a test that can't run here as skipped, except under CI
# (CI set), which installs every server: there it fails instead, so that a
# test never passes unseen.
ssh_skip() {
	if [ -n "${CI:-}" ]; then
		fail "under CI every server runs: $1"
	else
		echo "# skipped: $1 (see above)"
	fi
	finish
}

# ssh_test_start [sshd_start's options]: what most sftp tests begin with: the
# client keys, sshd started, and its three host keys in known_hosts.  Without
# an sshd the test ends skipped, except under CI (CI set), which installs one:
# there a missing server fails the test rather than pass it unseen.
ssh_test_start() {
	ssh_can sshd || ssh_skip "no sshd"
	ssh_client_keys
	sshd_start "$@" || { fail "sshd starts"; finish; }
	ssh_known_host "$SSHD_PORT" "$SSHD_DIR"/ssh_host_{ed25519,ecdsa,rsa}_key.pub
}

ssh_can() {
	case $1 in
	sshd)
		[ -x "$SSHD_BIN" ] && [ -x "$SSHD_SFTP_SERVER" ] && return 0
		echo "# no $SSHD_BIN or $SSHD_SFTP_SERVER (Debian: openssh-server)" >&2 ;;
	dropbear)
		if ! command -v dropbear > /dev/null || ! command -v dropbearkey > /dev/null; then
			echo "# no dropbear (Debian: dropbear-bin)" >&2
		elif [ ! -x "$DROPBEAR_SFTP_SERVER" ]; then
			echo "# no $DROPBEAR_SFTP_SERVER, Dropbear's SFTP subsystem (Debian: openssh-sftp-server)" >&2
		elif [ "$(id -u)" != 0 ]; then
			echo "# not root: Dropbear reads ~$SSH_USER/.ssh/authorized_keys, and only root can bind a test folder over the real home" >&2
		else
			return 0
		fi ;;
	chroot)
		if [ "$(id -u)" != 0 ]; then
			echo "# not root: sshd's ChrootDirectory needs a root-owned path and root to chroot" >&2
		elif [ ! -d "$SSHD_CHROOT_MOUNT" ]; then
			echo "# no $SSHD_CHROOT_MOUNT to bind the chroot folder over" >&2
		else
			return 0
		fi ;;
	esac
	return 1
}

# ssh_wait_banner PORT PID: wait until PORT answers with an SSH banner, while
# PID lives; 1 if PID died first (a port another test took, say) or 10 s
# passed
ssh_wait_banner() {
	local port=$1 pid=$2 i line
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 1
		# (the braces quiet bash's "connection refused" while it starts)
		if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
			line=
			read -r -t 2 line <&3 || true
			exec 3<&- 3>&-
			case $line in SSH-2.0-*) return 0 ;; esac
		fi
		sleep 0.1
	done
	return 1
}

# stop_pid PID: TERM, then KILL if it has not gone in 5 s; reaps it
stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

ssh_keygen_quiet() { ssh-keygen -q "$@" < /dev/null > /dev/null; }

ssh_client_keys() {
	ssh_keygen_quiet -t ed25519 -N "" -C "test-ed25519" -f "$HOME/.ssh/id_ed25519"
	ssh_keygen_quiet -t rsa -b 3072 -N "" -C "test-rsa" -f "$HOME/.ssh/id_rsa"
	ssh_keygen_quiet -t ed25519 -N "$SSH_KEY_PASSPHRASE" -C "test-locked" -f "$HOME/.ssh/id_locked"
	ssh_keygen_quiet -t ed25519 -N "" -C "test-wrong" -f "$HOME/.ssh/id_wrong"
	ssh_authorize "$HOME/.ssh/id_ed25519.pub"
	ssh_authorize "$HOME/.ssh/id_rsa.pub"
	ssh_authorize "$HOME/.ssh/id_locked.pub"
}

ssh_authorize() { cat "$1" >> "$SSH_AUTHORIZED_KEYS"; }

# sshd_write_config DIR PORT [CHROOT_PORT]
sshd_write_config() {
	local dir=$1 port=$2 cport=${3:-} t
	{
		echo "Port $port"
		[ -n "$cport" ] && echo "Port $cport"
		echo "ListenAddress 127.0.0.1"
		for t in ed25519 ecdsa rsa; do
			echo "HostKey $dir/ssh_host_${t}_key"
		done
		cat <<-EOF
		PidFile $dir/sshd.pid
		AuthorizedKeysFile $SSH_AUTHORIZED_KEYS
		UsePAM no
		StrictModes no
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		PubkeyAuthentication yes
		LogLevel VERBOSE
		Subsystem sftp $SSHD_SFTP_SERVER
		EOF
		if [ -n "$cport" ]; then
			# what a host gives a friend: SFTP only, inside one folder
			cat <<-EOF
			Match LocalPort $cport
			 	ForceCommand internal-sftp
			 	ChrootDirectory $SSHD_CHROOT_MOUNT
			 	AllowTcpForwarding no
			 	X11Forwarding no
			 	PermitTTY no
			EOF
		fi
	} > "$dir/sshd_config"
}

# sshd_host_keys DIR: ed25519, ECDSA and RSA host keys DIR/ssh_host_*_key
# (and .pub), made once
sshd_host_keys() {
	local dir=$1 t
	mkdir -p "$dir"
	for t in ed25519 ecdsa rsa; do
		[ -f "$dir/ssh_host_${t}_key" ] ||
			ssh_keygen_quiet -t "$t" -N "" -C "test-host-$t" -f "$dir/ssh_host_${t}_key"
	done
}

# dropbear_host_keys DIR: Dropbear's ed25519, ECDSA and RSA host keys
# DIR/host_* (made once) and their public halves in OpenSSH's form
# (DIR/host_*.pub, for known_hosts); sets DROPBEAR_KEYS to dropbear's
# options naming them (-r FILE...)
dropbear_host_keys() {
	local dir=$1 t
	mkdir -p "$dir"
	DROPBEAR_KEYS=()
	for t in ed25519 ecdsa rsa; do
		[ -f "$dir/host_$t" ] ||
			dropbearkey -t "$t" -f "$dir/host_$t" > /dev/null 2>&1
		dropbearkey -y -f "$dir/host_$t" 2>/dev/null |
			grep -E '^(ssh-|ecdsa-)' > "$dir/host_$t.pub"
		DROPBEAR_KEYS+=(-r "$dir/host_$t")
	done
}

sshd_start() {
	local chroot=""
	[ "${1:-}" = --chroot ] && chroot=1
	ssh_can sshd || return 1
	if [ -n "$chroot" ] && ! ssh_can chroot; then
		return 1
	fi
	SSHD_DIR="$TMP/sshd"
	sshd_host_keys "$SSHD_DIR"
	# the compiled-in privilege separation folder
	[ "$(id -u)" != 0 ] || mkdir -p /run/sshd
	if [ -n "$chroot" ]; then
		SSHD_CHROOT="$TMP/chroot"
		mkdir -p "$SSHD_CHROOT/upload"
		chmod 755 "$SSHD_CHROOT"
	fi
	# a port picked free may be taken before sshd binds it (another test
	# running at once): try a few
	local try
	for try in 1 2 3 4 5; do
		SSHD_PORT=$(free_port)
		SSHD_CHROOT_PORT=""
		[ -z "$chroot" ] || SSHD_CHROOT_PORT=$(free_port)
		sshd_write_config "$SSHD_DIR" "$SSHD_PORT" "$SSHD_CHROOT_PORT"
		if [ -n "$chroot" ]; then
			# unshare without --fork execs: $! is sshd's pid
			unshare -m --propagation private sh -c \
				'mount --bind "$1" "$2" && exec "$3" -D -f "$4" -E "$5"' \
				sh "$SSHD_CHROOT" "$SSHD_CHROOT_MOUNT" "$SSHD_BIN" \
				"$SSHD_DIR/sshd_config" "$SSHD_DIR/log" < /dev/null &
		else
			"$SSHD_BIN" -D -f "$SSHD_DIR/sshd_config" -E "$SSHD_DIR/log" < /dev/null &
		fi
		SSHD_PID=$!
		STARTED_PIDS+=("$SSHD_PID")
		if ssh_wait_banner "$SSHD_PORT" "$SSHD_PID" &&
			{ [ -z "$chroot" ] || ssh_wait_banner "$SSHD_CHROOT_PORT" "$SSHD_PID"; }; then
			return 0
		fi
		stop_pid "$SSHD_PID"
		SSHD_PID=""
	done
	echo "# sshd did not start; its log:" >&2
	sed 's/^/#   /' "$SSHD_DIR/log" >&2
	return 1
}

# ssh connections dsync shares between runs (docs/sftp.md section 2.2):
# their sockets in a short folder of the test's own (a socket's path must
# fit 108 bytes, which $TMP/home/.cache would not), their masters stopped
# when the test ends, or when it stops the server they talk to
export XDG_RUNTIME_DIR
XDG_RUNTIME_DIR=$(mktemp -d /tmp/dsr.XXXXXX)
unset XDG_CACHE_HOME DSYNC_SSH_SHARE
ssh_masters_stop() {
	local s
	for s in "$XDG_RUNTIME_DIR"/dsync/*; do
		[ -S "$s" ] || continue
		ssh -F /dev/null -o ControlPath="$s" -O exit shared > /dev/null 2>&1 || rm -f "$s"
	done
}

# a server that stops ends the connections dsync shares (as a reboot of the
# host would), so the next run logs in again
sshd_stop() { ssh_masters_stop; stop_pid "$SSHD_PID"; SSHD_PID=""; }

dropbear_start() {
	ssh_can dropbear || return 1
	DROPBEAR_DIR="$TMP/dropbear"
	local keys=() home
	dropbear_host_keys "$DROPBEAR_DIR"
	keys=("${DROPBEAR_KEYS[@]}")
	home=$(getent passwd "$SSH_USER" | cut -d: -f6)
	if [ -z "$home" ] || [ ! -d "$home" ]; then
		echo "# $SSH_USER's home '$home' is not a folder to bind over" >&2
		return 1
	fi
	local try
	for try in 1 2 3 4 5; do
		DROPBEAR_PORT=$(free_port)
		# Dropbear reads ~USER/.ssh/authorized_keys with no option to look
		# elsewhere: in its own mount namespace the test's server home
		# stands in for the real one. -F: foreground, -E: log to stderr,
		# -s: keys only.
		unshare -m --propagation private sh -c \
			'mount --bind "$1" "$2" && shift 2 && exec "$@"' \
			sh "$SSH_SERVER_HOME" "$home" \
			dropbear -F -E -s -g "${keys[@]}" -p "127.0.0.1:$DROPBEAR_PORT" \
			-P "$DROPBEAR_DIR/dropbear.pid" < /dev/null 2> "$DROPBEAR_DIR/log" &
		DROPBEAR_PID=$!
		STARTED_PIDS+=("$DROPBEAR_PID")
		ssh_wait_banner "$DROPBEAR_PORT" "$DROPBEAR_PID" && return 0
		stop_pid "$DROPBEAR_PID"
		DROPBEAR_PID=""
	done
	echo "# dropbear did not start; its log:" >&2
	sed 's/^/#   /' "$DROPBEAR_DIR/log" >&2
	return 1
}

dropbear_stop() { ssh_masters_stop; stop_pid "$DROPBEAR_PID"; DROPBEAR_PID=""; }

# ssh_known_host PORT PUBFILE...: trust these host keys for 127.0.0.1:PORT
ssh_known_host() {
	local port=$1 f; shift
	for f in "$@"; do
		printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$f")" >> "$SSH_KNOWN_HOSTS"
	done
}

ssh_hash_known_hosts() {
	ssh-keygen -q -H -f "$SSH_KNOWN_HOSTS" > /dev/null 2>&1 &&
		rm -f "$SSH_KNOWN_HOSTS.old"
}

# ssh_config_host ALIAS PORT [OPTION VALUE]...: a Host block; options given
# win over the defaults, which are: this user, the ed25519 key file, no
# agent, known_hosts in $HOME only and checked strictly, never a prompt
ssh_config_host() {
	local alias=$1 port=$2 given=" " line; shift 2
	{
		echo "Host $alias"
		while [ $# -ge 2 ]; do
			echo "	$1 $2"
			given="$given${1,,} "
			shift 2
		done
		# a default only where no option was given: the first value wins
		# for most options, but IdentityFile adds up, so a default key
		# would log in where the test meant another one to
		while read -r line; do
			case $given in *" ${line%% *} "*) continue ;; esac
			echo "	$line"
		done <<-EOF
		hostname 127.0.0.1
		port $port
		user $SSH_USER
		identityfile $HOME/.ssh/id_ed25519
		identitiesonly yes
		identityagent none
		userknownhostsfile $SSH_KNOWN_HOSTS
		globalknownhostsfile /dev/null
		stricthostkeychecking yes
		updatehostkeys no
		batchmode yes
		connecttimeout 10
		loglevel ERROR
		EOF
	} >> "$SSH_CONFIG"
}

ssh_agent_start() {
	SSH_AUTH_SOCK="$HOME/.ssh/agent.sock"
	rm -f "$SSH_AUTH_SOCK"
	ssh-agent -D -a "$SSH_AUTH_SOCK" > /dev/null 2>&1 < /dev/null &
	SSH_AGENT_PID=$!
	STARTED_PIDS+=("$SSH_AGENT_PID")
	export SSH_AUTH_SOCK SSH_AGENT_PID
	local i
	for i in $(seq 50); do
		[ -S "$SSH_AUTH_SOCK" ] && return 0
		kill -0 "$SSH_AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# ssh-agent did not start" >&2
	return 1
}

ssh_agent_stop() {
	stop_pid "$SSH_AGENT_PID"
	SSH_AGENT_PID=""
	rm -f "${SSH_AUTH_SOCK:-}"
	unset SSH_AUTH_SOCK
	export -n SSH_AGENT_PID
}

# ssh_agent_add KEYFILE: ssh-add reads a passphrase only from a terminal or
# SSH_ASKPASS; a script that prints $SSH_KEY_PASSPHRASE stands in for the user
ssh_agent_add() {
	local askpass="$TMP/askpass.sh"
	printf '#!/bin/sh\nprintf "%%s\\n" "$SSH_KEY_PASSPHRASE"\n' > "$askpass"
	chmod 700 "$askpass"
	SSH_KEY_PASSPHRASE="$SSH_KEY_PASSPHRASE" SSH_ASKPASS="$askpass" \
		SSH_ASKPASS_REQUIRE=force DISPLAY="${DISPLAY:-:0}" \
		ssh-add "$1" < /dev/null
}

# the servers and the agent stop by pid before lib.sh's cleanup removes $TMP
sshlib_cleanup() {
	sshd_stop
	dropbear_stop
	[ -z "$SSH_AGENT_PID" ] || ssh_agent_stop
	cleanup
	rm -rf "$XDG_RUNTIME_DIR"
}
trap sshlib_cleanup EXIT
# a test stopped by a signal (ctest's timeout) still runs the EXIT trap, so
# no server outlives it
trap 'exit 143' TERM
trap 'exit 130' INT
