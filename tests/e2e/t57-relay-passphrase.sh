#!/bin/bash
# A relay group's passphrase changed (docs/relays.md, docs/relay-protocol.md
# sections 2 and 4.6): `dsync passphrase` on A re-seals the store's key,
# rotates the relay's token and keeps the new one; A syncs on; B, with the
# old token, is refused (exit 5) with the way out, takes the new passphrase
# (its daemon's log too) with `dsync remote passphrase origin` and syncs; a new device joins with
# the new passphrase and not with the old; a weak new passphrase and a wrong
# current one are refused and change nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relaylib.sh"
. "$(dirname "$0")/watchlib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE
OLD="gravel idiom unsnap pouch mocker exact"
NEW="lantern obtuse whisper cobalt granite yodel"

# on WHO CMD...: CMD in folder $TMP/WHO as that device's user (HOME $TMP/hWHO)
on() { local who=$1; shift; (export HOME="$TMP/h$who"; cd "$TMP/$who" && "$@"); }
# kept WHO: that device's kept relay file (token and signing key)
kept() { find "$TMP/h$1/.config/dsync/relay" -type f; }
# keyblobs: the group's key blobs on the relay
keyblobs() { find "$TMP/relay/groups" -path '*/b/keys/*' -type f | sort; }
mkdir -p "$TMP/hA" "$TMP/hB" "$TMP/hC" "$TMP/hD"

ok "the relay starts" relay_start "$TMP/relay"
URL=$RELAY_URL
mkdir -p "$TMP/A"
echo "first" > "$TMP/A/notes.txt"
ok "A makes the group" env HOME="$TMP/hA" DSYNC_PASSPHRASE="$OLD" "$DSYNC" init "$TMP/A" --relay "$URL" \
	--group Passphrase-Family
ok "B joins it" env HOME="$TMP/hB" DSYNC_PASSPHRASE="$OLD" "$DSYNC" join --relay "$URL" \
	--group passphrase-family "$TMP/B"
check "  B has A's file" "$(cat "$TMP/B/notes.txt" 2>/dev/null)" = "first"
TOKEN_A=$(cat "$(kept A)")
KEYS0=$(keyblobs)
check "  one key blob" "$(echo "$KEYS0" | wc -l)" = 1

# ---- refusals that change nothing
fails 5 "a wrong current passphrase is refused" \
	on A env DSYNC_PASSPHRASE="gravel idiom unsnap pouch mocker exactly" DSYNC_NEW_PASSPHRASE="$NEW" \
	"$DSYNC" passphrase
contains "  says so" "$TMP/err" "that is not the current passphrase of group 'Passphrase-Family'"
check "  the kept token is the same" "$(cat "$(kept A)")" = "$TOKEN_A"
check "  the key blob is the same" "$(keyblobs)" = "$KEYS0"
fails 2 "a weak new passphrase is refused" \
	on A env DSYNC_PASSPHRASE="$OLD" DSYNC_NEW_PASSPHRASE="password123" "$DSYNC" passphrase origin
contains "  with its reason" "$TMP/err" "the passphrase is too weak (about"
check "  the kept token is the same" "$(cat "$(kept A)")" = "$TOKEN_A"
check "  the key blob is the same" "$(keyblobs)" = "$KEYS0"
ok "B still syncs" on B "$DSYNC" sync --quiet

# ---- the change
ok "A changes the passphrase" \
	on A env DSYNC_PASSPHRASE="$OLD" DSYNC_NEW_PASSPHRASE="$NEW" "$DSYNC" passphrase origin
contains "  says what the others need" "$TMP/out" "dsync remote passphrase origin"
check "  A's kept token changed" "$(cat "$(kept A)")" != "$TOKEN_A"
check "  its signing key did not" "$(sed -n 2p "$(kept A)")" = "$(echo "$TOKEN_A" | sed -n 2p)"
check "  still 0600" "$(stat -c %a "$(kept A)")" = 600
check "  a new key blob" "$(keyblobs)" != "$KEYS0"
check "  and only it" "$(keyblobs | wc -l)" = 1
contains "  the relay logged the rotation" "$TMP/relay.log" "token rotated by device"
echo "after the change" > "$TMP/A/a2.txt"
ok "A syncs with the new token" on A "$DSYNC" sync --quiet

# ---- B is refused until it takes the new passphrase
echo "from B" > "$TMP/B/b.txt"
fails 5 "B's sync is refused" on B "$DSYNC" sync --quiet
contains "  as a wrong passphrase" "$TMP/err" "refused group 'passphrase-family': wrong passphrase, or no such group"
contains "  with the way out" "$TMP/err" "give the new one here: dsync remote passphrase origin"
HOME="$TMP/hB" start_watch "$TMP/dB.log" daemon --verbose
check "B's daemon logs the way out" "$(wait_text "$TMP/dB.log" "dsync remote passphrase origin" 30 && echo yes)" = yes
stop_watch TERM 20
check "  and stops" "$WRC" = 0
TOKEN_B=$(cat "$(kept B)")
fails 5 "remote passphrase with the old one is refused" on B env DSYNC_PASSPHRASE="$OLD" \
	"$DSYNC" remote passphrase origin
check "  B's kept token unchanged" "$(cat "$(kept B)")" = "$TOKEN_B"
fails 1 "remote passphrase of a remote that isn't there" on B env DSYNC_PASSPHRASE="$NEW" \
	"$DSYNC" remote passphrase elsewhere
ok "remote passphrase origin with the new one" on B env DSYNC_PASSPHRASE="$NEW" "$DSYNC" remote passphrase origin
contains "  says it is kept" "$TMP/out" "the group's new passphrase is taken"
check "  B's kept token is A's" "$(sed -n 1p "$(kept B)")" = "$(sed -n 1p "$(kept A)")"
check "  B's signing key stays" "$(sed -n 2p "$(kept B)")" = "$(echo "$TOKEN_B" | sed -n 2p)"
ok "B syncs again" on B "$DSYNC" sync --quiet
check "  B has A's new file" "$(cat "$TMP/B/a2.txt" 2>/dev/null)" = "after the change"
ok "A syncs" on A "$DSYNC" sync --quiet
check "A = B" "$(files_digest "$TMP/A")" = "$(files_digest "$TMP/B")"

# ---- a new device: the new passphrase, not the old
fails 5 "C can't join with the old passphrase" env HOME="$TMP/hC" DSYNC_PASSPHRASE="$OLD" "$DSYNC" join \
	--relay "$URL" --group Passphrase-Family "$TMP/C"
check "  nothing made" ! -e "$TMP/C"
ok "C joins with the new one" env HOME="$TMP/hC" DSYNC_PASSPHRASE="$NEW" "$DSYNC" join --relay "$URL" \
	--group Passphrase-Family "$TMP/C"
check "  C = A" "$(files_digest "$TMP/C")" = "$(files_digest "$TMP/A")"

# ---- the old passphrase no longer changes anything either
fails 5 "a change with the old passphrase as the current one is refused" \
	on A env DSYNC_PASSPHRASE="$OLD" DSYNC_NEW_PASSPHRASE="vapor tundra quilt ember saddle oyster" \
	"$DSYNC" passphrase
ok "A syncs on" on A "$DSYNC" sync --quiet

finish
