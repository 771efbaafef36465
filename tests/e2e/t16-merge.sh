#!/bin/bash
# dsync merge and dsync conflicts from the command line: two devices of one
# folder (the second a copy with its own device id; its history fetched with
# git as sync will), a clean merge, a conflicting one (exit 3), listing and
# resolving conflicts, a fast-forward, bad revisions, and merging into a
# folder whose working tree changed since its last snapshot.
. "$(dirname "$0")/lib.sh"

A=$TMP/alpha
B=$TMP/beta
mkdir -p "$A/docs"
printf '1\n2\n3\n4\n5\n6\n7\n8\n' > "$A/docs/notes.md"
printf 'JPEG\0one' > "$A/photo.jpg"
echo "milk" > "$A/todo.txt"
ok "init" dsync init --device-name alpha "$A"
cp -a "$A" "$B"
git --git-dir="$B/.dsync" config dsync.deviceId bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
git --git-dir="$B/.dsync" config dsync.deviceName beta

# fetch: beta's history into alpha's store, as a remote head
fetch_beta() { git --git-dir="$A/.dsync" fetch -q "$B/.dsync" +main:refs/remotes/usb/beta; }

# 1. edits on both sides that merge cleanly
printf '1\n2\n3\n4\n5\n6\n7\neight\n' > "$B/docs/notes.md"
echo "new from beta" > "$B/beta.txt"
(cd "$B" && dsync snapshot -q)
printf 'one\n2\n3\n4\n5\n6\n7\n8\n' > "$A/docs/notes.md"
(cd "$A" && dsync snapshot -q)
fetch_beta
cd "$A"
ok "merge: clean" dsync merge refs/remotes/usb/beta
contains "merge: says what it did" "$TMP/out" "merged into"
check "both edits in one file" "$(cat docs/notes.md)" = "$(printf 'one\n2\n3\n4\n5\n6\n7\neight')"
check "beta's new file" "$(cat beta.txt)" = "new from beta"
check "merge commit has two parents" "$(git --git-dir=.dsync rev-list --parents -n1 main | wc -w)" = 3
check "its author is dsync" "$(git --git-dir=.dsync log -1 --format=%an main)" = dsync
ok "nothing left to snapshot" dsync status
contains "status: clean" "$TMP/out" "nothing changed"
ok "merge again: up to date" dsync merge refs/remotes/usb/beta
contains "merge again: says so" "$TMP/out" "already up to date"
ok "conflicts: none" dsync conflicts
contains "conflicts: says none" "$TMP/out" "no conflicts"

# 2. beta fast-forwards to alpha's merge
cd "$B"
git --git-dir="$B/.dsync" fetch -q "$A/.dsync" +main:refs/remotes/usb/alpha
ok "merge: fast-forward" dsync merge refs/remotes/usb/alpha
contains "fast-forward: says so" "$TMP/out" "fast-forwarded"
check "both devices at one head" "$(head_id "$A")" = "$(head_id "$B")"
check "both folders alike" "$(files_digest "$A")" = "$(files_digest "$B")"

# 3. a conflict: both change the photo and the todo list; beta saves later
printf 'JPEG\0alpha' > "$A/photo.jpg"
echo "milk, alpha" > "$A/todo.txt"
(cd "$A" && dsync snapshot -q)
sleep 1.1
printf 'JPEG\0beta' > "$B/photo.jpg"
echo "milk, beta" > "$B/todo.txt"
(cd "$B" && dsync snapshot -q)
fetch_beta
cd "$A"
fails 3 "merge with conflicts exits 3" dsync merge refs/remotes/usb/beta
contains "merge: says conflicts wait" "$TMP/out" "2 conflicts wait"
check "the later version keeps the path" "$(cat todo.txt)" = "milk, beta"
copy=$(ls todo.sync-conflict-*-alpha.txt 2>/dev/null)
check "the other is a copy named after its device" -n "$copy"
check "the copy holds alpha's version" "$(cat "$copy")" = "milk, alpha"
check "binary: a copy too" -n "$(ls photo.sync-conflict-*-alpha.jpg 2>/dev/null)"
ok "conflicts lists them" dsync conflicts
contains "conflicts: todo.txt" "$TMP/out" "todo.txt"
contains "conflicts: its copy" "$TMP/out" "$copy"
contains "conflicts: the device" "$TMP/out" "from alpha"
ok "conflicts --json" dsync conflicts --json
contains "json: the path" "$TMP/out" '"path":"photo.jpg"'
fails 2 "resolve needs --keep" dsync conflicts resolve todo.txt
fails 2 "resolve: bad --keep" dsync conflicts resolve todo.txt --keep mine
fails 1 "resolve: no conflict there" dsync conflicts resolve docs/notes.md --keep file
ok "resolve todo.txt --keep copy" dsync conflicts resolve todo.txt --keep copy
check "the copy's version at the path" "$(cat todo.txt)" = "milk, alpha"
check "the copy is gone" ! -e "$copy"
contains "the choice is a version" <(git --git-dir=.dsync log -1 --format=%s main) "resolved the conflict at todo.txt"
ok "resolve photo.jpg --keep both" dsync conflicts resolve photo.jpg --keep both
check "both kept, the copy under a plain name" -n "$(ls photo\ \(alpha\ *\).jpg 2>/dev/null)"
ok "conflicts: none left" dsync conflicts
contains "none left" "$TMP/out" "no conflicts"

# 4. bad revisions: clear message, nothing changed
before=$(head_id "$A")
# neither an id, a ref nor a time: a bad argument (exit 2), as a bad --since
fails 2 "merge: unknown revision" dsync merge no-such-head
contains "merge: unknown revision says so" "$TMP/err" "no-such-head"
fails 2 "merge: no revision" dsync merge
check "head unchanged" "$(head_id "$A")" = "$before"

# 5. the working tree changed since alpha's last snapshot: recorded first,
# then merged; nothing overwritten
echo "beta again" > "$B/beta.txt"
(cd "$B" && dsync snapshot -q)
fetch_beta
echo "alpha's unsaved edit" > "$A/todo.txt"
ok "merge over unsaved edits" dsync merge refs/remotes/usb/beta
check "the unsaved edit is kept" "$(cat todo.txt)" = "alpha's unsaved edit"
check "beta's edit arrived" "$(cat beta.txt)" = "beta again"
check "the unsaved edit is in history" -n \
	"$(git --git-dir=.dsync log --format=%H main -- todo.txt | while read -r c; do
		git --git-dir=.dsync show "$c:todo.txt" 2>/dev/null | grep -l "unsaved" >/dev/null && echo "$c"; done)"

# help
ok "help merge" dsync help merge
contains "help merge: exit 3" "$TMP/out" "Exit status 3"
ok "help conflicts" dsync help conflicts
contains "help conflicts: resolve" "$TMP/out" "--keep file|copy|both"

finish
