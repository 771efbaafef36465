#!/bin/bash
# Names that are ".dsync" in another case (".DSYNC", ".Dsync"), at any depth:
# snapshots store them escaped (".DSYNC~dsync", as ".git" is), so the check
# on trees from another device (which refuses ".dsync" in any form that could
# land in dsync's own history) lets them through, and a second device joins
# and gets them byte for byte.  A history that already holds such a name raw
# (as snapshots stored it before) stays usable: a device that has it syncs,
# a device that joins gets it, and the next snapshot stores it escaped.
# Stored forms that would read back as ".dsync" itself are refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE
PASS=$TMP/passphrase
echo "correct horse battery staple" > "$PASS"

stored_names() { git_of "$1" ls-tree -r --name-only refs/heads/main; }

# 1. A folder with such names, synced and joined
mkdir -p "$TMP/A/.DSYNC" "$TMP/A/sub/deep/.Dsync" "$TMP/A/x"
echo top > "$TMP/A/.DSYNC/a.txt"
echo deep > "$TMP/A/sub/deep/.Dsync/b.txt"
echo file > "$TMP/A/x/.dSync"
echo tilde > "$TMP/A/.dsync~dsync"
echo plain > "$TMP/A/plain.txt"
ok "A: init a folder holding .DSYNC, .Dsync, .dSync and .dsync~dsync" as A init "$TMP/A"
stored_names A > "$TMP/names"
contains "stored escaped: .DSYNC" "$TMP/names" ".DSYNC~dsync/a.txt"
contains "stored escaped: sub/deep/.Dsync" "$TMP/names" "sub/deep/.Dsync~dsync/b.txt"
contains "stored escaped: x/.dSync" "$TMP/names" "x/.dSync~dsync"
contains "stored escaped: .dsync~dsync" "$TMP/names" ".dsync~dsync~dsync"
check "no raw .dsync name in any case" "$(grep -ic '\(^\|/\)\.dsync\(/\|$\)' "$TMP/names")" = 0
ok "A: status is clean after the snapshot" on A status
check "A: nothing to record" "$(on A status --json 2>/dev/null | grep -c '"path"')" = 0
ok "A: show reads an escaped name back" on A show HEAD:.DSYNC/a.txt
contains "A: show gives the file's bytes" "$TMP/out" "top"
ok "A: remote add" on A remote add origin "file://$TMP/store" --passphrase-file "$PASS"
ok "A: sync" on A sync
ok "B: join the store" as B join "file://$TMP/store" "$TMP/B" --passphrase-file "$PASS"
check "B: the same files as A" "$(files_digest "$TMP/B")" = "$(files_digest "$TMP/A")"
ok "A: restore .DSYNC from history" on A restore .DSYNC --at HEAD
check "A: restored bytes" "$(cat "$TMP/A/.DSYNC/a.txt")" = top
echo edit >> "$TMP/B/sub/deep/.Dsync/b.txt"
ok "B: sync an edit inside .Dsync" on B sync
ok "A: sync gets it" on A sync
check "A: the edit arrived" "$(tail -1 "$TMP/A/sub/deep/.Dsync/b.txt")" = edit

# 2. A history holding the raw name, as snapshots wrote it before
mkdir -p "$TMP/C"
echo c > "$TMP/C/c.txt"
ok "C: init" as C init "$TMP/C"
ok "C: remote add" on C remote add origin "file://$TMP/store2" --passphrase-file "$PASS"
ok "C: sync" on C sync
ok "E: join before the raw name arrives" as E join "file://$TMP/store2" "$TMP/E" --passphrase-file "$PASS"
# a commit as an older dsync made it: the tree names ".DSYNC" raw
mkdir -p "$TMP/C/.DSYNC"
echo legacy > "$TMP/C/.DSYNC/legacy.txt"
blob=$(git_of C hash-object -w "$TMP/C/.DSYNC/legacy.txt")
sub=$(printf '100644 blob %s\tlegacy.txt\n' "$blob" | git_of C mktree)
top=$( (git_of C ls-tree refs/heads/main; printf '040000 tree %s\t.DSYNC\n' "$sub") | git_of C mktree)
commit=$(GIT_AUTHOR_NAME=C GIT_AUTHOR_EMAIL=c@dsync GIT_COMMITTER_NAME=C GIT_COMMITTER_EMAIL=c@dsync \
	git_of C commit-tree "$top" -p refs/heads/main -m "1 file changed: .DSYNC/legacy.txt")
git_of C update-ref refs/heads/main "$commit"
rm -f "$TMP/C/.dsync/index"
ok "C: a snapshot on top of the raw name" on C snapshot
ok "C: sync pushes the history holding the raw name" on C sync
stored_names C > "$TMP/names"
contains "C: the next snapshot stores it escaped" "$TMP/names" ".DSYNC~dsync/legacy.txt"
check "C: the raw name is gone from the head" "$(grep -c '^\.DSYNC/' "$TMP/names")" = 0
check "C: the raw name is still in its history" \
	"$(git_of C ls-tree -r --name-only "$commit" | grep -c '^\.DSYNC/legacy.txt$')" = 1
ok "E: a device that had the store syncs the raw name's history" on E sync
check "E: got .DSYNC/legacy.txt" "$(cat "$TMP/E/.DSYNC/legacy.txt" 2> /dev/null)" = legacy
ok "D: a new device joins a store holding the raw name" as D join "file://$TMP/store2" "$TMP/D" --passphrase-file "$PASS"
check "D: the same files as C" "$(files_digest "$TMP/D")" = "$(files_digest "$TMP/C")"
ok "D: restore the version that held the raw name" on D restore .DSYNC --at "$commit" --to "$TMP/D-old"
check "D: its bytes" "$(cat "$TMP/D-old/legacy.txt" 2> /dev/null)" = legacy

# 3. A stored name that would read back as ".dsync" is refused
ok "E: merge the head" on E sync
evil_blob=$(echo evil | git_of E hash-object -w --stdin)
evil_sub=$(printf '100644 blob %s\tconfig\n' "$evil_blob" | git_of E mktree)
for name in '.dsync'; do
	evil_top=$( (git_of E ls-tree refs/heads/main; printf '040000 tree %s\t%s\n' "$evil_sub" "$name") | git_of E mktree)
	evil=$(GIT_AUTHOR_NAME=E GIT_AUTHOR_EMAIL=e@dsync GIT_COMMITTER_NAME=E GIT_COMMITTER_EMAIL=e@dsync \
		git_of E commit-tree "$evil_top" -p refs/heads/main -m evil)
	fails 6 "merging a tree that names '$name' is refused" on E merge "$evil"
	contains "the refusal names it" "$TMP/err" "refused a tree"
	check "nothing written into .dsync" ! -e "$TMP/E/.dsync/config/config"
done
# a tree naming ".DSYNC" raw and ".DSYNC~dsync" names one folder twice
both=$( (git_of E ls-tree refs/heads/main | grep -v 'DSYNC'; printf '040000 tree %s\t.DSYNC\n040000 tree %s\t.DSYNC~dsync\n' "$evil_sub" "$evil_sub") | git_of E mktree)
evil=$(GIT_AUTHOR_NAME=E GIT_AUTHOR_EMAIL=e@dsync GIT_COMMITTER_NAME=E GIT_COMMITTER_EMAIL=e@dsync \
	git_of E commit-tree "$both" -p refs/heads/main -m evil)
fails 6 "a tree naming .DSYNC raw and escaped is refused" on E merge "$evil"
contains "as one name twice" "$TMP/err" "twice"
finish
