#!/bin/bash
# A round with nothing changed costs one listing per folder and no file
# read (acceptance 4), counted twice: by dsync (`dsync mirror sync -v`:
# "listed N folders, read 0 files (0 B)") and by the phone's own
# sftp-server, which logs every request (-l DEBUG3): no "open" of any file,
# one "opendir" per folder on the phone, each folder once, and nothing
# written, renamed or removed. A change to two files then costs two opens,
# both for reading. (The time of a no-change round over 10,000 and 40,000
# files is bench/mirror-scan.sh's.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/mirrorlib.sh"

mirror_test_start openssh --sftp-log

# 4 folders of 3 folders of 8 photos on the phone, a few files in the folder
for a in 1 2 3 4; do
	for b in 1 2 3; do
		for c in 1 2 3 4 5 6 7 8; do
			phone_random "Y202$a/M0$b/IMG_$a$b$c.jpg" $((1000 + a * 100 + b * 10 + c))
		done
	done
done
mkdir -p "$PC/$PC_SUB/FromPC"
for c in 1 2 3; do echo "computer file $c" > "$PC/$PC_SUB/FromPC/c$c.txt"; done
ok "init the computer's folder" as pc init "$PC" --device-name pc
ok "mirror add" on pc mirror add phone "$PHONE_URL" --path-in-folder "$PC_SUB"
mround "the first round" -v
mround "a second round" -v
phone_clean "after two rounds"
folders=$(find "$PHONE_DIR" -type d | wc -l)
echo "# the phone holds $(phone_files | wc -l) files in $folders folders"

# the server's log: what a round asked of it
# sftp_count WORD: the log's lines for that request ('open "/..." flags ...')
sftp_count() { grep -c "^$1 \"" "$PHONE_SFTP_LOG" || true; }
check "the sftp-server logs requests (opendir lines so far)" "$(sftp_count opendir)" -gt 0

: > "$PHONE_SFTP_LOG"
n=$(commit_count "$PC")
mround "a round with nothing changed" -v
contains "... says the phone is up to date" "$TMP/out" "phone: up to date"
contains "... dsync counted one listing per folder and no read" "$TMP/out" \
	"listed $folders folders, read 0 files (0 B)"
check "... recorded nothing" "$(commit_count "$PC")" = "$n"
check "the server saw no open of a file" "$(sftp_count open)" = 0
check "the server saw one opendir per folder ($folders)" "$(sftp_count opendir)" = "$folders"
check "... each folder once" "$(grep '^opendir "' "$PHONE_SFTP_LOG" | sort -u | wc -l)" = "$folders"
check "... and every folder on the phone" \
	"$(tr -d '\r' < "$PHONE_SFTP_LOG" | sed -n 's/^opendir "\(.*\)"$/\1/p' | sed 's:/*$::' | sort)" = \
	"$(find "$PHONE_DIR" -type d | sort)"
for w in remove rename posix-rename mkdir rmdir setstat; do
	check "the server saw no $w" "$(sftp_count "$w")" = 0
done
echo "# the no-change round's requests: ($(grep -o '^debug[0-9]: request [0-9]*: [a-z@.-]*' "$PHONE_SFTP_LOG" | awk '$4 != "sent" { print $4 }' | sort | uniq -c | tr -s ' \n' ' '))"

# two files changed on the phone: two reads, nothing else opened
: > "$PHONE_SFTP_LOG"
phone_random Y2021/M01/IMG_111.jpg 4000
phone_random Y2024/M03/IMG_new.jpg 5000
mround "a round after two files changed on the phone" -v
contains "... dsync read those two" "$TMP/out" "read 2 files ("
check "the server saw two opens" "$(sftp_count open)" = 2
check "... both for reading" "$(grep '^open "' "$PHONE_SFTP_LOG" | grep -c 'flags READ ')" = 2
check "... and one opendir per folder" "$(sftp_count opendir)" = "$folders"
phone_clean "after the change"

finish
