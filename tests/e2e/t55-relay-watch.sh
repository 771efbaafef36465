#!/bin/bash
# The watcher's long-poll on a relay (issue 15; docs/relay-protocol.md
# section 6): two devices in one group run `dsync daemon` with default
# settings (sync.interval 60 s); each of 5 saves on A is on B within 5 s,
# which only the long-poll can do, and a save on B is on A. The relay killed
# and started again: the waits back off, then answer again, and a save still
# arrives. Stopped with SIGTERM, each daemon exits 0 and its waiting child is
# gone with it; a daemon killed with -9 takes its child along too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/relaylib.sh"
. "$(dirname "$0")/watchlib.sh"
export DSYNC_TEST_KDF=min
export DSYNC_PASSPHRASE="copper lantern meadow violet harbor thistle"
GROUP=t55-watchers

relay_start "$TMP/relay"
ok "A makes the group" as A init "$TMP/A" --relay "$RELAY_URL" --group "$GROUP" --device-name alpha
ok "B joins it" as B join --relay "$RELAY_URL" --group "$GROUP" "$TMP/B" --device-name beta
unset DSYNC_PASSPHRASE   # the daemons use the credentials kept at join

# arrives FILE TEXT SECONDS: until FILE holds TEXT (checked every 20 ms);
# prints the seconds it took
arrives() {
	local t0 now
	t0=$(date +%s%N)
	while [ "$(cat "$1" 2> /dev/null)" != "$2" ]; do
		now=$(date +%s%N)
		[ $(((now - t0) / 1000000)) -ge $(($3 * 1000)) ] && return 1
		sleep 0.02
	done
	now=$(date +%s%N)
	printf '%d.%03d\n' $(((now - t0) / 1000000000)) $((((now - t0) / 1000000) % 1000))
}

HOME="$TMP/home-A" start_watch "$TMP/dA.log" daemon --verbose
PA=$WPID
HOME="$TMP/home-B" start_watch "$TMP/dB.log" daemon --verbose
PB=$WPID
WPID=$PA; check "A's daemon watches" "$(wait_log "$TMP/dA.log" "$WATCHING" 1 20 && echo yes)" = yes
WPID=$PB; check "B's daemon watches" "$(wait_log "$TMP/dB.log" "$WATCHING" 1 20 && echo yes)" = yes
check "A waits on the relay" "$(wait_text "$TMP/dA.log" "waiting on 'origin' for changes" && echo yes)" = yes
check "B waits on the relay" "$(wait_text "$TMP/dB.log" "waiting on 'origin' for changes" && echo yes)" = yes
CA=$(sed -n "s/.*waiting on 'origin' for changes (pid \([0-9]*\)).*/\1/p" "$TMP/dA.log" | tail -1)
CB=$(sed -n "s/.*waiting on 'origin' for changes (pid \([0-9]*\)).*/\1/p" "$TMP/dB.log" | tail -1)
sleep 1

for i in 1 2 3 4 5; do
	text="save $i on alpha: $RANDOM$RANDOM"
	echo "$text" > "$TMP/A/save-$i.txt"
	if took=$(arrives "$TMP/B/save-$i.txt" "$text" 5); then
		pass "save $i on A is on B within 5 s ($took s)"
	else
		fail "save $i on A is on B within 5 s"
		show_log "$TMP/dB.log"
	fi
	sleep 1
done
text="from beta $RANDOM"
echo "$text" > "$TMP/B/from-b.txt"
took=$(arrives "$TMP/A/from-b.txt" "$text" 5)
check "a save on B is on A within 5 s ($took s)" -n "$took"

# the relay goes away and comes back on the same port and data
relay_kill
sleep 2
ok "the relay starts again" relay_restart
text="after the restart $RANDOM"
echo "$text" > "$TMP/A/after.txt"
took=$(arrives "$TMP/B/after.txt" "$text" 20)
check "after the relay's restart a save on A is on B ($took s)" -n "$took"
contains "B said it could not wait" "$TMP/dB.log" "cannot wait for changes on 'origin'"
WPID=$PB; check "B's wait answers again" "$(wait_text "$TMP/dB.log" "remote 'origin' answers again" 10 && echo yes)" = yes

WPID=$PA; stop_watch TERM
check "A's daemon stopped cleanly" "$WRC" = 0
check "A's waiting child went with it" -n "$CA" -a "$(running "$CA" || echo gone)" = gone
WPID=$PB; kill -9 "$PB"; wait "$PB" 2> /dev/null
for i in $(seq 1 50); do running "$CB" || break; sleep 0.1; done
check "B's waiting child went with its daemon's kill -9" -n "$CB" -a "$(running "$CB" || echo gone)" = gone
check "no errors in A's log" "$(grep -c ' error ' "$TMP/dA.log")" = 0
check "no errors in B's log" "$(grep -c ' error ' "$TMP/dB.log")" = 0
check "the same files on both" "$(files_digest "$TMP/A")" = "$(files_digest "$TMP/B")"
relay_stop
finish
