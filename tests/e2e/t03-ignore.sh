#!/bin/bash
# What a snapshot leaves out: the built-in defaults (editor swap and backup
# files, office locks, OS litter, partial downloads) and .dsyncignore rules.
# Changing only left-out files makes no snapshot; a rule added for a stored
# file drops it from the newest version but not from history; .dsync folders
# anywhere in the tree are never stored; FIFOs are skipped without error.
. "$(dirname "$0")/lib.sh"

F=$TMP/docs
mkdir -p "$F/sub/deep"
cd "$F"

is_stored() { stored "$F" | grep -xF -- "$1" > /dev/null; }
# TIMEOUT: nothing here may hang (a FIFO opened for reading would)
run() { timeout 60 "$DSYNC" "$@"; }

echo real > a.txt
echo doc > sub/report.docx
echo deep > sub/deep/c.md
# the defaults, at the top and deeper down
DEFAULTS=(.a.txt.swp a.txt~ '~$doc.docx' '.~lock.x.odt#' .DS_Store Thumbs.db x.part
	x.crdownload .b.md.swo 4913 '.#emacs-lock' '#autosave#' ._resource desktop.ini
	ehthumbs.db .directory 'x.partial' 'y.dsync-tmp' '.dsync-tmp-123' $'Icon\r'
	'~word.tmp' '.c.kate-swp')
for n in "${DEFAULTS[@]}"; do
	printf 'litter %s\n' "$n" > "$n"
	printf 'deep litter\n' > "sub/deep/$n"
done
# default folder rules
mkdir -p .Trash-1000/files x.download .AppleDouble '$RECYCLE.BIN' sub/.Trashes
echo t > .Trash-1000/files/gone.txt
echo d > x.download/data
echo a > .AppleDouble/a
echo r > '$RECYCLE.BIN/r'
echo t > sub/.Trashes/t
# names that look like defaults but are not
echo kept > swp.txt
echo kept > 'a~b.txt'
echo kept > 'part.txt'
echo kept > 'Thumbs.db.txt'

ok "init takes the first snapshot" run init --device-name box
check "init: one snapshot" "$(commit_count "$F")" = 1
stored "$F" > "$TMP/list1"
check "real files stored" "$(LC_ALL=C sort "$TMP/list1" | tr '\n' ' ')" = \
	"Thumbs.db.txt a.txt a~b.txt part.txt sub/deep/c.md sub/report.docx swp.txt "
for n in "${DEFAULTS[@]}"; do
	check "default ignore: $(printf '%q' "$n") not stored" -z "$(grep -xF -- "$n" "$TMP/list1")"
	check "default ignore: sub/deep/$(printf '%q' "$n") not stored" \
		-z "$(grep -xF -- "sub/deep/$n" "$TMP/list1")"
done
check "default folder rules: nothing below them stored" \
	-z "$(grep -E 'Trash|download|AppleDouble|RECYCLE' "$TMP/list1")"

# changing only left-out files makes no snapshot
echo more >> a.txt~
echo more >> .a.txt.swp
rm .DS_Store
echo new > new.swp
echo new > 'sub/~$new.xlsx'
echo more >> x.download/data
echo new > .Trash-1000/files/new.txt
ok "status after changing only ignored files" run status
contains "status: nothing changed" "$TMP/out" "nothing changed"
ok "snapshot after changing only ignored files" run snapshot
contains "snapshot: nothing changed" "$TMP/out" "nothing changed"
check "snapshot: no new commit" "$(commit_count "$F")" = 1

# .dsyncignore: a folder rule, a glob, a negation of a default, an anchor
cat > .dsyncignore <<'EOF'
# build output
build/
*.tmp
!keep~
/todo.txt
EOF
mkdir -p build/obj sub/build sub2
echo o > build/obj/x.o
echo o > sub/build/y.o
echo file > sub2/build          # a file called build is kept
echo t > scratch.tmp
echo t > sub/deep/notes.tmp
echo keep > keep~               # put back from the defaults
echo keep > sub/keep~
echo drop > other~
echo todo > todo.txt            # anchored: only the top one goes
echo todo > sub/todo.txt
ok "snapshot with .dsyncignore" run snapshot
S2=$(head_id "$F")
check "snapshot with .dsyncignore: a new commit" "$(commit_count "$F")" = 2
stored "$F" > "$TMP/list2"
check ".dsyncignore itself is stored" -n "$(grep -x .dsyncignore "$TMP/list2")"
check "dir rule build/: build/ left out" -z "$(grep '^build/' "$TMP/list2")"
check "dir rule build/: sub/build/ left out" -z "$(grep '^sub/build/' "$TMP/list2")"
check "dir rule build/: a file called build is kept" -n "$(grep -x sub2/build "$TMP/list2")"
check "glob *.tmp: top" -z "$(grep -x scratch.tmp "$TMP/list2")"
check "glob *.tmp: deep" -z "$(grep -x sub/deep/notes.tmp "$TMP/list2")"
check "negation !keep~ puts a default back" -n "$(grep -x 'keep~' "$TMP/list2")"
check "negation !keep~ at any depth" -n "$(grep -x 'sub/keep~' "$TMP/list2")"
check "other backup files still left out" -z "$(grep -x 'other~' "$TMP/list2")"
check "anchored /todo.txt: top left out" -z "$(grep -x todo.txt "$TMP/list2")"
check "anchored /todo.txt: sub/todo.txt kept" -n "$(grep -x sub/todo.txt "$TMP/list2")"
check "defaults still apply with a .dsyncignore" -z "$(grep -x a.txt~ "$TMP/list2")"

# changes inside a folder left out by .dsyncignore make no snapshot either
echo changed >> build/obj/x.o
echo new > build/new.o
echo changed >> scratch.tmp
ok "snapshot after changing only .dsyncignore'd files" run snapshot
contains "nothing changed" "$TMP/out" "nothing changed"
check "no new commit" "$(commit_count "$F")" = 2

# a rule for files that are already stored drops them from the newest
# version; they stay on disk and in history
echo "draft one" > draft.md
echo "secret one" > sub/deep/secret.md
ok "snapshot the drafts" run snapshot
S3=$(head_id "$F")
check "drafts stored" "$(stored "$F" | grep -c 'draft.md\|secret.md')" = 2
printf 'draft.md\nsecret.md\n' >> .dsyncignore
ok "snapshot after ignoring stored files" run snapshot
S4=$(head_id "$F")
check "a new commit" "$S4" != "$S3"
check "ignored file gone from the newest version" -z "$(stored "$F" | grep -x draft.md)"
check "ignored deep file gone from the newest version" -z "$(stored "$F" | grep -x sub/deep/secret.md)"
check "the rest is still there" -n "$(stored "$F" | grep -x sub/report.docx)"
check "the ignored file stays on disk" "$(cat draft.md)" = "draft one"
check "the ignored deep file stays on disk" "$(cat sub/deep/secret.md)" = "secret one"
check "still in the older snapshot" \
	"$(git --git-dir=.dsync show "$S3:draft.md")" = "draft one"
ok "restore the ignored file from history" run restore draft.md --at "$S3" --to "$TMP/draft-back"
check "restored ignored file's content" "$(cat "$TMP/draft-back")" = "draft one"
ok "restore the ignored deep file from history" \
	run restore sub/deep/secret.md --at "$S3" --to "$TMP/secret-back"
check "restored ignored deep file's content" "$(cat "$TMP/secret-back")" = "secret one"
ok "versions of the ignored file" run versions draft.md
contains "versions lists the stored version" "$TMP/out" "${S3:0:8}"
echo "draft two" > draft.md
ok "editing an ignored file" run snapshot
contains "editing an ignored file: nothing changed" "$TMP/out" "nothing changed"
# taking the rule out brings it back
sed -i '/^draft.md$/d' .dsyncignore
ok "snapshot after un-ignoring" run snapshot
check "un-ignored file stored again" \
	"$(git --git-dir=.dsync show refs/heads/main:draft.md)" = "draft two"

# .dsync folders inside subfolders are never stored, whatever the rules say
mkdir -p sub/.dsync/objects other/deeper/.dsync/refs
echo x > sub/.dsync/config
echo x > sub/.dsync/objects/obj
echo x > other/deeper/.dsync/refs/main
echo visible > other/deeper/file.txt
echo plain > sub/deep/.dsync        # even a file of that name
printf '!.dsync\n!.dsync/\n!**/.dsync/**\n!/.dsync/**\n' >> .dsyncignore
ok "snapshot with nested .dsync folders" run snapshot
check "nested .dsync: nothing stored" -z "$(stored "$F" | grep -E '(^|/)\.dsync(/|$)')"
check "nested .dsync: the folder around it is stored" -n "$(stored "$F" | grep -x other/deeper/file.txt)"
check "top .dsync never stored" -z "$(stored "$F" | grep -E '^\.dsync(/|$)')"
echo y >> sub/.dsync/config
ok "changing a nested .dsync" run snapshot
contains "changing a nested .dsync: nothing changed" "$TMP/out" "nothing changed"

# FIFOs are skipped without error (and without blocking)
mkfifo pipe sub/deep/pipe
echo after-fifo > after-fifo.txt
ok "snapshot with FIFOs" run snapshot
check "snapshot with FIFOs: no warning" ! -s "$TMP/err"
check "FIFOs not stored" -z "$(stored "$F" | grep pipe)"
check "the rest of that snapshot stored" -n "$(stored "$F" | grep -x after-fifo.txt)"
ok "status with FIFOs" run status
contains "status with FIFOs: nothing changed" "$TMP/out" "nothing changed"
check "status with FIFOs: no warning" ! -s "$TMP/err"
ok "restore the whole folder with FIFOs around" run restore . --to "$TMP/all"
check "restored copy has no FIFO" ! -e "$TMP/all/pipe"
check "restored copy has the files" "$(cat "$TMP/all/after-fifo.txt")" = after-fifo
check "restored copy has no ignored file" ! -e "$TMP/all/.a.txt.swp"
rm pipe sub/deep/pipe

# a .dsyncignore over the 1 MiB limit is refused with an error
cp .dsyncignore "$TMP/ignore.bak"
head -c 1100000 /dev/zero | tr '\0' '#' > .dsyncignore
N=$(commit_count "$F")
fails 1 "too large .dsyncignore: snapshot fails" run snapshot
contains "too large .dsyncignore: says why" "$TMP/err" ".dsyncignore"
check "too large .dsyncignore: no commit" "$(commit_count "$F")" = "$N"
cp "$TMP/ignore.bak" .dsyncignore

ok "git fsck is clean" git --git-dir=.dsync fsck --full --no-dangling
finish
