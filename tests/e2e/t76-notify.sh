#!/bin/bash
# Desktop notifications from the daemon (docs/watch.md, "Notifications"): on
# a private session bus, the Notify calls dsync makes are recorded
# (dbus-monitor sees a call even when nobody owns the name): one for a
# conflict, one for a pause, one for a remote that failed three rounds in a
# row, a relay past 90% of its quota (a real relay with --quota), each once
# however many rounds follow; a resumed folder that pauses again is told
# again, and so is a relay that went under 90% (its quota raised) and over
# again; DSYNC_NOTIFY=0 and watch.notify=false send none.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watchlib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/relaylib.sh"
export DSYNC_TEST_KDF=min

for t in dbus-daemon dbus-monitor gdbus; do
	command -v "$t" >/dev/null || { echo "not ok - $t missing (contrib/install-deps.sh)"; exit 1; }
done
unset DISPLAY WAYLAND_DISPLAY XDG_RUNTIME_DIR DBUS_SESSION_BUS_ADDRESS DSYNC_NOTIFY

# a private session bus and a monitor of its Notify calls
BUS=$(dbus-daemon --session --address="unix:dir=$TMP" --print-address=1 --print-pid=1 --fork --nopidfile) || {
	echo "not ok - dbus-daemon did not start"; exit 1; }
ADDR=$(sed -n 1p <<<"$BUS")
STARTED_PIDS+=("$(sed -n 2p <<<"$BUS")")
export DBUS_SESSION_BUS_ADDRESS=$ADDR
MON=$TMP/notify.mon
dbus-monitor --session "interface='org.freedesktop.Notifications',member='Notify'" >"$MON" 2>&1 &
MPID=$!
STARTED_PIDS+=("$MPID")
end=$((SECONDS + 10))
until grep -q NameAcquired "$MON" || [ "$SECONDS" -ge "$end" ]; do sleep 0.1; done
ok "the monitor listens" grep -q NameAcquired "$MON"

# notes: one line per Notify call: app|summary|body
notes() {
	awk '/member=Notify/ { if (n) print line; n = 1; k = 0; line = ""; next }
	     n && /^ *string "/ { k++; s = $0; sub(/^ *string "/, "", s); sub(/"$/, "", s)
	                         if (k == 1) line = s; else if (k >= 3) line = line "|" s }
	     END { if (n) print line }' "$MON"
}
count() { notes | grep -cF -- "$1"; }
# wait_note TEXT N [SECONDS]: until N calls name TEXT
wait_note() {
	local end=$((SECONDS + ${3:-30}))
	until [ "$(count "$1")" -ge "$2" ]; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.2
	done
}

R="$TMP/remote"
mkdir -p "$TMP/hA" "$TMP/hB"
HOME="$TMP/hA" dsync init "$TMP/A" --device-name alpha >/dev/null
A=$(cd "$TMP/A" && pwd -P)
for i in $(seq 12); do echo "file $i" > "$A/f$i.txt"; done
echo "first" > "$A/doc.txt"
ok "A makes a store" env HOME="$TMP/hA" DSYNC_PASSPHRASE=pw bash -c "cd '$A' && '$DSYNC' remote add r 'file://$R' && '$DSYNC' sync"
ok "B joins" env HOME="$TMP/hB" DSYNC_PASSPHRASE=pw "$DSYNC" join "file://$R" "$TMP/B" --device-name beta
git --git-dir="$A/.dsync" config sync.interval 1

# 1. a conflict: B's edit is on the remote, A's is not yet recorded; the
# daemon's first snapshot and round on A merge them
echo "beta's version" > "$TMP/B/doc.txt"
ok "B pushes its edit" env HOME="$TMP/hB" bash -c "cd '$TMP/B' && '$DSYNC' sync -q"
echo "alpha's version" > "$A/doc.txt"
LOG=$TMP/daemon.log
HOME="$TMP/hA" start_watch "$LOG" daemon
DPID=$WPID
check "the daemon watches A" "$(wait_text "$LOG" "$A: watching" && echo y)" = y
if wait_note "dsync: a conflict" 1 30; then pass "a conflict: a notification"
else fail "a conflict: no notification"; show_log "$LOG"; notes; fi
check "it names the folder and says what to do" \
	"$(notes | grep -F 'dsync: a conflict' | grep -cF "$A: 1 file changed both here and on another device; both versions are kept (see 'dsync conflicts')")" = 1
check "sent by dsync" "$(notes | grep -F 'dsync: a conflict' | cut -d'|' -f1)" = dsync
check "the conflict is on disk" "$(cd "$A" && ls | grep -c 'doc.*conflict')" -ge 1
# rounds go on every second: the conflict waits, but is not told again
ROUNDS=$(grep -c 'sync' "$LOG")
sleep 5
check "more rounds ran meanwhile" "$(grep -c 'sync' "$LOG")" -ge "$ROUNDS"
check "the conflict told once over further rounds" "$(count 'dsync: a conflict')" = 1

# 2. a pause: ignore rules that leave every file out
echo '*' > "$A/.dsyncignore"
if wait_note "dsync: folder paused" 1 30; then pass "a pause: a notification"
else fail "a pause: no notification"; show_log "$LOG"; notes; fi
check "it says why and how to go on" \
	"$(notes | grep -F 'dsync: folder paused' | grep -cF "$A: the ignore rules would drop")" = 1
P=$(tip "$A")
echo "more" > "$A/f1.txt"
touch "$A/f2.txt"
sleep 3
check "still paused after more changes (nothing recorded)" "$(tip "$A")" = "$P"
check "the pause told once" "$(count 'dsync: folder paused')" = 1
rm "$A/.dsyncignore"
check "resumed" "$(wait_text "$LOG" "resumed:" && echo y)" = y
echo '*' > "$A/.dsyncignore"
if wait_note "dsync: folder paused" 2 30; then pass "a second pause after a resume: told again"
else fail "a second pause: not told"; show_log "$LOG"; notes; fi
rm "$A/.dsyncignore"
check "resumed again" "$(wait_log "$LOG" "resumed:" 2 30 && echo y)" = y
sleep 1
check "still one conflict notification" "$(count 'dsync: a conflict')" = 1

# 3. the remote gone: the third failed round is told, once
mv "$R" "$R.away"
if wait_note "dsync: a remote keeps failing" 1 40; then pass "three failed rounds: a notification"
else fail "failed rounds: no notification"; show_log "$LOG"; notes; fi
check "it says how many rounds" \
	"$(notes | grep -F 'dsync: a remote keeps failing' | grep -cF "$A: the sync with its remotes failed 3 rounds in a row")" = 1
FAILS=$(grep -c "warning $A: sync:" "$LOG")
sleep 5
check "rounds went on failing" "$(grep -c "warning $A: sync:" "$LOG")" -gt "$FAILS"
check "the failures told once" "$(count 'dsync: a remote keeps failing')" = 1
mv "$R.away" "$R"
check "the remote answers again" "$(wait_text "$LOG" "the remotes answer again" 30 && echo y)" = y
ALL=$(notes | wc -l)
check "four notifications in all" "$ALL" = 4
WPID=$DPID; stop_watch TERM
check "the daemon stopped cleanly" "$WRC" = 0
check "no errors in the log" "$(grep -c ' error ' "$LOG")" = 0

# 4. off: DSYNC_NOTIFY=0 (dsync watch), then the folder's watch.notify
for how in env config; do
	LOG2=$TMP/watch-$how.log
	if [ $how = env ]; then
		DSYNC_NOTIFY=0 HOME="$TMP/hA" start_watch "$LOG2" watch "$A" --delay 0.2
	else
		git --git-dir="$A/.dsync" config watch.notify false
		HOME="$TMP/hA" start_watch "$LOG2" watch "$A" --delay 0.2
	fi
	check "$how: watching" "$(wait_text "$LOG2" "watching" && echo y)" = y
	echo '*' > "$A/.dsyncignore"
	check "$how: paused" "$(wait_text "$LOG2" "paused:" && echo y)" = y
	sleep 1
	check "$how: no notification" "$(notes | wc -l)" = "$ALL"
	rm "$A/.dsyncignore"
	check "$how: resumed" "$(wait_text "$LOG2" "resumed:" && echo y)" = y
	stop_watch TERM
	check "$how: stopped cleanly" "$WRC" = 0
done
# 5. a relay past 90% of its quota: told once, not again over further rounds
QUOTA=$((3 * 1024 * 1024))
ok "relay started with --quota 3M" relay_start "$TMP/relay" --quota 3M
mkdir -p "$TMP/Q" && echo "a small start" > "$TMP/Q/small.txt"
ok "Q: init --relay" env DSYNC_PASSPHRASE="pumpkin cobalt lagoon sparrow engine tundra" \
	HOME="$TMP/home-Q" "$DSYNC" init "$TMP/Q" --relay "$RELAY_URL" --group notify-t76 --device-name quail
Q=$(cd "$TMP/Q" && pwd -P)
git --git-dir="$Q/.dsync" config sync.interval 1
LOG3=$TMP/daemon-q.log
HOME="$TMP/home-Q" start_watch "$LOG3" daemon
QPID=$WPID
check "the daemon watches Q" "$(wait_text "$LOG3" "$Q: watching" && echo y)" = y
sleep 2
check "under 90%: no relay notification" "$(count 'dsync: a relay is almost full')" = 0
# to about 93%: random bytes don't compress
head -c $((QUOTA * 93 / 100 - 60000)) /dev/urandom > "$Q/big.bin"
if wait_note "dsync: a relay is almost full" 1 60; then pass "past 90%: a notification"
else fail "past 90%: no notification"; show_log "$LOG3"; notes; fi
check "it names the folder, the relay and what to do" \
	"$(notes | grep -F 'dsync: a relay is almost full' | grep -cE "^dsync\|dsync: a relay is almost full\|$Q: relay 'origin' is 9[0-9]% full \([0-9.]+ MiB of 3\.0 MiB\); ask its operator for more space or remove old versions$")" = 1
ROUNDS=$(grep -c "$Q: sync" "$LOG3")
echo "one more" > "$Q/more.txt"
sleep 2
echo "and more" >> "$Q/more.txt"
sleep 4
check "rounds went on ($ROUNDS before)" "$(grep -c "$Q: sync" "$LOG3")" -gt "$ROUNDS"
check "the relay told once over further rounds" "$(count 'dsync: a relay is almost full')" = 1
# re-armed: the quota raised (the relay back with --quota 6M), a round finds
# it under 90%; lowered again, the next round over it is told again
SPACE="$Q/.dsync/dsync-remotes/origin/space"
relay_stop
RELAY_ARGS=(--quota 6M)
ok "the relay back with --quota 6M" relay_restart
echo "under" >> "$Q/more.txt"
end=$((SECONDS + 30))
until grep -qx "quota $((2 * QUOTA))" "$SPACE" 2>/dev/null || [ "$SECONDS" -ge "$end" ]; do sleep 0.2; done
check "a round recorded the new quota" "$(grep -cx "quota $((2 * QUOTA))" "$SPACE")" = 1
check "under 90%: nothing told" "$(count 'dsync: a relay is almost full')" = 1
relay_stop
RELAY_ARGS=(--quota 3M)
ok "the relay back with --quota 3M" relay_restart
echo "over again" >> "$Q/more.txt"
if wait_note "dsync: a relay is almost full" 2 60; then pass "over 90% again: told again"
else fail "over 90% again: not told"; show_log "$LOG3"; notes; fi
sleep 3
check "and once only" "$(count 'dsync: a relay is almost full')" = 2
WPID=$QPID; stop_watch TERM
check "Q's daemon stopped cleanly" "$WRC" = 0
relay_stop

kill "$MPID"
wait "$MPID" 2>/dev/null
finish
