#!/bin/bash
# Round trips of an sftp:// round on a slow link (issue 14, acceptance 7):
# two devices sync through tests/tools/delayproxy.py, which holds every chunk
# 25 ms each way in front of sshlib's sshd, with the OpenSSH client. The test
# reports, for a round with nothing to do and for a round with one changed
# file, the SFTP round trips the client counted (DSYNC_TEST_SFTP_STATS), the
# turns the proxy saw (ssh's login included) and the seconds taken, and
# asserts the bounds of docs/sftp.md section 4:
#   no change    <= 12 + 2 x devices SFTP round trips, on each device
#   the same count with about 200 packs in the store as with 2
#   one change   <= the no-change count + 20, and with about 200 packs no
#                   more than 5 over the count with few (the sweep reads
#                   packs/ two READDIRs at a time, 100 names each: one more
#                   round trip per 200 packs, and the client's count wobbles
#                   by one or two)
# One change costs about 15 more than nothing to do: the pack's put and the
# manifest's (3 each: open, writes+fsync+close, rename), the old manifest
# removed (1), and the sweep of puts killed over an hour ago that the first
# put of a connection makes (the store's three levels of folders, about 2
# each, and the READDIRs that meet their end) - once per connection, not per
# blob.  docs/sftp.md section 4 had guessed 10.
# The 200 packs are made through file:// on the same folder (sshd serves a
# local folder), by small pushes cut into tiny packs (DSYNC_TEST_PACK_MAX).
# T42_SSH=builtin runs the same with the built-in client; T42_DELAY_MS sets
# the delay.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_TEST_SLOW DSYNC_TEST_PACK_MAX DSYNC_SSH_COMMAND

PROXY="$DSYNC_SRC/tests/tools/delayproxy.py"
DELAY_MS=${T42_DELAY_MS:-25}
PASS=$TMP/passphrase
echo "latency test passphrase" > "$PASS"
STORE=$TMP/store
DEVICES=2
BOUND=$((12 + 2 * DEVICES))

ssh_test_start

# proxy_start: the delay proxy in front of sshd; sets PROXY_PID, PROXY_PORT
proxy_start() {
	rm -f "$TMP/proxy.port"
	python3 "$PROXY" --target "$SSHD_PORT" --port-file "$TMP/proxy.port" \
		--delay-ms "$DELAY_MS" --stats "$TMP/proxy.stats" &
	PROXY_PID=$!
	STARTED_PIDS+=("$PROXY_PID")
	local i
	for i in $(seq 50); do [ -s "$TMP/proxy.port" ] && break; sleep 0.1; done
	PROXY_PORT=$(cat "$TMP/proxy.port" 2> /dev/null)
	[ -n "$PROXY_PORT" ]
}
# proxy_counts: the proxy's counts so far, "connections bytes_up bytes_down
# round_trips" (it writes them on SIGUSR1)
proxy_counts() {
	rm -f "$TMP/proxy.stats"
	kill -USR1 "$PROXY_PID"
	local i
	for i in $(seq 50); do [ -s "$TMP/proxy.stats" ] && break; sleep 0.1; done
	awk '{ v[$1] = $2 } END { print v["connections"] + 0, v["bytes_up"] + 0, v["bytes_down"] + 0, v["round_trips"] + 0 }' \
		"$TMP/proxy.stats"
}

ok "the delay proxy starts (${DELAY_MS} ms each way)" proxy_start
ssh_known_host "$PROXY_PORT" "$SSHD_DIR"/ssh_host_{ed25519,ecdsa,rsa}_key.pub
ssh_config_host slowhost "$PROXY_PORT"
# the OpenSSH client, pointed at the test's config (it finds ~/.ssh through
# the password database, not $HOME); T42_SSH=builtin runs the built-in client,
# which reads $HOME/.ssh: each device's home gets the test's
MODE=${T42_SSH:-openssh}
export DSYNC_SSH=$MODE
if [ "$MODE" = openssh ]; then
	export DSYNC_SSH_COMMAND="ssh -F $SSH_CONFIG"
else
	for d in A B; do mkdir -p "$TMP/home-$d" && ln -sfn "$HOME/.ssh" "$TMP/home-$d/.ssh"; done
fi
echo "# the ssh client: $MODE"
URL="sftp://slowhost$STORE"

# sftp_rts FILE: the SFTP round trips in a DSYNC_TEST_SFTP_STATS file (the
# sum over its lines: one per connection)
sftp_rts() {
	[ -s "$1" ] || { echo ""; return; }
	grep -o 'round_trips=[0-9]*' "$1" | awk -F= '{ s += $2 } END { print s + 0 }'
}

# round NAME D [ARGS...]: `dsync sync` on D through the proxy, timed, with
# the client's counts in $TMP/stats.NAME; sets RT (SFTP round trips), MS
# (milliseconds), PRT (the proxy's turns: login and SFTP) and RC
round() {
	local name=$1 d=$2 t0 before after; shift 2
	rm -f "$TMP/stats.$name"
	read -r _ _ _ before < <(proxy_counts)
	t0=$(now_ms)
	RC=0
	DSYNC_TEST_SFTP_STATS="$TMP/stats.$name" on "$d" sync "$@" > "$TMP/out.$name" 2> "$TMP/err.$name" || RC=$?
	MS=$(( $(now_ms) - t0 ))
	read -r _ _ _ after < <(proxy_counts)
	PRT=$((after - before))
	RT=$(sftp_rts "$TMP/stats.$name")
	REQ=$(grep -o 'requests=[0-9]*' "$TMP/stats.$name" 2> /dev/null | awk -F= '{ s += $2 } END { print s + 0 }')
	echo "# $name: exit $RC, ${RT:-?} SFTP round trips ($REQ requests), $PRT turns at the proxy, $MS ms"
	if [ "$RC" != 0 ]; then
		sed 's/^/#   /' "$TMP/out.$name" "$TMP/err.$name" | head -10
	fi
}

# ---------------------------------------------------------------- set up
mkdir -p "$TMP/A/docs"
printf 'line %d\n' $(seq 1 50) > "$TMP/A/notes.txt"
head -c 20000 /dev/urandom > "$TMP/A/docs/photo.bin"
ok "A: init" as A init "$TMP/A" --device-name alpha
ok "A: remote add $URL (a new store, through the proxy)" \
	on A remote add r "$URL" --passphrase-file "$PASS"
check "the store is in the host's folder" -f "$STORE/dsync-store"
ok "A: first sync" on A sync
ok "B: join $URL" as B join "$URL" "$TMP/B" --name r --device-name beta --passphrase-file "$PASS"
check "B has A's files" "$(files_digest "$TMP/B")" = "$(files_digest "$TMP/A")"
ok "B: sync" on B sync
ok "A: sync" on A sync
npacks() { find "$STORE/packs" -type f ! -name '.*' 2> /dev/null | wc -l; }
echo "# packs in the store: $(npacks)"

# idle NAME D: three rounds with nothing to do on D, each checked against
# the bound; RT, MS and REQS (requests) are the smallest of the three. The client's count differs by one now and then with the same
# requests: it counts a wait whenever a reply it needs has not arrived, and
# how the replies' bytes are split in transit decides that at the margin.
idle() {
	local name=$1 d=$2 k best=99999 ms=999999
	REQS=99999
	for k in 1 2 3; do
		round "$name.$k" "$d"
		check "$d: a round with nothing to do succeeds ($k)" "$RC" = 0
		check "$d: the client reported its round trips (DSYNC_TEST_SFTP_STATS) ($k)" -n "$RT"
		check "$d: nothing to do costs <= $BOUND SFTP round trips (${RT:-?}) ($k)" "${RT:-99999}" -le "$BOUND"
		[ "$k" != 1 ] ||
			check "$d: the proxy saw the round's login and SFTP turns ($PRT >= ${RT:-?})" "$PRT" -ge "${RT:-99999}"
		[ "$k" != 1 ] ||
			contains "$d: the round says there was nothing to fetch" "$TMP/out.$name.1" "nothing new to fetch"
		[ -z "$RT" ] || [ "$RT" -ge "$best" ] || best=$RT
		[ "$MS" -ge "$ms" ] || ms=$MS
		[ -z "$REQ" ] || [ "$REQ" -ge "$REQS" ] || REQS=$REQ
	done
	RT=$best MS=$ms
	[ "$RT" != 99999 ] || RT=none
}

# changed NAME: three rounds on A, each after one more line in notes.txt,
# each checked to push; RT and MS are the smallest of the three (the count
# wobbles as idle's does, by three or four under load)
changed() {
	local name=$1 k best=99999 ms=999999
	for k in 1 2 3; do
		echo "one more line ($name $k)" >> "$TMP/A/notes.txt"
		round "$name.$k" A
		check "A: a round with one changed file succeeds ($name $k)" "$RC" = 0
		contains "A: the round pushed ($name $k)" "$TMP/out.$name.$k" "pushed"
		[ -z "$RT" ] || [ "$RT" -ge "$best" ] || best=$RT
		[ "$MS" -ge "$ms" ] || ms=$MS
	done
	RT=$best MS=$ms
	[ "$RT" != 99999 ] || RT=
}

# ------------------------------------------------ rounds with few packs
idle idle-A-few A
IDLE_A_FEW=$RT IDLE_A_FEW_MS=$MS REQ_A_FEW=$REQS
idle idle-B-few B
IDLE_B_FEW=$RT REQ_B_FEW=$REQS

changed change-A
check "A: one change costs <= $IDLE_A_FEW + 20 SFTP round trips (${RT:-?})" \
	"${RT:-99999}" -le "$(( ${IDLE_A_FEW/none/-99999} + 20 ))"
CHANGE_A=${RT:-?} CHANGE_A_MS=$MS
ok "B: sync (gets the change)" on B sync
check "B has the changed file" "$(sha "$TMP/B/notes.txt")" = "$(sha "$TMP/A/notes.txt")"
FEW=$(npacks)

# ------------------------------------------------- about 200 packs
# through file:// on the same folder, so that making them costs no round
# trips; tiny packs (where the build cuts them) and many small pushes
git_of A config remote.r.url "file://$STORE"
i=0
while [ "$(npacks)" -lt 200 ] && [ $i -lt 260 ]; do
	i=$((i + 1))
	for j in 1 2 3 4 5 6 7 8; do head -c 3000 /dev/urandom > "$TMP/A/docs/f$i-$j.bin"; done
	DSYNC_TEST_PACK_MAX=4096 on A push > "$TMP/out" 2> "$TMP/err" ||
		{ fail "A: push $i through file://"; sed 's/^/#   /' "$TMP/err" | head -5; break; }
done
git_of A config remote.r.url "$URL"
MANY=$(npacks)
echo "# packs in the store: $FEW before, $MANY after $i pushes through file://"
check "the store holds about 200 packs now ($MANY)" "$MANY" -ge 200
ok "A: sync through sftp again" on A sync
ok "B: sync (fetches it all)" on B sync
check "B has A's files" "$(files_digest "$TMP/B")" = "$(files_digest "$TMP/A")"
ok "A: sync" on A sync

idle idle-A-many A
# the requests must be the same; the client's count of round trips (the
# best of three) may differ by the one wait that timing adds now and then
check "A: with $MANY packs, nothing to do costs the same round trips as with $FEW ($RT vs $IDLE_A_FEW, one of wobble)" \
	"$RT" -le "$((IDLE_A_FEW + 1))"
IDLE_A_MANY=$RT IDLE_A_MANY_MS=$MS
check "A: ... and the same requests ($REQS vs $REQ_A_FEW)" "$REQS" = "$REQ_A_FEW"
idle idle-B-many B
check "B: with $MANY packs, nothing to do costs the same round trips as with $FEW ($RT vs $IDLE_B_FEW, one of wobble)" \
	"$RT" -le "$((IDLE_B_FEW + 1))"
check "B: ... and the same requests ($REQS vs $REQ_B_FEW)" "$REQS" = "$REQ_B_FEW"

changed change-A-many
check "A: ... and costs no more than 5 round trips over the one with $FEW packs ($RT vs $CHANGE_A)" \
	"${RT:-99999}" -le "$(( ${CHANGE_A/\?/-99999} + 5 ))"
CHANGE_A_MANY=${RT:-?} CHANGE_A_MANY_MS=$MS
ok "B: sync (gets the second change)" on B sync

echo "# report (${DELAY_MS} ms each way, $DEVICES devices, bound $BOUND; the best of three idle rounds):"
echo "#   no change, $FEW packs:  $IDLE_A_FEW round trips, $IDLE_A_FEW_MS ms"
echo "#   one change:         $CHANGE_A round trips, $CHANGE_A_MS ms"
echo "#   no change, $MANY packs: $IDLE_A_MANY round trips, $IDLE_A_MANY_MS ms"
echo "#   one change, $MANY packs: $CHANGE_A_MANY round trips, $CHANGE_A_MANY_MS ms"

ok "A: check --read-data" on A check --read-data
ok "B: check --read-data" on B check --read-data
stop_pid "$PROXY_PID"
finish
