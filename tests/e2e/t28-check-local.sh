#!/bin/bash
# dsync check of the local history (issue 12, point 8; acceptance 4): a
# deleted, corrupted, empty or cut short file object, a missing older version, a
# deleted chunk of a big file, an object only another device's head
# reaches, a packed object flipped, a pack index deleted or truncated, every
# object deleted, refs/heads/main deleted: each is exit 6 naming what is
# missing or damaged; an intact folder is exit 0, and with no remote check
# says it checked only the local history.  log, status, versions and
# snapshot on a history whose head is lost say so (exit 6, pointing at
# 'dsync check'), never "no snapshot yet", and snapshot does not start a
# second history.  An emptied or garbled ref, a bad line of packed-refs,
# refs/heads/main and dsync-head deleted together (the reflog tells), an
# unchanged folder whose objects are gone (status/snapshot's quick path),
# and a big file whose marker or chunk tree is gone (a snapshot heals it)
# are each caught.  With a remote: a store holding two key blobs is
# explained (point 9), and a pack that can't be read is not called
# missing (point 13).
. "$(dirname "$0")/lib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE

P=$TMP/pristine
mkdir -p "$P/notes/2024/march" "$P/photos"
for i in 1 2 3 4 5; do
	printf 'note %s\nline two\n' "$i" > "$P/notes/2024/march/n$i.md"
done
echo "first" > "$P/todo.txt"
head -c 20000 /dev/urandom > "$P/photos/a.jpg"
ok "init with history" dsync init "$P"
git --git-dir="$P/.dsync" config dsync.chunkThreshold 65536
head -c 400000 /dev/urandom > "$P/photos/big.raw"
echo "second" >> "$P/todo.txt"
(cd "$P" && dsync snapshot) > /dev/null
echo "third" >> "$P/todo.txt"
echo "new" > "$P/notes/2024/march/n6.md"
(cd "$P" && dsync snapshot) > /dev/null
check "three versions" "$(commit_count "$P")" = 3

# fresh NAME: a copy of the pristine folder at $TMP/NAME
fresh() { rm -rf "${TMP:?}/$1"; cp -a "$P" "$TMP/$1"; }
# obj DIR ID: the loose object file of ID in DIR
obj() { echo "$1/.dsync/objects/${2:0:2}/${2:2}"; }
id_of() { git --git-dir="$1/.dsync" rev-parse "$2"; }
in_() { local d=$1; shift; (cd "$TMP/$d" && "$@"); }

fresh intact
ok "an intact folder checks out" in_ intact dsync check
contains "it counts the versions" "$TMP/out" "history: 3 versions"
contains "no remote: it says only the local history was checked" "$TMP/out" "only the local history was checked"

# a deleted file object
fresh del
B=$(id_of "$TMP/del" HEAD~2:todo.txt)
rm -f "$(obj "$TMP/del" "$B")"
fails 6 "a deleted file object is exit 6" in_ del dsync check
contains "it names the object" "$TMP/out" "missing: file 'todo.txt' (blob $B)"
contains "the error points at join" "$TMP/err" "dsync join"

# show, restore and diff of the version whose file is gone: damaged, exit
# 6, naming the object, the file and the version (was exit 1 with
# libgit2's words)
fails 6 "show of a missing file object is exit 6" in_ del dsync show HEAD~2:todo.txt
contains "it names the object and the file" "$TMP/err" "blob $B (the file 'todo.txt' of version"
contains "and points at check" "$TMP/err" "run 'dsync check'"
fails 6 "restore of it is exit 6" in_ del dsync restore todo.txt --at HEAD~2 --to "$TMP/del-out"
contains "it says the history is damaged" "$TMP/err" "is damaged: blob $B"
fails 6 "diff against it is exit 6" in_ del dsync diff HEAD~2 HEAD
contains "it says the history is damaged" "$TMP/err" "is damaged"
T=$(id_of "$TMP/del" HEAD:notes/2024)
rm -f "$(obj "$TMP/del" "$T")"
fails 6 "show of a missing folder is exit 6" in_ del dsync show HEAD:notes/2024
contains "it names the folder" "$TMP/err" "tree $T (the folder 'notes/2024' of version"

# a corrupted file object: another object's bytes under its name
fresh bad
B=$(id_of "$TMP/bad" HEAD:notes/2024/march/n1.md)
O=$(id_of "$TMP/bad" HEAD:notes/2024/march/n2.md)
chmod u+w "$(obj "$TMP/bad" "$B")"
cp "$(obj "$TMP/bad" "$O")" "$(obj "$TMP/bad" "$B")"
fails 6 "a corrupted file object is exit 6" in_ bad dsync check
contains "it names the damaged object" "$TMP/out" "damaged: file 'notes/2024/march/n1.md' (blob $B)"

# an empty object file
fresh empty
B=$(id_of "$TMP/empty" HEAD:photos/a.jpg)
: > "$(obj "$TMP/empty" "$B")"
fails 6 "an empty object file is exit 6" in_ empty dsync check
contains "it names it" "$TMP/out" "damaged: file 'photos/a.jpg' (blob $B)"

# a loose file cut short (a power cut): libgit2 1.5 loops forever reading
# one, so check hung; it reads each loose file itself first
fresh cut
B=$(id_of "$TMP/cut" HEAD:notes/2024/march/n3.md)
chmod u+w "$(obj "$TMP/cut" "$B")"
head -c 12 "$(obj "$TMP/cut" "$B")" > "$TMP/cut12"
cat "$TMP/cut12" > "$(obj "$TMP/cut" "$B")"
U=$(echo "nothing needs this $$" | git --git-dir="$TMP/cut/.dsync" hash-object -w --stdin)
chmod u+w "$(obj "$TMP/cut" "$U")"
head -c 9 "$(obj "$TMP/cut" "$U")" > "$TMP/cut9"
cat "$TMP/cut9" > "$(obj "$TMP/cut" "$U")"
# older than the last flush (a disk's fault): the repair that begins a
# write reads only what was written since (t06)
touch -d '-1 hour' "$(obj "$TMP/cut" "$B")" "$(obj "$TMP/cut" "$U")"
fails 6 "a loose file cut short is exit 6, not a hang" in_ cut timeout 60 "$DSYNC" check
contains "it names the file that needs it" "$TMP/out" "damaged: file 'notes/2024/march/n3.md' (blob $B)"
contains "and says why" "$TMP/out" "its loose file is cut short or damaged"
contains "one no version needs is told too" "$TMP/out" "the loose file of object $U, which no version needs"
fails 6 "gc moves both aside, and stops at the one a version needs" in_ cut timeout 60 "$DSYNC" gc
contains "gc warns of them" "$TMP/err" "2 loose object files were cut short or damaged"
contains "and says the history is damaged" "$TMP/err" "object $B is missing"
check "the cut files are kept aside" -f "$TMP/cut/.dsync/objects/damaged/$B"
fails 6 "check after gc" in_ cut timeout 60 "$DSYNC" check
contains "names the file as missing now" "$TMP/out" "missing: file 'notes/2024/march/n3.md' (blob $B)"
fails 6 "a restore of it is exit 6, not a hang" in_ cut timeout 60 "$DSYNC" restore notes/2024/march/n3.md --to "$TMP/cut-out"

# a missing older version
fresh old
C=$(id_of "$TMP/old" HEAD~2)
rm -f "$(obj "$TMP/old" "$C")"
fails 6 "a missing older version is exit 6" in_ old dsync check
contains "it names the version" "$TMP/out" "missing: version $C"
fails 6 "log on it says the history is damaged" in_ old dsync log
contains "and points at dsync check" "$TMP/err" "dsync check"

# a deleted chunk of a big file
fresh chunk
# (the random content decides how many chunks the first group holds: the
# last one of them, which is there whatever the count)
CH=$(git --git-dir="$TMP/chunk/.dsync" ls-tree --name-only HEAD:photos/big.raw/g000000 | grep '^c' | tail -n 1)
K=$(id_of "$TMP/chunk" "HEAD:photos/big.raw/g000000/$CH")
rm -f "$(obj "$TMP/chunk" "$K")"
fails 6 "a deleted chunk is exit 6" in_ chunk dsync check
contains "it names the chunk and its file" "$TMP/out" "chunk 'g000000/$CH' of the big file 'photos/big.raw' (blob $K)"

# a big file's marker, or its whole chunk tree, deleted: the stat cache
# reused the file's entry, so every later snapshot failed (exit 1); now
# the snapshot stores the file on disk again and the history heals
for what in marker tree; do
	fresh heal$what
	ok "a snapshot refreshes the stat cache of the copy ($what)" in_ heal$what dsync snapshot
	if [ $what = marker ]; then
		M=$(id_of "$TMP/heal$what" HEAD:photos/big.raw/.dsync-chunks)
	else
		M=$(id_of "$TMP/heal$what" HEAD:photos/big.raw)
	fi
	rm -f "$(obj "$TMP/heal$what" "$M")"
	fails 6 "check sees the lost $what" in_ heal$what dsync check
	echo "a change" >> "$TMP/heal$what/todo.txt"
	ok "a snapshot with the big file's $what gone heals it" in_ heal$what dsync snapshot
	ok "check finds the history whole again ($what)" in_ heal$what dsync check
	check "the $what is back" -e "$(obj "$TMP/heal$what" "$M")"
done

# an object only another device's head reaches (refs/remotes/...)
fresh remote
RB=$(echo "from the other device" | git --git-dir="$TMP/remote/.dsync" hash-object -w --stdin)
RT=$(printf '100644 blob %s\tother.txt\n' "$RB" | git --git-dir="$TMP/remote/.dsync" mktree)
RC=$(git --git-dir="$TMP/remote/.dsync" -c user.name=o -c user.email=o@o commit-tree "$RT" -p HEAD -m other)
git --git-dir="$TMP/remote/.dsync" update-ref refs/remotes/usb/0123456789abcdef0123456789abcdef "$RC"
ok "another device's head is checked too" in_ remote dsync check
contains "its version is counted" "$TMP/out" "history: 4 versions"
rm -f "$(obj "$TMP/remote" "$RB")"
fails 6 "an object only another device's head reaches is exit 6" in_ remote dsync check
contains "it is named" "$TMP/out" "missing: file 'other.txt' (blob $RB)"

# packed: a flipped byte inside a packed object, a deleted or truncated index
fresh packed
ok "gc" in_ packed dsync gc
ok "a packed history checks out" in_ packed dsync check
contains "all three versions" "$TMP/out" "history: 3 versions"
cp -a "$TMP/packed" "$TMP/packed0"
B=$(id_of "$TMP/packed" HEAD:photos/a.jpg)
# the pack that holds it (gc writes two: media, like this photo, and the rest)
IDX=
for i in "$TMP"/packed/.dsync/objects/pack/pack-*.idx; do
	[ -e "$i" ] && git show-index < "$i" | grep -q " $B" && IDX=$i
done
check "gc made a pack" -n "$IDX"
[ -n "$IDX" ] || IDX=$TMP/packed/.dsync/objects/pack/pack-none.idx   # never write outside $TMP
PACK=${IDX%.idx}.pack
OFF=$(git show-index < "$IDX" | awk -v b="$B" '$2 == b { print $1 }')
check "the blob is in the pack" -n "$OFF"
printf '\125\125\125\125' | dd of="$PACK" bs=1 seek=$((OFF + 30)) conv=notrunc 2> /dev/null
fails 6 "a damaged packed object is exit 6" in_ packed dsync check
contains "it names the packed object" "$TMP/out" "damaged: file 'photos/a.jpg' (blob $B)"
rm -rf "$TMP/packed"; cp -a "$TMP/packed0" "$TMP/packed"
rm -f "$IDX"
fails 6 "a deleted pack index is exit 6" in_ packed dsync check
contains "it names the pack" "$TMP/out" "missing: the index of the pack '$(basename "$PACK")'"
contains "and how to rebuild it" "$TMP/out" "index-pack"
rm -rf "$TMP/packed"; cp -a "$TMP/packed0" "$TMP/packed"
truncate -s 2000 "$IDX"
fails 6 "a truncated pack index is exit 6" in_ packed dsync check
contains "it names the index" "$TMP/out" "damaged: the index of the pack '$(basename "$PACK")' (truncated)"

# every object deleted: check, and the commands that read the head
fresh gone
HEAD0=$(head_id "$TMP/gone")
rm -rf "$TMP"/gone/.dsync/objects/?? "$TMP"/gone/.dsync/objects/pack/*
fails 6 "every object deleted is exit 6" in_ gone dsync check
contains "it names the head" "$TMP/out" "missing: version $HEAD0, the head named by refs/heads/main"
fails 6 "log says the history is damaged or lost" in_ gone dsync log
contains "it says so" "$TMP/err" "damaged or lost"
contains "and points at dsync check" "$TMP/err" "dsync check"
if grep -q "no snapshot yet" "$TMP/err"; then fail "log does not invite a first snapshot"; else pass "log does not invite a first snapshot"; fi
fails 6 "versions says so too" in_ gone dsync versions todo.txt
contains "damaged or lost" "$TMP/err" "damaged or lost"
echo "an edit" >> "$TMP/gone/todo.txt"
fails 6 "status says so" in_ gone dsync status
fails 6 "snapshot refuses" in_ gone dsync snapshot
check "and starts no new history" "$(head_id "$TMP/gone")" = "$HEAD0"

# every object deleted, the folder unchanged: the stat cache's quick path
# said "nothing changed"; it reads the head commit now (loose, then packed)
fresh gone2
ok "a snapshot refreshes the stat cache of the copy" in_ gone2 dsync snapshot
rm -rf "$TMP"/gone2/.dsync/objects/??
fails 6 "status of an unchanged folder with its history gone is exit 6" in_ gone2 dsync status
contains "it says damaged or lost" "$TMP/err" "damaged or lost"
fails 6 "snapshot too" in_ gone2 dsync snapshot
contains "it says damaged or lost" "$TMP/err" "damaged or lost"
fresh gone3
ok "gc" in_ gone3 dsync gc
ok "a snapshot refreshes the stat cache of the copy" in_ gone3 dsync snapshot
rm -f "$TMP"/gone3/.dsync/objects/pack/*
fails 6 "status with the pack gone is exit 6" in_ gone3 dsync status
fails 6 "snapshot with the pack gone is exit 6" in_ gone3 dsync snapshot
contains "it says damaged or lost" "$TMP/err" "damaged or lost"
fresh quick
ok "an intact unchanged folder: status" in_ quick dsync status
ok "an intact unchanged folder: snapshot" in_ quick dsync snapshot

# refs/heads/main deleted after snapshots were taken
fresh noref
rm -f "$TMP/noref/.dsync/refs/heads/main"
fails 6 "a lost refs/heads/main is exit 6" in_ noref dsync check
contains "check names it and how to put it back" "$TMP/out" "update-ref refs/heads/main"
fails 6 "log says the history is lost" in_ noref dsync log
contains "it says so" "$TMP/err" "is lost"
echo "an edit" >> "$TMP/noref/todo.txt"
fails 6 "snapshot refuses to start a second history" in_ noref dsync snapshot
check "no new ref was made" ! -e "$TMP/noref/.dsync/refs/heads/main"
fails 6 "merge refuses too (it would take another history as this one)" in_ noref dsync merge "$(id_of "$P" HEAD~1)"
check "still no ref" ! -e "$TMP/noref/.dsync/refs/heads/main"
check "the edit is still there" "$(tail -1 "$TMP/noref/todo.txt")" = "an edit"

# an emptied or garbled refs/heads/main, a garbled remote head, a bad line
# of packed-refs: status already called them damaged, check passed them
# (libgit2's listing of refs skips one it can't parse)
fresh emptyref
H=$(head_id "$TMP/emptyref")
: > "$TMP/emptyref/.dsync/refs/heads/main"
fails 6 "status on an emptied ref is exit 6" in_ emptyref dsync status
fails 6 "check on an emptied refs/heads/main is exit 6" in_ emptyref dsync check
contains "it names the ref" "$TMP/out" "damaged: refs/heads/main"
contains "and how to put it back" "$TMP/out" "update-ref refs/heads/main $H"
echo garbage > "$TMP/emptyref/.dsync/refs/heads/main"
fails 6 "check on a garbled refs/heads/main is exit 6" in_ emptyref dsync check
contains "it names the ref" "$TMP/out" "damaged: refs/heads/main"
fresh badremote
mkdir -p "$TMP/badremote/.dsync/refs/remotes/usb"
echo junk > "$TMP/badremote/.dsync/refs/remotes/usb/0123456789abcdef0123456789abcdef"
fails 6 "a garbled remote head is exit 6" in_ badremote dsync check
contains "it is named" "$TMP/out" "damaged: the ref refs/remotes/usb/0123456789abcdef0123456789abcdef"
contains "the rest is still walked" "$TMP/out" "3 versions"
fresh badpacked
echo "0123 refs/heads/x" >> "$TMP/badpacked/.dsync/packed-refs"
fails 6 "a bad line of packed-refs is exit 6" in_ badpacked dsync check
contains "it names the line" "$TMP/out" "line 1 of"
fresh onever
(cd "$TMP/onever" && git --git-dir=.dsync update-ref refs/heads/main "$(id_of "$TMP/onever" HEAD~2)")
rm -f "$(obj "$TMP/onever" "$(id_of "$TMP/onever" HEAD:todo.txt)")"
fails 6 "one version with a problem" in_ onever dsync check
contains "is one version, not one versions" "$TMP/out" "(1 version,"

# refs/heads/main and dsync-head deleted together: the reflog still tells
# that snapshots were taken
fresh noref2
H=$(head_id "$TMP/noref2")
rm -f "$TMP/noref2/.dsync/refs/heads/main" "$TMP/noref2/.dsync/dsync-head"
fails 6 "ref and dsync-head lost together is exit 6" in_ noref2 dsync check
contains "check says the history is lost" "$TMP/out" "the history is lost"
contains "and names the last head and the fix" "$TMP/out" "update-ref refs/heads/main $H"
echo "an edit" >> "$TMP/noref2/todo.txt"
fails 6 "snapshot refuses to start a second history" in_ noref2 dsync snapshot
contains "it says the history is lost" "$TMP/err" "is lost"
check "no new ref was made" ! -e "$TMP/noref2/.dsync/refs/heads/main"
fails 6 "log says so too" in_ noref2 dsync log

# a folder whose .dsync lost its objects folder altogether
fresh noobj
rm -rf "$TMP/noobj/.dsync/objects"
fails 6 "no objects folder at all is exit 6" in_ noobj dsync check
contains "it says the history is lost" "$TMP/err" "is lost"
fails 6 "log says so too" in_ noobj dsync log

# a store: two key blobs, an unreadable pack
export DSYNC_PASSPHRASE=pw1 DSYNC_NEW_PASSPHRASE=pw2
fresh st
ok "remote add" in_ st dsync remote add usb "$TMP/store"
ok "sync" in_ st dsync sync
cp -a "$TMP/store/keys" "$TMP/oldkeys"
ok "passphrase change" in_ st dsync passphrase
cp "$TMP"/oldkeys/* "$TMP/store/keys/"
ok "a store with two key blobs checks out" in_ st dsync check
contains "the two key blobs are explained" "$TMP/out" "a store holds 2 key blobs"
contains "an old passphrase still opens it" "$TMP/out" "an old one too"
rm -f "$TMP"/store/keys/*; cp "$TMP"/oldkeys/* "$TMP/store/keys/"   # back to one
PK=$(cd "$TMP/store/packs" && ls | head -1)
mv "$TMP/store/packs/$PK" "$TMP/pk"
mkdir "$TMP/store/packs/$PK"
fails 6 "a pack that is a folder is refused" in_ st dsync check
contains "as not a file" "$TMP/err" "is not a file"
if grep -q "missing" "$TMP/err"; then fail "not called missing"; else pass "not called missing"; fi
rmdir "$TMP/store/packs/$PK"
mv "$TMP/pk" "$TMP/store/packs/$PK"
ok "the store checks out again" in_ st dsync check --read-data
# a packs folder this user can't read (as a user other than root)
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then
	as_user() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	chmod -R a+rwX "$TMP"
	chmod a+x "$(dirname "$TMP")" 2> /dev/null || true
else
	as_user() { "$@"; }
fi
chmod 300 "$TMP/store/packs"
fails 1 "an unreadable pack is not exit 6" in_ st as_user "$DSYNC" check --read-data
contains "it says it can't be read" "$TMP/err" "Permission denied"
if grep -q "missing" "$TMP/err"; then fail "an unreadable pack is not called missing"; else pass "an unreadable pack is not called missing"; fi
chmod 755 "$TMP/store/packs"

# the same walk guards a fetch: a new version whose folders name a file that
# is neither in the packs nor here is refused (it looked only at the top
# folder of each version).  B loses an object that its own manifest's head
# reaches; A then pushes a version that names it again, so A's thin pack
# leaves it out.
unset DSYNC_NEW_PASSPHRASE
mkdir -p "$TMP/hA" "$TMP/hB" "$TMP/A/d"
echo a > "$TMP/A/a.txt"
echo "why not" > "$TMP/A/d/y.txt"
(export HOME=$TMP/hA; cd "$TMP/A" && dsync init . && dsync remote add usb "$TMP/store2" && dsync sync) > /dev/null 2>&1
ok "B joins" env HOME="$TMP/hB" "$DSYNC" join "$TMP/store2" "$TMP/B"
ok "B syncs" in_ B env HOME="$TMP/hB" "$DSYNC" sync
Y=$(id_of "$TMP/B" HEAD:d/y.txt)
OLD=$(ls "$TMP"/B/.dsync/objects/pack/*.idx 2> /dev/null)
for i in $OLD; do git show-index < "$i"; done | awk '{ print $2 }' | sort -u | grep -v "$Y" |
	git --git-dir="$TMP/B/.dsync" pack-objects -q "$TMP/B/.dsync/objects/pack/pack" > /dev/null
for i in $OLD; do rm -f "${i%.idx}.pack" "$i"; done
rm -f "$(obj "$TMP/B" "$Y")"
check "B lost the file's object" "$(git --git-dir="$TMP/B/.dsync" cat-file -t "$Y" 2> /dev/null || echo gone)" = gone
cp "$TMP/A/d/y.txt" "$TMP/A/d/z.txt"
ok "A pushes a version that names it again" in_ A env HOME="$TMP/hA" "$DSYNC" sync
fails 6 "B's fetch refuses the incomplete history" in_ B env HOME="$TMP/hB" "$DSYNC" fetch
contains "naming the missing file" "$TMP/err" "file $Y"

finish
