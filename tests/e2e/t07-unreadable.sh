#!/bin/bash
# Files and folders dsync cannot read, and places it cannot write.
# An unreadable file keeps its previous version and is reported; an
# unreadable folder keeps its previous contents; the rest is snapshotted and
# the snapshot succeeds.  Restoring to an unwritable place, and init on an
# unwritable place, on a file or inside a dsync folder fail with one clear
# error line.
#
# Permissions mean nothing to root, so as root dsync runs as 'nobody' (via
# setpriv), in a work area that nobody owns.
. "$(dirname "$0")/lib.sh"

W=$TMP/w
F=$W/docs
LOCKED=$TMP/locked            # a folder the user running dsync cannot write
mkdir -p "$W/home" "$F/sub/inner" "$F/open" "$F/listonly" "$LOCKED/inside"
if [ "$(id -u)" = 0 ]; then
	if ! command -v setpriv >/dev/null; then
		echo "# setpriv (util-linux) is needed to run as nobody" >&2
		exit 1
	fi
	NOGROUP=$(id -gn nobody)
	as_user() { setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups env HOME="$W/home" "$@"; }
	# everything dsync touches belongs to nobody; $TMP (755) is traversable
	chown_user() { chown -R "nobody:$NOGROUP" "$@"; }
	chmod 755 "$LOCKED" "$LOCKED/inside"   # root's: nobody cannot write
else
	as_user() { env HOME="$W/home" "$@"; }
	chown_user() { :; }
	chmod 555 "$LOCKED" "$LOCKED/inside"
fi
ud() { as_user "$DSYNC" "$@"; }
blob() { git --git-dir="$F/.dsync" cat-file blob "refs/heads/main:$1" 2>/dev/null; }

cd "$F"
echo "a one" > a.txt
echo "secret one" > secret.txt
echo "sub x" > sub/x.txt
echo "sub inner" > sub/inner/y.txt
echo "open one" > open/o.txt
echo "list one" > listonly/l.txt
echo "list two" > listonly/m.txt
chown_user "$W"

ok "init takes the first snapshot" ud init --device-name box
S1=$(head_id "$F")
check "init: 7 files stored" "$(stored "$F" | wc -l)" = 7

# --- an unreadable file and an unreadable folder
chmod 000 secret.txt sub
if as_user cat secret.txt >/dev/null 2>&1; then
	fail "setup: secret.txt should be unreadable for the user running dsync"
fi
echo "a two" > a.txt
echo "open two" > open/o.txt
echo "new file" > new.txt
chown_user a.txt open/o.txt new.txt
ok "snapshot with an unreadable file and folder succeeds" ud snapshot
S2=$(head_id "$F")
check "a new snapshot" "$S2" != "$S1"
contains "warning names the unreadable file" "$TMP/err" "secret.txt"
contains "warning is a dsync warning" "$TMP/err" "dsync: warning: "
contains "warning names the unreadable folder" "$TMP/err" "$F/sub"
contains "warning says the file kept its previous version" "$TMP/err" "kept its previous version"
contains "warning says the folder kept its previous contents" "$TMP/err" "kept its previous contents"
check "the edit is stored" "$(blob a.txt)" = "a two"
check "the deeper edit is stored" "$(blob open/o.txt)" = "open two"
check "the new file is stored" "$(blob new.txt)" = "new file"
check "the unreadable file keeps its previous version" "$(blob secret.txt)" = "secret one"
check "the unreadable folder keeps its file" "$(blob sub/x.txt)" = "sub x"
check "the unreadable folder keeps its deeper file" "$(blob sub/inner/y.txt)" = "sub inner"
check "not recorded as deleted" -z "$(git --git-dir="$F/.dsync" diff --name-status "$S1" "$S2" | grep '^D')"

ok "status with an unreadable file" ud status
contains "status warns about the unreadable file" "$TMP/err" "secret.txt"
contains "status: nothing else changed" "$TMP/out" "nothing changed"
ok "snapshot again while still unreadable" ud snapshot
contains "nothing changed while still unreadable" "$TMP/out" "nothing changed"
check "no new snapshot while still unreadable" "$(head_id "$F")" = "$S2"
contains "still warned" "$TMP/err" "secret.txt"

# a new unreadable file, never stored: reported, not stored, no failure
echo "hidden" > hidden.txt
chown_user hidden.txt
chmod 000 hidden.txt
echo "a three" > a.txt
ok "snapshot with a new unreadable file" ud snapshot
contains "warning names the new unreadable file" "$TMP/err" "hidden.txt"
check "the new unreadable file is not stored" -z "$(stored "$F" | grep -x hidden.txt)"
check "the rest is stored" "$(blob a.txt)" = "a three"

# a folder that can be listed but not entered (r without x): its files
# cannot be read, so they keep their previous versions too
chmod 644 listonly
echo "a four" > a.txt
ok "snapshot with a list-only folder succeeds" ud snapshot
S_LIST=$(head_id "$F")
contains "warning names the list-only folder's file" "$TMP/err" "listonly/l.txt"
check "list-only folder: file kept" "$(blob listonly/l.txt)" = "list one"
check "list-only folder: other file kept" "$(blob listonly/m.txt)" = "list two"
check "list-only folder: nothing recorded as deleted" \
	-z "$(git --git-dir="$F/.dsync" diff --name-status "$S2" "$S_LIST" | grep '^D')"
chmod 755 listonly

# readable again: the changes made meanwhile are picked up
chmod 644 secret.txt hidden.txt
chmod 755 sub
echo "secret two" > secret.txt
echo "sub x two" > sub/x.txt
ok "snapshot once readable again" ud snapshot
check "no warning once readable" ! -s "$TMP/err"
check "the file's new content is stored" "$(blob secret.txt)" = "secret two"
check "the folder's new content is stored" "$(blob sub/x.txt)" = "sub x two"
check "the never-stored file is stored now" "$(blob hidden.txt)" = "hidden"
check "the older version stays in history" \
	"$(git --git-dir="$F/.dsync" show "$S2:secret.txt")" = "secret one"

# --- restore to a place that cannot be written
fails 1 "restore a file into an unwritable folder: exit 1" \
	ud restore a.txt --to "$LOCKED/x"
check "one line on stderr" "$(wc -l < "$TMP/err")" = 1
contains "it is a dsync error" "$TMP/err" "dsync: error: "
contains "it names the path" "$TMP/err" "$LOCKED/x"
check "nothing written" ! -e "$LOCKED/x"
fails 1 "restore a folder into an unwritable folder: exit 1" \
	ud restore sub --to "$LOCKED/inside/sub"
check "one line on stderr (folder)" "$(wc -l < "$TMP/err")" = 1
contains "error names the path (folder)" "$TMP/err" "$LOCKED/inside/sub"
fails 1 "restore everything into an existing unwritable folder: exit 1" \
	ud restore . --to "$LOCKED"
contains "error names the unwritable place" "$TMP/err" "$LOCKED"
check "nothing written there" -z "$(ls -A "$LOCKED" | grep -v '^inside$')"
check "the folder is untouched by the failed restores" "$(cat "$F/a.txt")" = "a four"

# --- init where it cannot work
fails 1 "init below an unwritable folder: exit 1" ud init "$LOCKED/new"
contains "init: error line" "$TMP/err" "dsync: error: "
contains "init: names the place" "$TMP/err" "$LOCKED/new"
check "init: nothing created" ! -e "$LOCKED/new"
fails 1 "init in an existing unwritable folder: exit 1" ud init "$LOCKED/inside"
contains "init: says it cannot write" "$TMP/err" "cannot write"
contains "init: names the unwritable folder" "$TMP/err" "$LOCKED/inside"
check "init: no .dsync made" ! -e "$LOCKED/inside/.dsync"
fails 1 "init on a file: exit 1" ud init "$F/a.txt"
contains "init on a file: not a folder" "$TMP/err" "not a folder"
fails 1 "init inside a dsync folder is refused" ud init "$F/open"
contains "init inside: says why" "$TMP/err" "inside the dsync folder"
check "init inside: no nested .dsync" ! -e "$F/open/.dsync"
fails 1 "init of a new folder inside a dsync folder is refused" ud init "$F/brand-new"
check "refused init leaves no new folder behind" ! -e "$F/brand-new"
fails 1 "init of the dsync folder again is refused" ud init "$F"
contains "init again: already a dsync folder" "$TMP/err" "already a dsync folder"
check "init again: history kept" "$(commit_count "$F")" -ge 4

ok "git fsck is clean" git --git-dir="$F/.dsync" fsck --full --no-dangling
finish
