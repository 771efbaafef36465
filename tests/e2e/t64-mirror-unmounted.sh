#!/bin/bash
# The phone's storage unmounted (acceptance 5): its folder emptied at once,
# and then gone entirely, and most of its files gone at once. Each time the
# mirror pauses: `dsync mirror sync` exits 1 with the pause message, `dsync
# mirror list` shows it paused, nothing is deleted in the folder, nor on a
# second device that syncs with the computer through a file:// store (also
# through a `dsync sync`, which runs the mirror and still pushes). The files
# back, the next round resumes: nothing lost, the pause cleared. A deletion
# that is real goes through with --allow-mass-delete.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/mirrorlib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE
PASS=$TMP/passphrase
echo "correct horse battery staple" > "$PASS"

mirror_test_start openssh

# 24 photos on the phone (more than the guard's minimum of 10), 2 files in
# the folder's part for the phone, a file elsewhere
for i in $(seq 24); do
	phone_random "Camera/IMG_$i.jpg" $((3000 + i))
done
mkdir -p "$PC/$PC_SUB" "$PC/Documents"
echo "from the computer" > "$PC/$PC_SUB/from-pc.txt"
echo "another" > "$PC/$PC_SUB/other.txt"
echo "notes" > "$PC/Documents/notes.txt"
ok "init the computer's folder" as pc init "$PC" --device-name pc
ok "mirror add" on pc mirror add phone "$PHONE_URL" --path-in-folder "$PC_SUB"
mround "the first round"
phone_clean "after the first round"
# the second device: syncs with the computer through a file:// store
ok "pc adds a file:// store" on pc remote add origin "file://$TMP/store" --passphrase-file "$PASS"
ok "pc syncs" on pc sync
ok "a second device joins" as second join "file://$TMP/store" "$TMP/second" --device-name second \
	--passphrase-file "$PASS"
full=$(files_digest "$PC")
check "the second device holds the folder, phone's photos included" "$(files_digest "$TMP/second")" = "$full"
mkdir -p "$TMP/saved"
cp -a "$PHONE_DIR/." "$TMP/saved/"

# paused "what": the round just run paused: exit 1 with the message, the
# mirror listed as paused, nothing deleted on the computer, nor (after a
# sync through the store) on the second device
paused() {
	local what=$1
	contains "$what: the message says the files vanished at once" "$TMP/err" "vanished at once"
	contains "$what: ... and how to record a real deletion" "$TMP/err" "--allow-mass-delete"
	check "$what: nothing deleted on the computer" "$(files_digest "$PC")" = "$full"
	ok "$what: mirror list" on pc mirror list
	contains "$what: ... shows the mirror paused" "$TMP/out" "paused: "
	ok "$what: mirror list --json" on pc mirror list --json
	check "$what: ... says why it paused" \
		"$(jq -r '.mirrors[0].paused | type' "$TMP/out" 2> /dev/null)" = string
	fails 1 "$what: dsync sync (the mirror pauses again; exit 1)" on pc sync
	contains "$what: ... says why" "$TMP/err" "vanished at once"
	ok "$what: the second device syncs" on second sync
	check "$what: nothing deleted on the second device" "$(files_digest "$TMP/second")" = "$full"
	check "$what: nothing deleted on the computer after the sync" "$(files_digest "$PC")" = "$full"
}
# resumed "what": the files are back: the round records nothing lost
resumed() {
	local what=$1
	mround "$what: the round after the files came back"
	check "$what: the computer holds what it held" "$(files_digest "$PC")" = "$full"
	phone_clean "$what: after the round"
	ok "$what: mirror list --json" on pc mirror list --json
	check "$what: ... not paused any more" "$(jq -r '.mirrors[0].paused' "$TMP/out" 2> /dev/null)" = null
}
restore_phone() {
	mkdir -p "$PHONE_DIR"
	cp -a "$TMP/saved/." "$PHONE_DIR/"
	chown -R "$PHONE_USER:" "$PHONE_HOME"
}

# the folder emptied at once
phone_as find "$PHONE_DIR" -mindepth 1 -delete
check "the phone's folder is empty" -z "$(ls -A "$PHONE_DIR")"
fails 1 "emptied: the round pauses (exit 1)" on pc mirror sync phone
paused emptied
restore_phone
resumed emptied

# the folder gone entirely (the storage's mount point missing)
phone_rm ""
check "the phone's folder is gone" ! -e "$PHONE_DIR"
fails 1 "gone: the round pauses (exit 1)" on pc mirror sync phone
paused gone
restore_phone
resumed gone

# most of the files gone at once (20 of 26)
phone_rm $(cd "$PHONE_DIR" && ls Camera/IMG_*.jpg | head -20)
fails 1 "most gone: the round pauses (exit 1)" on pc mirror sync phone
paused "most gone"
restore_phone
resumed "most gone"

# a deletion that is real
phone_as find "$PHONE_DIR/Camera" -mindepth 1 -delete
fails 1 "really deleted: the round pauses first" on pc mirror sync phone
mround "... --allow-mass-delete records the deletion" phone --allow-mass-delete
check "the photos are gone from the computer" -z "$(ls "$PC/$PC_SUB/Camera" 2> /dev/null)"
check "the computer's own files in that part stay" -f "$PC/$PC_SUB/from-pc.txt"
check "the file elsewhere stays" "$(cat "$PC/Documents/notes.txt")" = notes
phone_clean "after the real deletion"
missing=$(for f in "$TMP"/saved/Camera/*; do blob_id "$f"; done | sort -u | comm -23 - <(history_blobs pc))
check "the deleted photos are in history still" -z "$missing"

finish
