#!/bin/bash
# A file still being written on the phone is not recorded half-written
# (acceptance 3): a camera app appending to a video (a background writer,
# as the phone's user, 1 KB every 2 ms for 6 s) while
# rounds run one after another. No round records any version of it while
# it grows (every version history ever holds is the whole, final file),
# the rounds go on recording the phone's other new files meanwhile, and
# after the writer stops the next round records the whole file. Files the
# phone's apps name while writing (.pending-*, *.tmp) are neither recorded
# nor touched.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/mirrorlib.sh"

mirror_test_start openssh
V=Camera/VID_0001.mp4

# versions_of PATH: the blob ids PATH has in any snapshot of pc's history
versions_of() {
	local c
	for c in $(git_of pc rev-list --all); do
		git_of pc ls-tree "$c" -- "$1" | awk '{ print $3 }'
	done | sort -u
}

phone_random IMG_0001.jpg 100000
ok "init the computer's folder" as pc init "$PC" --device-name pc
ok "mirror add" on pc mirror add phone "$PHONE_URL" --path-in-folder "$PC_SUB"
mround "the first round"
phone_clean "after the first round"

# the video starts at 2 MB, so that reading it takes a while, and grows as
# a recording does, without pause: 1 KB every 2 ms for 6 s (to ~5 MB). (A
# round sees growth between its listing and the end of its read; a writer
# idle for longer than that window would not be seen growing.)
phone_random "$V" 2000000
phone_as python3 -c '
import os, sys, time
f = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
end = time.monotonic() + 6
while time.monotonic() < end:
	os.write(f, os.urandom(1024))
	time.sleep(0.002)
os.close(f)' "$PHONE_DIR/$V" &
writer=$!
STARTED_PIDS+=("$writer")
# the first round starts once the writer is writing
for i in $(seq 100); do
	(($(stat -c %s "$PHONE_DIR/$V") > 2000000)) && break
	sleep 0.05
done
# the phone's own names for files being written: never recorded, never touched
phone_random "Camera/.pending-1733493000-VID_0002.mp4" 50000
phone_random "Camera/upload.tmp" 3000
pending_sha=$(sha "$PHONE_DIR/Camera/.pending-1733493000-VID_0002.mp4")

# Rounds one after another while it grows. Each round's versions of the
# video (in the folder, in history) are noted; the last round may see the
# writer's end and take the whole file, which is right: what no round may
# take is a version shorter than the end.
rounds=0 others=0 kept=0
: > "$TMP/seen"
while kill -0 "$writer" 2> /dev/null && ((rounds < 30)); do
	rounds=$((rounds + 1))
	phone_random "Camera/IMG_1$rounds.jpg" 20000
	mround "round $rounds while the video grows"
	grep -F "1 still being written there" "$TMP/out" > /dev/null && kept=$((kept + 1))
	[ -f "$PC/$PC_SUB/Camera/IMG_1$rounds.jpg" ] && others=$((others + 1))
	[ -f "$PC/$PC_SUB/$V" ] && blob_id "$PC/$PC_SUB/$V" >> "$TMP/seen"
	versions_of "$PC_SUB/$V" >> "$TMP/seen"
	check "round $rounds: nothing of dsync's on the phone" -z "$(phone_leftovers)"
done
wait "$writer" 2> /dev/null || true
echo "# $rounds rounds while the video grew: $kept said it was still being written, $others recorded the photo taken meanwhile"
check "rounds ran while the video grew" "$rounds" -ge 3
check "every round but the last left the video for later, and said so" "$kept" -ge $((rounds - 1))
check "every round recorded the photo taken meanwhile" "$others" = "$rounds"
whole=$(blob_id "$PHONE_DIR/$V")
check "no round took a version of the video shorter than the whole" \
	-z "$(sort -u "$TMP/seen" | grep -vx "$whole")"

# the writer stopped: the next round records the whole video
mround "the round after the video was finished"
check "the folder has the whole video" "$(sha "$PC/$PC_SUB/$V" 2> /dev/null)" = "$(sha "$PHONE_DIR/$V")"
check "history holds exactly one version of it: the whole one" "$(versions_of "$PC_SUB/$V")" = "$whole"
check "the .pending- file was not recorded" ! -e "$PC/$PC_SUB/Camera/.pending-1733493000-VID_0002.mp4"
check "the .tmp file was not recorded" ! -e "$PC/$PC_SUB/Camera/upload.tmp"
check "the .pending- file is still on the phone, untouched" \
	"$(sha "$PHONE_DIR/Camera/.pending-1733493000-VID_0002.mp4")" = "$pending_sha"
check "the .tmp file is still on the phone" -f "$PHONE_DIR/Camera/upload.tmp"
check "nothing of dsync's on the phone" -z "$(phone_leftovers)"
# the phone's files being written aside, the two sides agree
phone_rm "Camera/.pending-1733493000-VID_0002.mp4" Camera/upload.tmp
phone_clean "after the video was recorded"
n=$(commit_count "$PC")
mround "a round with nothing changed"
check "... records nothing" "$(commit_count "$PC")" = "$n"

# A writer that pauses between writes (an app saving a document in pieces,
# 300 ms apart): each round's read is shorter than the pause, so the read
# itself sees no growth; the second look a second after the listing does.
D=Documents/notes.odt
phone_random "$D" 3000
phone_as python3 -c '
import os, sys, time
f = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
for i in range(12):
	time.sleep(0.3)
	os.write(f, os.urandom(3000))
os.close(f)' "$PHONE_DIR/$D" &
writer=$!
STARTED_PIDS+=("$writer")
: > "$TMP/seen"
rounds=0
while kill -0 "$writer" 2> /dev/null && ((rounds < 20)); do
	rounds=$((rounds + 1))
	mround "round $rounds while the document is saved in pieces"
	versions_of "$PC_SUB/$D" >> "$TMP/seen"
done
wait "$writer" 2> /dev/null || true
mround "the round after the document was saved"
whole=$(blob_id "$PHONE_DIR/$D")
echo "# $rounds rounds while the document was saved in pieces"
check "rounds ran while the document was saved" "$rounds" -ge 2
check "no round took a version of the document shorter than the whole" \
	-z "$(sort -u "$TMP/seen" | grep -vx "$whole")"
check "history holds exactly one version of it: the whole one" "$(versions_of "$PC_SUB/$D")" = "$whole"
check "nothing of dsync's on the phone" -z "$(phone_leftovers)"

finish
