#!/bin/bash
# sshd killed in the middle of an sftp:// push (issue 14, acceptance 6).
#
# Part 1: a device pushes through tests/tools/delayproxy.py (100 ms each way,
# 1 MB/s) in front of sshlib's sshd, with the OpenSSH client, and sshd is
# killed, with its session children (found from its pid through `pgrep -P`,
# never by name), at three points of a push:
#   - during a pack's writes (a .*.tmp-* file is in the host's packs/),
#   - after a pack's rename (a new pack is there, no new manifest yet),
#   - during the manifest's put (a .*.tmp-* file in the device's folder).
# The delay makes each window at least a round trip (200 ms) long, so the
# host folder, which is local, can be watched for it. Each time: exit 1 and
# one line of error naming the host, no new blob name holds a half-written
# blob, and after sshd is restarted (same port, same host keys) the next sync
# succeeds and `dsync check --read-data` passes on both devices.
#
# Part 2: a first push of about 100 MB of random files, cut into 8 MiB packs
# (DSYNC_TEST_PACK_MAX), through a 20 MB/s proxy that counts bytes; sshd is
# killed once half the packs are in the store and the next one is half
# sent, then the push runs again. The re-run sends at most one pack's worth
# more than the packs that were not there yet, both runs together at most
# one pack's worth more than the store holds (by the proxy's count, and by
# dsync's own when push has --json), and the packs that were there are left
# untouched (but one, whose rename the kill may have stopped the reply to). T44_SSH=builtin runs it all with the
# built-in client; T44_MB sets the size of part 2.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_TEST_SLOW DSYNC_TEST_PACK_MAX DSYNC_SSH_COMMAND
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

PROXY="$DSYNC_SRC/tests/tools/delayproxy.py"
PASS=$TMP/passphrase
echo "cut test passphrase" > "$PASS"
STORE=$TMP/store
MB=${T44_MB:-100}
PACK_MAX=$((8 << 20))

ssh_test_start
# the OpenSSH client, pointed at the test's config (it finds ~/.ssh through
# the password database, not $HOME); T44_SSH=builtin runs the built-in client,
# which reads $HOME/.ssh: each device's home gets the test's
MODE=${T44_SSH:-openssh}
export DSYNC_SSH=$MODE
if [ "$MODE" = openssh ]; then
	export DSYNC_SSH_COMMAND="ssh -F $SSH_CONFIG"
else
	for d in A B C D; do mkdir -p "$TMP/home-$d" && ln -sfn "$HOME/.ssh" "$TMP/home-$d/.ssh"; done
fi
echo "# the ssh client: $MODE"

# sshd_kill: SIGKILL to sshd (by its pid, which its pid file must name) and
# to every session process below it, as a host that loses power. The tree
# is frozen first (SIGSTOP, top down), so no process forks a child that the
# list would miss, or is orphaned and lost from it, before all die at once.
sshd_kill() {
	local pid=$SSHD_PID all="" next level p
	[ "$(cat "$SSHD_DIR/sshd.pid" 2> /dev/null)" = "$pid" ] ||
		echo "# sshd's pid file says $(cat "$SSHD_DIR/sshd.pid" 2> /dev/null), started as $pid"
	next=$pid
	while [ -n "$next" ]; do
		kill -STOP $next 2> /dev/null
		all="$all $next"
		level=$next next=""
		for p in $level; do next="$next $(pgrep -P "$p" | tr '\n' ' ')"; done
		next=$(echo $next)
	done
	kill -9 $all 2> /dev/null
	wait "$pid" 2> /dev/null
	SSHD_PID=""
	echo "# killed sshd and its sessions:$all"
}

# sshd_restart: sshd again on the same port with the same config and host keys
sshd_restart() {
	local try
	for try in 1 2 3 4 5 6 7 8 9 10; do
		"$SSHD_BIN" -D -f "$SSHD_DIR/sshd_config" -E "$SSHD_DIR/log" < /dev/null &
		SSHD_PID=$!
		STARTED_PIDS+=("$SSHD_PID")
		ssh_wait_banner "$SSHD_PORT" "$SSHD_PID" && return 0
		stop_pid "$SSHD_PID"
		SSHD_PID=""
		sleep 0.5
	done
	return 1
}

# proxy_start NAME ARGS...: a delay proxy in front of sshd; sets PROXY_PID_NAME
# and PROXY_PORT_NAME, its counts go to $TMP/NAME.stats
proxy_start() {
	local name=$1 i port; shift
	rm -f "$TMP/$name.port"
	python3 "$PROXY" --target "$SSHD_PORT" --port-file "$TMP/$name.port" \
		--stats "$TMP/$name.stats" "$@" &
	printf -v "PROXY_PID_$name" %s $!
	STARTED_PIDS+=($!)
	for i in $(seq 50); do [ -s "$TMP/$name.port" ] && break; sleep 0.1; done
	port=$(cat "$TMP/$name.port" 2> /dev/null)
	printf -v "PROXY_PORT_$name" %s "$port"
	[ -n "$port" ]
}
# proxy_up PID NAME: the bytes the proxy has passed up so far
proxy_up() {
	rm -f "$TMP/$2.stats"
	kill -USR1 "$1"
	local i
	for i in $(seq 50); do [ -s "$TMP/$2.stats" ] && break; sleep 0.1; done
	awk '$1 == "bytes_up" { print $2 }' "$TMP/$2.stats"
}

# wait_for SECONDS CMD...: poll CMD every 10 ms until it succeeds; 1 on timeout
wait_for() {
	local end=$(( $(now_ms) + $1 * 1000 )); shift
	while ! "$@"; do
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.01
	done
}
# names DIR: the blob names (no temp files) below DIR, sorted
names() { (cd "$1" 2> /dev/null && find . -type f ! -name '.*' -printf '%P\n' | LC_ALL=C sort); }
has_temp() { [ -n "$(find "$1" -name '.*.tmp-*' -type f 2> /dev/null | head -1)" ]; }
new_pack() { [ "$(names "$STORE/packs")" != "$PACKS_BEFORE" ]; }

# one_line_error "what" ERRFILE: exactly one line, dsync's error, naming the host
one_line_error() {
	local what=$1 f=$2
	check "$what: one line on stderr ($(wc -l < "$f"))" "$(wc -l < "$f")" = 1
	contains "$what: it is dsync's error" "$f" "dsync: error: "
	contains "$what: it names the host" "$f" "cuthost"
	sed 's/^/#   stderr: /' "$f" | head -5
}

# ---------------------------------------------------------------- part 1
ok "a proxy of 100 ms each way, 1 MB/s, in front of sshd" \
	proxy_start cut --delay-ms 100 --rate 1000000
ssh_known_host "$PROXY_PORT_cut" "$SSHD_DIR"/ssh_host_{ed25519,ecdsa,rsa}_key.pub
ssh_config_host cuthost "$PROXY_PORT_cut"
URL="sftp://cuthost$STORE"

mkdir -p "$TMP/A"
printf 'line %d\n' $(seq 1 100) > "$TMP/A/notes.txt"
ok "A: init" as A init "$TMP/A" --device-name alpha
ok "A: remote add $URL" on A remote add r "$URL" --passphrase-file "$PASS"
ok "A: first push" on A push
ok "B: join" as B join "$URL" "$TMP/B" --name r --device-name beta --passphrase-file "$PASS"
DEV_A=$(git_of A config dsync.deviceId)
MANS="$STORE/devices/$DEV_A"

# cut_push WHAT WAIT-CMD...: a push on A in the background; once WAIT-CMD holds,
# sshd dies; the push must fail with one line; then sshd comes back and the
# next syncs on A and B succeed and both check --read-data
N=0
cut_push() {
	local what=$1 pid rc=0; shift
	N=$((N + 1))
	PACKS_BEFORE=$(names "$STORE/packs")
	MANS_BEFORE=$(names "$MANS")
	on A push > "$TMP/out.cut$N" 2> "$TMP/err.cut$N" &
	pid=$!
	if wait_for 120 "$@"; then
		sshd_kill
		HIT_PACKS=$(names "$STORE/packs") HIT_MANS=$(names "$MANS")
	else
		fail "$what: the push got there (it ended or waited 120 s first)"
	fi
	wait "$pid" || rc=$?
	check "$what: the push fails with exit 1 ($rc)" "$rc" = 1
	one_line_error "$what" "$TMP/err.cut$N"
	ok "$what: sshd restarts on the same port" sshd_restart
}
after_cut() {
	local what=$1
	ok "$what: A syncs again" on A sync
	ok "$what: B syncs" on B sync
	ok "$what: A syncs again (gets B's merge, if any)" on A sync
	check "$what: A and B hold the same files" "$(files_digest "$TMP/B")" = "$(files_digest "$TMP/A")"
	ok "$what: A: check --read-data" on A check --read-data
	ok "$what: B: check --read-data" on B check --read-data
}

# 1. during a pack's writes: 3 MB at 1 MB/s
head -c 3000000 /dev/urandom > "$TMP/A/big1.bin"
cut_push "during a pack's writes" has_temp "$STORE/packs"
check "during a pack's writes: no new pack name appeared" "$HIT_PACKS" = "$PACKS_BEFORE"
check "during a pack's writes: no new manifest" "$HIT_MANS" = "$MANS_BEFORE"
after_cut "during a pack's writes"

# 2. after a pack's rename, before the manifest's put
head -c 1000000 /dev/urandom > "$TMP/A/big2.bin"
cut_push "after a pack's rename" new_pack
check "after a pack's rename: the kill came before a new manifest" "$HIT_MANS" = "$MANS_BEFORE"
after_cut "after a pack's rename"

# 3. during the manifest's put
head -c 200000 /dev/urandom > "$TMP/A/big3.bin"
cut_push "during the manifest's put" has_temp "$MANS"
check "during the manifest's put: the pack was in" "$HIT_PACKS" != "$PACKS_BEFORE"
check "during the manifest's put: no new manifest name" "$HIT_MANS" = "$MANS_BEFORE"
after_cut "during the manifest's put"

# ---------------------------------------------------------------- part 2
STORE2=$TMP/store2
ok "a proxy of 20 MB/s that counts bytes" proxy_start fast --delay-ms 0 --rate 20000000
ssh_known_host "$PROXY_PORT_fast" "$SSHD_DIR"/ssh_host_{ed25519,ecdsa,rsa}_key.pub
ssh_config_host fasthost "$PROXY_PORT_fast"
URL2="sftp://fasthost$STORE2"
mkdir -p "$TMP/C/photos"
for i in $(seq -w 1 $((MB / 4))); do head -c 4000000 /dev/urandom > "$TMP/C/photos/p$i.bin"; done
ok "C: init ($MB MB of random files)" as C init "$TMP/C" --device-name gamma
ok "C: remote add $URL2" on C remote add r "$URL2" --passphrase-file "$PASS"
EXPECT=$((MB * 1000000 / PACK_MAX + 1))
HALF=$(( (EXPECT + 1) / 2 ))
npacks2() { names "$STORE2/packs" | wc -l; }
# half the packs in, and the next one open: the kill comes 0.2 s into its
# writes (about 4 MB at 20 MB/s), so a part-sent pack is lost with it
half_there() { [ "$(npacks2)" -ge "$HALF" ] && has_temp "$STORE2/packs"; }
up0=$(proxy_up "$PROXY_PID_fast" fast)
rc=0
(DSYNC_TEST_PACK_MAX=$PACK_MAX on C push > "$TMP/out.first" 2> "$TMP/err.first") &
pid=$!
if wait_for 300 half_there; then
	sleep 0.2
	sshd_kill
else
	fail "the first push got $HALF packs into the store"
fi
wait "$pid" || rc=$?
check "the first push, cut half-way, fails with exit 1 ($rc)" "$rc" = 1
sed 's/^/#   stderr: /' "$TMP/err.first" | head -3
names "$STORE2/packs" > "$TMP/packs.before"
PRESENT=$(wc -l < "$TMP/packs.before")
PRESENT_BYTES=$( (cd "$STORE2/packs" && xargs -r stat -c %s < "$TMP/packs.before") | awk '{ s += $1 } END { print s + 0 }')
(cd "$STORE2/packs" && xargs -r stat -c '%n %i %Y' < "$TMP/packs.before") > "$TMP/packs.mtimes"
up1=$(proxy_up "$PROXY_PID_fast" fast)
echo "# cut with $PRESENT packs ($PRESENT_BYTES bytes) in the store; $((up1 - up0)) bytes went up"
check "packs were in the store when it was cut ($PRESENT of about $EXPECT)" "$PRESENT" -ge 1
ok "sshd restarts" sshd_restart

JSON=
"$DSYNC" push --help 2>&1 | grep -q -- '--json' && JSON=--json
rc=0
DSYNC_TEST_PACK_MAX=$PACK_MAX on C push $JSON > "$TMP/out.second" 2> "$TMP/err.second" || rc=$?
check "the push run again succeeds ($rc)" "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/#   /' "$TMP/out.second" "$TMP/err.second" | head -10
up2=$(proxy_up "$PROXY_PID_fast" fast)
SENT=$((up2 - up1))
names "$STORE2/packs" > "$TMP/packs.after"
TOTAL=$(wc -l < "$TMP/packs.after")
TOTAL_BYTES=$( (cd "$STORE2/packs" && xargs -r stat -c %s < "$TMP/packs.after") | awk '{ s += $1 } END { print s + 0 }')
NEW_BYTES=$((TOTAL_BYTES - PRESENT_BYTES))
# one pack's worth: 8 MiB of objects, encrypted and padded (padmé: < 12%)
ONE_PACK=$((PACK_MAX * 113 / 100))
echo "# the re-run: $SENT bytes up at the proxy; $TOTAL packs now ($TOTAL_BYTES bytes), $NEW_BYTES bytes of them new"
check "every pack that was there is still there" \
	-z "$(LC_ALL=C comm -23 "$TMP/packs.before" "$TMP/packs.after")"
# a pack renamed on the host whose reply the kill stopped is one the device
# can't know it sent: that one may go again, no other
(cd "$STORE2/packs" && xargs -r stat -c '%n %i %Y' < "$TMP/packs.before") > "$TMP/packs.mtimes2"
REWRITTEN=$(LC_ALL=C comm -3 "$TMP/packs.mtimes" "$TMP/packs.mtimes2" | awk '{ print $1 }' | sort -u | wc -l)
check "... and at most one of them written again ($REWRITTEN)" "$REWRITTEN" -le 1
check "the re-run sent at most one pack's worth more than the new packs (proxy: $SENT <= $NEW_BYTES + $ONE_PACK)" \
	"$SENT" -le $((NEW_BYTES + ONE_PACK))
check "... and less than the whole push ($SENT < $TOTAL_BYTES)" "$SENT" -lt "$TOTAL_BYTES"
FIRST=$((up1 - up0))
check "both runs together sent at most one pack's worth more than the store holds ($FIRST + $SENT <= $TOTAL_BYTES + $ONE_PACK)" \
	$((FIRST + SENT)) -le $((TOTAL_BYTES + ONE_PACK))
if [ -n "$JSON" ]; then
	PUSHED=$(grep -o '"bytes_pushed": *[0-9]*' "$TMP/out.second" | grep -o '[0-9]*$' | tail -1)
	REUSED=$(grep -o '"packs_reused": *[0-9]*' "$TMP/out.second" | grep -o '[0-9]*$' | tail -1)
	echo "# --json: bytes_pushed ${PUSHED:-?}, packs_reused ${REUSED:-?}"
	check "--json reports bytes_pushed" -n "$PUSHED"
	check "bytes_pushed <= new packs + one pack (${PUSHED:-?} <= $NEW_BYTES + $ONE_PACK)" \
		"${PUSHED:-999999999999}" -le $((NEW_BYTES + ONE_PACK))
	check "packs_reused = the packs that were there (${REUSED:-?} = $PRESENT)" "${REUSED:-}" = "$PRESENT"
	check "the proxy's count agrees with bytes_pushed within 5% and 64 KiB" \
		"$(awk -v a="$SENT" -v b="${PUSHED:-0}" 'BEGIN { d = a - b; if (d < 0) d = -d; print (d <= 0.05 * a + 65536) ? 1 : 0 }')" = 1
else
	echo "# this dsync's push has no --json: the proxy's count alone"
fi
ok "C: check --read-data" on C check --read-data
ok "D: joins the 100 MB store" as D join "$URL2" "$TMP/D" --name r --device-name delta --passphrase-file "$PASS"
check "D has C's files" "$(files_digest "$TMP/D")" = "$(files_digest "$TMP/C")"
stop_pid "$PROXY_PID_cut"
stop_pid "$PROXY_PID_fast"
finish
