#!/bin/bash
# A folder holding a git repository of its own is backed up as plain files
# (its .git too, stored as ".git~dsync", never as a submodule link) and comes
# back as a working repository.  The user's git setup (a hostile ~/.gitconfig
# with autocrlf, eol, filters, excludes and attributes files; XDG config and
# ignore files) and a .gitignore/.gitattributes inside the folder change
# nothing that is stored: every stored blob is the file's exact bytes.
# Names git refuses (.git in any case, a symlink .gitmodules) and names that
# already look escaped round-trip under their own names.
. "$(dirname "$0")/lib.sh"

# The checking git runs with an empty HOME, so the hostile config below
# cannot colour what it reports.
CLEAN=$TMP/clean-home
mkdir -p "$CLEAN"
g() { HOME=$CLEAN git -c user.name=Tester -c user.email=tester@example.com "$@"; }

F=$TMP/docs
N=$F/nested
A=$F/archive
mkdir -p "$F/sub"

# --- the nested repository: several commits, a branch, a tag, a pack, packed
# refs, then more commits so that it has loose objects and refs as well
g init -q -b main "$N"
cd "$N"
printf 'one\r\ntwo\r\n' > crlf.txt
printf 'one\ntwo\n' > lf.txt
printf 'mixed\r\nlines\nhere\r\n' > mixed.md
printf 'bin\0\r\n\x00\xff' > blob.bin
g add -A && g commit -qm "first"
printf 'three\r\n' >> crlf.txt
g commit -qam "second"
g tag -a v1 -m "version 1"
g checkout -q -b feature
printf 'feature\n' > feature.txt
g add feature.txt && g commit -qm "on feature"
g checkout -q main
g gc -q
check "setup: the nested repo has a pack" -n "$(ls .git/objects/pack/*.pack 2>/dev/null)"
check "setup: the nested repo has packed refs" -s .git/packed-refs
printf 'after gc\n' > later.log
g add later.log && g commit -qm "third, after gc"
printf 'four\r\n' >> crlf.txt
g commit -qam "fourth"
NESTED_HEAD=$(g rev-parse HEAD)
FEATURE_HEAD=$(g rev-parse feature)
check "setup: the nested repo is clean" -z "$(g status --porcelain)"
check "setup: four commits on main" "$(g rev-list --count main)" = 4

# --- a second repository right after "git gc": every ref packed, so its
# refs/heads and refs/tags are empty folders
g init -q -b main "$A"
cd "$A"
printf 'archived\r\n' > a.txt
g add a.txt && g commit -qm "archived one"
printf 'more\n' >> a.txt
g commit -qam "archived two"
g branch old HEAD~1
g gc -q
ARCHIVE_HEAD=$(g rev-parse HEAD)
check "setup: the archive repo's refs are all packed" -z "$(find .git/refs -type f)"

# --- the folder's own files
cd "$F"
printf '*.log\n.gitattributes\n' > .gitignore
printf '* filter=x text eol=crlf\n*.txt ident\n' > .gitattributes
printf 'log line\n' > top.log
printf 'plain\nlf\n' > readme.txt
printf 'windows\r\ncrlf\r\n' > win.txt
printf 'mixed\r\nend\n' > notes.md
printf '$Id$\n' > ident.txt
printf 'upper git\n' > .GIT
printf 'already escaped look\n' > '.git~dsync'
printf 'twice escaped look\n' > '.Git~dsync~dsync'
ln -s nested/lf.txt .gitmodules
ln -s ../readme.txt 'sub/.gitmodules~dsync'
printf 'sub file\r\n' > sub/file.txt
mkdir -p sub/.git/objects sub/.git/refs
printf 'not a real repo\n' > sub/.git/HEAD
printf 'my own file\n' > sub/.dsync-empty      # the marker's name, as a user's file
mkdir -p 'sub/empty/.dsync-empty~dsync'          # and a folder of the escaped form

# --- a hostile git setup for the user
cat > "$HOME/.gitconfig" <<EOF
[core]
	autocrlf = true
	eol = crlf
	safecrlf = true
	fileMode = false
	symlinks = false
	ignoreCase = true
	excludesFile = $HOME/ignore-txt
	attributesFile = $HOME/attributes
	bare = true
[init]
	defaultBranch = trunk
[user]
	name = Hostile
	email = hostile@example.com
[filter "x"]
	clean = false
	smudge = false
	required = true
[status]
	showUntrackedFiles = no
EOF
printf '*.txt\n' > "$HOME/ignore-txt"
printf '* text eol=crlf filter=x\n' > "$HOME/attributes"
mkdir -p "$HOME/.config/git"
printf '[core]\n\tautocrlf = input\n' > "$HOME/.config/git/config"
printf '*.md\n*.log\n' > "$HOME/.config/git/ignore"
printf '* text=auto eol=crlf\n' > "$HOME/.config/git/attributes"

ok "init takes the first snapshot" dsync init --device-name lab
S1=$(head_id "$F")
check "the branch is main" -n "$S1"
check "the author is the device name" "$(g --git-dir="$F/.dsync" log -1 --format=%an main)" = lab
check "dsync's repo has core.autocrlf=false" \
	"$(g config --file "$F/.dsync/config" core.autocrlf)" = false
contains "dsync's attributes turn every filter off" "$F/.dsync/info/attributes" "-filter"
ok "status right after init" dsync status
contains "status: nothing changed (no phantom CRLF changes)" "$TMP/out" "nothing changed"
ok "snapshot right after init" dsync snapshot
contains "snapshot: nothing changed" "$TMP/out" "nothing changed"
check "snapshot: no new commit" "$(commit_count "$F")" = 1

# --- what is stored
g --git-dir="$F/.dsync" ls-tree -r --full-tree main > "$TMP/lstree"
check "no gitlink (mode 160000) anywhere" -z "$(grep '^160000' "$TMP/lstree")"
check "no entry named .git is stored" \
	-z "$(cut -f2 "$TMP/lstree" | grep -Ei '(^|/)\.git(/|$)')"
check "nested .git stored as nested/.git~dsync" \
	-n "$(grep -P '\tnested/\.git~dsync/HEAD$' "$TMP/lstree")"
check "nested .git is a tree" \
	"$(g --git-dir="$F/.dsync" cat-file -t 'main:nested/.git~dsync')" = tree
check "archive .git stored as archive/.git~dsync" \
	-n "$(grep -P '\tarchive/\.git~dsync/packed-refs$' "$TMP/lstree")"
check "the nested pack is stored" \
	-n "$(grep -P '\tnested/\.git~dsync/objects/pack/pack-[0-9a-f]+\.pack$' "$TMP/lstree")"
check "a fake .git folder is stored as .git~dsync too" \
	-n "$(grep -P '\tsub/\.git~dsync/HEAD$' "$TMP/lstree")"
check ".GIT stored as .GIT~dsync" -n "$(grep -P '^100644 blob \S+\t\.GIT~dsync$' "$TMP/lstree")"
check ".git~dsync (a file) stored as .git~dsync~dsync" \
	-n "$(grep -P '^100644 blob \S+\t\.git~dsync~dsync$' "$TMP/lstree")"
check ".Git~dsync~dsync stored with one more ~dsync" \
	-n "$(grep -P '^100644 blob \S+\t\.Git~dsync~dsync~dsync$' "$TMP/lstree")"
check "symlink .gitmodules stored as a link .gitmodules~dsync" \
	-n "$(grep -P '^120000 blob \S+\t\.gitmodules~dsync$' "$TMP/lstree")"
check "a user's .dsync-empty stored as .dsync-empty~dsync" \
	-n "$(grep -P '^100644 blob \S+\tsub/\.dsync-empty~dsync$' "$TMP/lstree")"
check "symlink .gitmodules~dsync stored with one more ~dsync" \
	-n "$(grep -P '^120000 blob \S+\tsub/\.gitmodules~dsync~dsync$' "$TMP/lstree")"
for p in .gitignore .gitattributes top.log nested/later.log readme.txt notes.md \
	nested/crlf.txt sub/file.txt ident.txt; do
	check "stored although some git ignore file names it: $p" \
		-n "$(grep -P "\t\Q$p\E\$" "$TMP/lstree")"
done
for p in win.txt nested/crlf.txt nested/mixed.md nested/blob.bin notes.md ident.txt .gitattributes; do
	g --git-dir="$F/.dsync" cat-file blob "main:$p" > "$TMP/blob"
	check "stored bytes are the file's bytes: $p" -z "$(cmp "$TMP/blob" "$F/$p" 2>&1)"
done
check "the symlink's stored target" \
	"$(g --git-dir="$F/.dsync" cat-file blob 'main:.gitmodules~dsync')" = nested/lf.txt

# Every file and link, escaped as docs/format.md says, against every stored
# entry: same names, same modes, and blob ids equal to the unfiltered hash of
# the bytes; an empty folder is a folder holding an empty .dsync-empty.
GIT_NAME='^\.[gG][iI][tT](~dsync)*$'
GITMODULES_NAME='^\.[gG][iI][tT][mM][oO][dD][uU][lL][eE][sS](~dsync)*$'
MARKER_NAME='^\.dsync-empty(~dsync)*$'
escape_path() { # PATH IS_LINK
	local path=$1 is_link=$2 out="" c last
	while :; do
		c=${path%%/*}
		if [ "$c" = "$path" ]; then last=1; else last=0; fi
		if [[ $c =~ $GIT_NAME ]] || [[ $c =~ $MARKER_NAME ]] ||
		   { [ "$is_link$last" = 11 ] && [[ $c =~ $GITMODULES_NAME ]]; }; then
			c="$c~dsync"
		fi
		out="$out$c"
		[ "$last" = 1 ] && break
		out="$out/"
		path=${path#*/}
	done
	printf '%s' "$out"
}
(cd "$F" && find . -path ./.dsync -prune -o \( -type f -o -type l \) -print | sed 's|^\./||' |
	LC_ALL=C sort) > "$TMP/fslist"
: > "$TMP/fsentries"
while IFS= read -r p; do
	if [ -L "$F/$p" ]; then
		mode=120000
		oid=$(printf '%s' "$(readlink "$F/$p")" | g hash-object --stdin)
		stored=$(escape_path "$p" 1)
	else
		mode=100644
		[ "$(stat -c %A "$F/$p" | cut -c4)" = x ] && mode=100755
		oid=$(cd "$TMP" && g hash-object --no-filters -- "$F/$p")
		stored=$(escape_path "$p" 0)
	fi
	printf '%s blob %s\t%s\n' "$mode" "$oid" "$stored" >> "$TMP/fsentries"
done < "$TMP/fslist"
EMPTY_BLOB=$(g hash-object --stdin < /dev/null)
(cd "$F" && find . -path ./.dsync -prune -o -type d -empty -print | sed 's|^\./||') |
while IFS= read -r d; do
	printf '100644 blob %s\t%s/.dsync-empty\n' "$EMPTY_BLOB" "$(escape_path "$d" 0)"
done >> "$TMP/fsentries"
check "setup: there are empty folders (in the .git folders)" \
	-n "$(grep -F '.git~dsync/refs/tags/.dsync-empty' "$TMP/fsentries")"
LC_ALL=C sort "$TMP/fsentries" > "$TMP/fs-sorted"
LC_ALL=C sort "$TMP/lstree" > "$TMP/ls-sorted"
if cmp -s "$TMP/fs-sorted" "$TMP/ls-sorted"; then
	pass "every file stored byte for byte, mode and name as expected ($(wc -l < "$TMP/fs-sorted") entries)"
else
	fail "stored entries differ from the files"
	diff "$TMP/fs-sorted" "$TMP/ls-sorted" | head -20 | sed 's/^/#   /'
fi
ok "git fsck of dsync's store is clean" g --git-dir="$F/.dsync" fsck --full --no-dangling

# --- restore the whole folder elsewhere
OUT=$TMP/restored
ok "restore the whole folder elsewhere" dsync restore . --to "$OUT"
check "restored tree matches byte for byte (empty folders too)" \
	"$(tree_digest "$F")" = "$(tree_digest "$OUT")"
check "a user's .dsync-empty back under its own name" "$(cat "$OUT/sub/.dsync-empty")" = "my own file"
check "an empty folder named .dsync-empty~dsync back" -d "$OUT/sub/empty/.dsync-empty~dsync"
check "no marker file written for it" -z "$(ls -A "$OUT/sub/empty/.dsync-empty~dsync")"
check "the empty refs/tags of the nested .git is back" -d "$OUT/nested/.git/refs/tags"
check ".GIT back under its own name" "$(cat "$OUT/.GIT")" = "upper git"
check ".git~dsync (a file) back under its own name" -f "$OUT/.git~dsync"
check ".git~dsync content" "$(cat "$OUT/.git~dsync")" = "already escaped look"
check ".Git~dsync~dsync back under its own name" \
	"$(cat "$OUT/.Git~dsync~dsync")" = "twice escaped look"
check "no .GIT~dsync in the restored copy" ! -e "$OUT/.GIT~dsync"
check "no .git~dsync~dsync in the restored copy" ! -e "$OUT/.git~dsync~dsync"
check ".gitmodules back as a link" -L "$OUT/.gitmodules"
check ".gitmodules link target" "$(readlink "$OUT/.gitmodules")" = nested/lf.txt
check "sub/.gitmodules~dsync back as a link" "$(readlink "$OUT/sub/.gitmodules~dsync")" = ../readme.txt
check "nested .git back as a folder" -d "$OUT/nested/.git"
check "nested .git not left as .git~dsync" ! -e "$OUT/nested/.git~dsync"
check "CRLF file restored with CRLF" -z "$(cmp "$OUT/win.txt" "$F/win.txt" 2>&1)"

ok "git log works in the restored repository" g -C "$OUT/nested" log --oneline main
check "git log shows all four commits of main" "$(wc -l < "$TMP/out")" = 4
check "restored HEAD is the same commit" "$(g -C "$OUT/nested" rev-parse HEAD)" = "$NESTED_HEAD"
check "restored branch (packed ref)" "$(g -C "$OUT/nested" rev-parse feature 2>/dev/null)" = "$FEATURE_HEAD"
check "restored tag (packed ref)" "$(g -C "$OUT/nested" cat-file -t v1 2>/dev/null)" = tag
ok "git log --all in the restored repository" g -C "$OUT/nested" log --oneline --all
check "git log --all shows the feature commit" "$(grep -c 'on feature' "$TMP/out")" = 1
ok "git status in the restored repository" g -C "$OUT/nested" status --porcelain
check "git status is clean" ! -s "$TMP/out"
ok "git fsck in the restored repository" g -C "$OUT/nested" fsck --full --no-dangling
check "git fsck says nothing" -z "$(cat "$TMP/out" "$TMP/err")"
check "restored CRLF file in the work tree" -z "$(cmp "$OUT/nested/crlf.txt" "$N/crlf.txt" 2>&1)"

# a repository whose refs are all packed: its refs/ folder holds only empty
# folders, which git does not keep, yet git needs refs/ to see a repository
ok "git log works in the restored all-packed repository" g -C "$OUT/archive" log --oneline
check "all-packed repository: both commits" "$(grep -c archived "$TMP/out")" = 2
check "all-packed repository: HEAD" "$(g -C "$OUT/archive" rev-parse HEAD 2>/dev/null)" = "$ARCHIVE_HEAD"
ok "git fsck in the restored all-packed repository" g -C "$OUT/archive" fsck --full --no-dangling

# --- a change inside the nested repository is a change like any other
cd "$N"
printf 'five\r\n' >> crlf.txt
g commit -qam "fifth"
cd "$F"
ok "snapshot after a nested commit" dsync snapshot
check "one more snapshot" "$(commit_count "$F")" = 2
ok "restore the nested repository as it was at the first snapshot" \
	dsync restore nested --at "$S1" --to "$TMP/old-nested"
check "old nested repository: HEAD of the time" \
	"$(g -C "$TMP/old-nested" rev-parse HEAD 2>/dev/null)" = "$NESTED_HEAD"
ok "old nested repository: status clean" g -C "$TMP/old-nested" status --porcelain
check "old nested repository: no changes" ! -s "$TMP/out"
finish
