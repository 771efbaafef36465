#!/bin/bash
# A big first push goes up as packs of bounded size (DSYNC_TEST_PACK_MAX=8M
# here, 32 MiB in real builds). Killed (kill -9) after some of them, the
# next push sends only the rest: the packs already there are neither sent
# again nor replaced (same inode), at most one pack's worth is resent.
# Another device then fetches the many packs, whose delta bases (a journal
# edited in every snapshot) lie in earlier packs, and `check --read-data`
# passes on both. Packs that no manifest names (a push cut off, re-run with
# other segments) are a note in `dsync check` (exit 0) and are deleted by
# the device that wrote them once the grace period is over.
#
# file:// stores: the transport plays no part in this (the sftp:// kill
# test is t41). DSYNC_TEST_SLOW spreads each upload out so the kill lands
# while the next pack is being written.
. "$(dirname "$0")/lib.sh"
export DSYNC_TEST_KDF=min DSYNC_PASSPHRASE=pass-word
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
unset DSYNC_TEST_SLOW DSYNC_TEST_UNNAMED_GRACE DSYNC_TEST_RETIRE_GRACE

R="$TMP/remote"
A="$TMP/A"
MIB=$((1024 * 1024))
on() { local who=$1; shift; (export HOME="$TMP/h$who"; cd "$TMP/$who" && "$@"); }
mkdir -p "$TMP/hA" "$TMP/hB" "$TMP/hC"

# pack_list: NAME SIZE INODE of each pack in the store, sorted
pack_list() { find "$R/packs" -maxdepth 1 -type f ! -name '.*' -printf '%f %s %i\n' 2>/dev/null | LC_ALL=C sort; }
npacks() { pack_list | wc -l; }
ntemps() { find "$R/packs" -maxdepth 1 -type f -name '.*.tmp-*' 2>/dev/null | wc -l; }
nmanifests() { find "$R/devices" -type f ! -name '.*' 2>/dev/null | wc -l; }

# push_killed WANT [AT_ONCE]: starts `dsync push` in A and kills it (-9, by
# its pid) once the store holds WANT more packs than before and the next one
# is being written; with AT_ONCE, as soon as the last one is there (right
# after its rename: it must still be known as this device's). 0 if it was
# killed before writing a manifest.
push_killed() {
	local want=$(($(npacks) + $1)) at_once=${2:-} manifests pid i
	manifests=$(nmanifests)
	(cd "$A" && export HOME="$TMP/hA" DSYNC_TEST_SLOW=8 && exec "$DSYNC" push --quiet) \
		>"$TMP/killed.out" 2>&1 &
	pid=$!
	STARTED_PIDS+=("$pid")
	for i in $(seq 1 3000); do
		if [ "$(npacks)" -ge "$want" ] && { [ -n "$at_once" ] || [ "$(ntemps)" -gt 0 ]; }; then
			kill -9 "$pid"
			wait "$pid" 2>/dev/null
			[ "$(nmanifests)" = "$manifests" ]
			return
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	echo "# the push ended before $want packs were in the store: $(npacks)" >&2
	return 1
}

# run_push WHO ARGS...: `dsync push` in WHO's folder; sets PUSHED (bytes)
# and REUSED (packs), from --json when the program has it, else from the
# summary lines (sizes there are rounded: PUSHED is then an upper bound).
run_push() {
	local who=$1; shift
	PUSHED='' REUSED=0
	if on "$who" env "$@" "$DSYNC" push --json >"$TMP/out" 2>"$TMP/err"; then
		PUSHED=$(grep -o '"bytes_pushed": *[0-9]*' "$TMP/out" | grep -o '[0-9]*$' | tail -1)
		REUSED=$(grep -o '"packs_reused": *[0-9]*' "$TMP/out" | grep -o '[0-9]*$' | tail -1)
		[ -n "$PUSHED" ] && return 0
	elif ! grep -q "unknown option\|unrecognized option" "$TMP/err"; then
		cat "$TMP/out" "$TMP/err" | sed 's/^/#   /'
		return 1
	fi
	on "$who" env "$@" "$DSYNC" push >"$TMP/out" 2>"$TMP/err" || {
		cat "$TMP/out" "$TMP/err" | sed 's/^/#   /'
		return 1
	}
	REUSED=$(sed -n 's/^reused \([0-9]*\) pack.*/\1/p' "$TMP/out")
	REUSED=${REUSED:-0}
	# "pushed N objects (12.3 MiB)": rounded up by 0.05 of the unit
	PUSHED=$(sed -n 's/^pushed [0-9]* objects* (\([0-9.]*\) \([KMG]*i*B\)).*/\1 \2/p' "$TMP/out" |
		awk '{ m = $2 == "B" ? 1 : $2 == "KiB" ? 1024 : $2 == "MiB" ? 1048576 : 1073741824;
		       printf "%d\n", ($1 + ($2 == "B" ? 0 : 0.05)) * m }')
}

# ---- a history of ~80 MB: random files, and a journal edited in each snapshot
HOME="$TMP/hA" dsync init "$A" --device-name alpha >/dev/null
ok "a new store" on A "$DSYNC" remote add usb "$R"
head -c 400000 /dev/urandom | base64 > "$A/journal.txt"
for s in 1 2 3 4 5 6; do
	head -c $((6 * MIB)) /dev/urandom > "$A/big-$s-a.bin"
	head -c $((6 * MIB + 4321 * s)) /dev/urandom > "$A/big-$s-b.bin"
	echo "entry $s: $(head -c 300 /dev/urandom | base64 -w0)" >> "$A/journal.txt"
	on A "$DSYNC" snapshot --quiet >/dev/null || fail "snapshot $s"
done
export DSYNC_TEST_PACK_MAX=8M

# ---- a first push killed after 4 packs, then run again
if push_killed 4; then
	pass "first push killed after $(npacks) packs, before its manifest"
else
	fail "first push killed after 4 packs, before its manifest"
fi
pack_list > "$TMP/before"
nbefore=$(wc -l < "$TMP/before")
bytes_before=$(awk '{ s += $2 } END { print s + 0 }' "$TMP/before")
check "the packs are bounded (each under 8 MiB + a little)" \
	"$(awk '$2 > 8 * 1048576 + 65536' "$TMP/before" | wc -l)" = 0
ok "check: packs no manifest names are a note, not a problem" on A "$DSYNC" check
contains "check notes the unnamed packs" "$TMP/out" "named by no manifest"

if run_push A; then pass "the push runs again"; else fail "the push runs again"; fi
pack_list > "$TMP/after"
total=$(awk '{ s += $2 } END { print s + 0 }' "$TMP/after")
nafter=$(wc -l < "$TMP/after")
check "many packs ($nafter for $((total / MIB)) MiB)" "$nafter" -ge 9
check "packs_reused ($REUSED) = the packs present ($nbefore)" "$REUSED" = "$nbefore"
check "the packs present were not sent again (same inodes)" \
	"$(LC_ALL=C join "$TMP/before" "$TMP/after" | awk '$2 == $4 && $3 == $5' | wc -l)" = "$nbefore"
limit=$((total - bytes_before + 8 * MIB))
check "bytes pushed (${PUSHED:-?}) <= total - present + one pack ($limit)" "${PUSHED:-999999999999}" -le "$limit"
check "and at least what was missing ($((total - bytes_before)))" "${PUSHED:-0}" -ge $((total - bytes_before))
ok "check after the resumed push" on A "$DSYNC" check --read-data
check "no note once every pack is named" "$(grep -c 'named by no manifest' "$TMP/out")" = 0

# ---- another device fetches the packs (delta bases in earlier packs)
ok "B joins" env HOME="$TMP/hB" "$DSYNC" join "$R" "$TMP/B"
check "B has every file" "$(files_digest "$A")" = "$(files_digest "$TMP/B")"
check "B has every version" "$(commit_count "$TMP/B")" = "$(commit_count "$A")"
ok "check --read-data on B" on B "$DSYNC" check --read-data
deltas=$(for p in "$TMP"/B/.dsync/objects/pack/*.idx; do git verify-pack -v "$p"; done 2>/dev/null |
	awk 'NF >= 7 && $2 == "blob"' | wc -l)
check "the journal came as deltas ($deltas)" "$deltas" -ge 3

# ---- a second push cut off, then run with other segments: its packs are
# unnamed, kept through the grace period, then deleted
for s in 7 8; do
	head -c $((6 * MIB)) /dev/urandom > "$A/big-$s-a.bin"
	head -c $((5 * MIB)) /dev/urandom > "$A/big-$s-b.bin"
	echo "entry $s" >> "$A/journal.txt"
	on A "$DSYNC" snapshot --quiet >/dev/null || fail "snapshot $s"
done
pack_list > "$TMP/named"
if push_killed 1 at-once; then pass "second push killed after a pack"; else fail "second push killed after a pack"; fi
pack_list | LC_ALL=C join -v1 - "$TMP/named" > "$TMP/orphans"
norphans=$(wc -l < "$TMP/orphans")
check "the cut push left packs ($norphans)" "$norphans" -ge 1
export DSYNC_TEST_PACK_MAX=5M DSYNC_TEST_UNNAMED_GRACE=3600
if run_push A; then pass "the push again, cut otherwise"; else fail "the push again, cut otherwise"; fi
check "nothing reused: other segments ($REUSED)" "$REUSED" = 0
check "the unnamed packs stay through the grace period" \
	"$(pack_list | LC_ALL=C join - "$TMP/orphans" | wc -l)" = "$norphans"
ok "check: the note, exit 0" on A "$DSYNC" check
contains "check counts them" "$TMP/out" "$norphans pack"
contains "check says who deletes them" "$TMP/out" "deletes them after a day"
export DSYNC_TEST_UNNAMED_GRACE=0
ok "a round after the grace period" on A "$DSYNC" push
check "the unnamed packs are gone" "$(pack_list | LC_ALL=C join - "$TMP/orphans" | wc -l)" = 0
check "A no longer counts them as its own" \
	"$(LC_ALL=C grep -c -F -f <(cut -d' ' -f1 "$TMP/orphans") "$A/.dsync/dsync-remotes/usb/mine")" = 0
ok "check --read-data after the collection" on A "$DSYNC" check --read-data
check "no note left" "$(grep -c 'named by no manifest' "$TMP/out")" = 0
ok "B syncs" on B "$DSYNC" sync
check "B is in step" "$(files_digest "$A")" = "$(files_digest "$TMP/B")"
ok "check --read-data on B at the end" on B "$DSYNC" check --read-data
ok "C joins the collected store" env HOME="$TMP/hC" "$DSYNC" join "$R" "$TMP/C"
check "C has every file" "$(files_digest "$A")" = "$(files_digest "$TMP/C")"

finish
