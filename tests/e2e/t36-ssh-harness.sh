#!/usr/bin/env bash
# The SSH test harness itself (sshlib.sh, tests/tools/delayproxy.py), proven
# with OpenSSH's own ssh and sftp clients before the sftp:// tests lean on
# it: files go up and come back byte for byte through sshd, through Dropbear
# with OpenSSH's sftp-server, and through the delay proxy (whose delay shows
# in the time taken and whose counts add up); each way of logging in works
# (key file, RSA, agent, passphrase-protected key through the agent, hashed
# known_hosts) and each refusal refuses (a key not authorized, a host key not
# known); the SFTP-only chrooted account sees only its folder.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sshlib.sh"

PROXY="$DSYNC_SRC/tests/tools/delayproxy.py"

ssh_client_keys
head -c 300000 /dev/urandom > "$TMP/payload"
mkdir -p "$TMP/remote"

# sftp_roundtrip ALIAS TAG [SFTP-OPTIONS...]: put the payload and get it back
# through ALIAS; the copy on the server and the one fetched must both equal it
sftp_roundtrip() {
	local alias=$1 tag=$2; shift 2
	rm -f "$TMP/remote/$tag" "$TMP/back-$tag"
	printf 'put %s %s\nget %s %s\n' "$TMP/payload" "$TMP/remote/$tag" \
		"$TMP/remote/$tag" "$TMP/back-$tag" > "$TMP/batch-$tag"
	sftp -F "$SSH_CONFIG" "$@" -b "$TMP/batch-$tag" "$alias" > "$TMP/sftp-$tag.log" 2>&1 &&
		cmp -s "$TMP/payload" "$TMP/remote/$tag" &&
		cmp -s "$TMP/payload" "$TMP/back-$tag"
}

# --- OpenSSH sshd
# where the chroot account can run (as root) it must: no quiet fallback
if ssh_can chroot; then sshd_args=--chroot; else sshd_args=; fi
if sshd_start $sshd_args; then
	pass "sshd started on 127.0.0.1:$SSHD_PORT (pid $SSHD_PID)"
	ssh_known_host "$SSHD_PORT" "$SSHD_DIR"/ssh_host_{ed25519,ecdsa,rsa}_key.pub
	ssh_config_host sshd "$SSHD_PORT"
	ssh_config_host sshd-rsa "$SSHD_PORT" IdentityFile "$HOME/.ssh/id_rsa"
	ssh_config_host sshd-wrong "$SSHD_PORT" IdentityFile "$HOME/.ssh/id_wrong"
	ssh_config_host sshd-unknown "$SSHD_PORT" UserKnownHostsFile "$TMP/empty_known_hosts"
	: > "$TMP/empty_known_hosts"

	ok "ssh runs a command with the ed25519 key file" \
		ssh -F "$SSH_CONFIG" sshd 'echo "hello from $(id -un)"'
	contains "the command ran as $SSH_USER" "$TMP/out" "hello from $SSH_USER"
	check "sftp put/get through sshd, byte for byte" -n "$(sftp_roundtrip sshd sshd && echo y)"
	ok "an RSA key file logs in (rsa-sha2)" ssh -F "$SSH_CONFIG" sshd-rsa true
	fails 255 "a key not in authorized_keys is refused" ssh -F "$SSH_CONFIG" sshd-wrong true
	contains "... with 'Permission denied'" "$TMP/err" "Permission denied"
	grep -F "test-wrong" "$SSHD_DIR/log" > /dev/null ||
		grep -F "$(ssh-keygen -lf "$HOME/.ssh/id_wrong.pub" | cut -d' ' -f2)" "$SSHD_DIR/log" > /dev/null
	check "... and sshd's log shows the key it refused" $? = 0
	fails 255 "an unknown host key is refused under BatchMode" \
		ssh -F "$SSH_CONFIG" sshd-unknown true
	contains "... with 'Host key verification failed'" "$TMP/err" "Host key verification failed"
	check "... and known_hosts is left as it was" ! -s "$TMP/empty_known_hosts"

	# --- the agent
	ok "ssh-agent starts" ssh_agent_start
	ssh_keygen_quiet -t ecdsa -N "" -C "test-agent" -f "$HOME/.ssh/id_agent"
	ssh_authorize "$HOME/.ssh/id_agent.pub"
	ok "a key is added to the agent" ssh-add "$HOME/.ssh/id_agent"
	# only the agent holds this key now: a login with it proves the agent
	rm "$HOME/.ssh/id_agent"
	chmod 600 "$HOME/.ssh/id_agent.pub"
	ssh_config_host sshd-agent "$SSHD_PORT" IdentityAgent "$SSH_AUTH_SOCK" \
		IdentityFile "$HOME/.ssh/id_agent.pub"
	check "sftp put/get with a key only the agent holds" \
		-n "$(sftp_roundtrip sshd-agent agent && echo y)"
	ssh_config_host sshd-locked "$SSHD_PORT" IdentityAgent "$SSH_AUTH_SOCK" \
		IdentityFile "$HOME/.ssh/id_locked"
	fails 255 "the passphrase-protected key is refused under BatchMode before the agent has it" \
		ssh -F "$SSH_CONFIG" sshd-locked true
	ok "the passphrase-protected key is added to the agent (passphrase typed by askpass)" \
		ssh_agent_add "$HOME/.ssh/id_locked"
	ok "ssh-add lists it" ssh-add -l
	contains "... by its comment" "$TMP/out" "test-locked"
	check "sftp put/get with the passphrase-protected key through the agent" \
		-n "$(sftp_roundtrip sshd-locked locked && echo y)"
	agent_pid=$SSH_AGENT_PID
	agent_sock=$SSH_AUTH_SOCK
	ssh_agent_stop
	check "the agent is stopped by its pid" -n "$(kill -0 "$agent_pid" 2>/dev/null || echo gone)"
	fails 255 "without the agent, the agent-only key no longer logs in" \
		ssh -F "$SSH_CONFIG" -o IdentityAgent="$agent_sock" sshd-agent true

	# --- hashed known_hosts
	ssh_hash_known_hosts
	check "known_hosts is hashed" -z "$(grep -v '^|1|' "$SSH_KNOWN_HOSTS")"
	check "... and holds no host name in clear" -z "$(grep -F 127.0.0.1 "$SSH_KNOWN_HOSTS")"
	ok "a hashed known_hosts entry is accepted" ssh -F "$SSH_CONFIG" sshd true

	# --- the delay proxy
	rm -f "$TMP/proxy.port"
	python3 "$PROXY" --target "$SSHD_PORT" --port-file "$TMP/proxy.port" \
		--delay-ms 25 --stats "$TMP/proxy.stats" &
	proxy_pid=$!
	STARTED_PIDS+=("$proxy_pid")
	for _ in $(seq 50); do [ -s "$TMP/proxy.port" ] && break; sleep 0.1; done
	check "the delay proxy listens" -s "$TMP/proxy.port"
	proxy_port=$(cat "$TMP/proxy.port")
	# the host key is known for sshd's port; through the proxy the client
	# sees another port, so that one gets an entry of its own
	ssh_known_host "$proxy_port" "$SSHD_DIR"/ssh_host_{ed25519,ecdsa,rsa}_key.pub
	ssh_config_host sshd-slow "$proxy_port"
	t0=$(now_ms)
	sftp_roundtrip sshd payload-direct-timing
	direct_ms=$(( $(now_ms) - t0 ))
	t0=$(now_ms)
	check "sftp put/get through the 25 ms delay proxy" \
		-n "$(sftp_roundtrip sshd-slow slow && echo y)"
	slow_ms=$(( $(now_ms) - t0 ))
	stop_pid "$proxy_pid"
	check "the proxy writes its counts on SIGTERM" -s "$TMP/proxy.stats"
	stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/proxy.stats"; }
	up=$(stat_of bytes_up) down=$(stat_of bytes_down)
	rts=$(stat_of round_trips) conns=$(stat_of connections)
	echo "# direct ${direct_ms} ms, through the proxy ${slow_ms} ms;" \
		"$conns connection(s), $up bytes up, $down down, $rts round trips"
	check "the proxy saw one connection" "$conns" = 1
	check "it counted the upload's bytes going up" "${up:-0}" -gt 300000
	check "it counted the download's bytes going down" "${down:-0}" -gt 300000
	check "it counted the round trips of key exchange, login and SFTP (>= 8)" "${rts:-0}" -ge 8
	# each round trip pays 25 ms each way; allow for turns of the flow that
	# were not a wait (both sides sending at once) by asking for half
	check "the delay shows in the time taken (>= $((rts * 25)) ms more than direct)" \
		"$((slow_ms - direct_ms))" -ge "$((rts * 25))"

	# --- a rate limit: 300 kB at 200 kB/s takes at least 1.5 s each way
	rm -f "$TMP/proxy.port"
	python3 "$PROXY" --target "$SSHD_PORT" --port-file "$TMP/proxy.port" \
		--delay-ms 0 --rate 200000 --stats "$TMP/proxy2.stats" &
	proxy_pid=$!
	STARTED_PIDS+=("$proxy_pid")
	for _ in $(seq 50); do [ -s "$TMP/proxy.port" ] && break; sleep 0.1; done
	proxy_port=$(cat "$TMP/proxy.port")
	ssh_known_host "$proxy_port" "$SSHD_DIR"/ssh_host_{ed25519,ecdsa,rsa}_key.pub
	ssh_config_host sshd-thin "$proxy_port"
	t0=$(now_ms)
	check "sftp put/get through a 200 kB/s proxy" -n "$(sftp_roundtrip sshd-thin thin && echo y)"
	thin_ms=$(( $(now_ms) - t0 ))
	stop_pid "$proxy_pid"
	echo "# through 200 kB/s: ${thin_ms} ms"
	check "the rate limit shows in the time taken (>= 3000 ms for 300 kB each way)" \
		"$thin_ms" -ge 3000

	# --- the SFTP-only chrooted account
	if [ -n "${SSHD_CHROOT_PORT:-}" ]; then
		ssh_known_host "$SSHD_CHROOT_PORT" "$SSHD_DIR"/ssh_host_{ed25519,ecdsa,rsa}_key.pub
		ssh_config_host friend "$SSHD_CHROOT_PORT"
		printf 'put %s /upload/f\nls -1 /\n' "$TMP/payload" > "$TMP/batch-chroot"
		ok "sftp puts a file into the chrooted account" \
			sftp -F "$SSH_CONFIG" -b "$TMP/batch-chroot" friend
		check "... and it lands in the chroot folder" \
			-n "$(cmp -s "$TMP/payload" "$SSHD_CHROOT/upload/f" && echo y)"
		grep -v '^sftp>' "$TMP/out" > "$TMP/chroot-ls"
		check "the account's / is the chroot folder (it lists only '/upload')" \
			"$(tr -d ' \n' < "$TMP/chroot-ls")" = "/upload"
		[ "$(tr -d ' \n' < "$TMP/chroot-ls")" = /upload ] || sed 's/^/#   /' "$TMP/out"
		printf 'get /etc/passwd %s\n' "$TMP/stolen" > "$TMP/batch-escape"
		fails 1 "a file outside the chroot cannot be fetched" \
			sftp -F "$SSH_CONFIG" -b "$TMP/batch-escape" friend
		check "... and nothing was fetched" ! -e "$TMP/stolen"
		ssh -F "$SSH_CONFIG" -n friend 'echo shell-ran' > "$TMP/forced.out" 2>&1 || true
		check "ForceCommand gives no shell: a command does not run" \
			-z "$(grep -F shell-ran "$TMP/forced.out")"
		contains "sshd logged the chroot" "$SSHD_DIR/log" "internal-sftp"
	else
		echo "# skipped: the ForceCommand/ChrootDirectory account (see above)"
	fi

	sshd_pid=$SSHD_PID
	sshd_stop
	check "sshd is stopped by its pid" -n "$(kill -0 "$sshd_pid" 2>/dev/null || echo gone)"
	fails 255 "nothing answers on its port any more" ssh -F "$SSH_CONFIG" sshd true
else
	fail "sshd starts"
fi

# --- Dropbear with OpenSSH's sftp-server
if ssh_can dropbear; then
	if dropbear_start; then
		pass "dropbear started on 127.0.0.1:$DROPBEAR_PORT (pid $DROPBEAR_PID)"
		ssh_known_host "$DROPBEAR_PORT" "$DROPBEAR_DIR"/host_{ed25519,ecdsa,rsa}.pub
		ssh_config_host dropbear "$DROPBEAR_PORT"
		ssh_config_host dropbear-wrong "$DROPBEAR_PORT" IdentityFile "$HOME/.ssh/id_wrong"
		ssh_hash_known_hosts
		ok "ssh runs a command through Dropbear (hashed known_hosts)" \
			ssh -F "$SSH_CONFIG" dropbear 'echo "dropbear says hi"'
		contains "... and its output comes back" "$TMP/out" "dropbear says hi"
		check "sftp put/get through Dropbear + sftp-server, byte for byte" \
			-n "$(sftp_roundtrip dropbear dropbear && echo y)"
		fails 255 "Dropbear refuses a key not in authorized_keys" \
			ssh -F "$SSH_CONFIG" dropbear-wrong true
		ok "Dropbear's pid file names it" test "$(cat "$DROPBEAR_DIR/dropbear.pid")" = "$DROPBEAR_PID"
		db_pid=$DROPBEAR_PID
		dropbear_stop
		check "dropbear is stopped by its pid" -n "$(kill -0 "$db_pid" 2>/dev/null || echo gone)"
	else
		fail "dropbear starts"
	fi
else
	echo "# skipped: Dropbear (see above)"
fi

finish
