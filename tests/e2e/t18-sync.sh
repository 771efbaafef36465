#!/bin/bash
# dsync sync through one file:// remote: two, then three devices (separate
# folders, each with its own HOME, so each has its own key cache) converge to
# identical folders and one history after edits on all of them, conflicting
# ones included. Also: remote add / list / remove, push and fetch on their
# own, a daily sync needs no passphrase (the cached key, mode 0600), and the
# refusals (no remote, a non-empty place that is no store, a name twice).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE

R=$TMP/remote                 # the store every device syncs through
URL=file://$R
PASS=$TMP/passphrase
echo "correct horse battery staple" > "$PASS"

# Each device X has its folder $TMP/X and its own HOME $TMP/home-X. Commands
# run without a terminal (setsid, stdin from /dev/null), so a command that
# wrongly asks for a passphrase fails (exit 5) instead of waiting.
#   on X CMD...   dsync CMD in X's folder, as X's user  (synclib.sh)
#   as X CMD...   dsync CMD in $TMP, as X's user (init, join)
device_id() { git_of "$1" config dsync.deviceId; }

# refused "what" CMD...: CMD fails (exit 1, or 2 for a usage error; not a
# crash) with a clear error line, not an unknown command or option
refused() {
	local what=$1; shift
	local rc=0
	"$@" > "$TMP/out" 2> "$TMP/err" || rc=$?
	if { [ "$rc" = 1 ] || [ "$rc" = 2 ]; } && grep -q '^dsync: error: ' "$TMP/err" &&
		! grep -q 'unknown command\|unknown option' "$TMP/err"; then
		pass "$what (exit $rc)"
	else
		fail "$what (exit $rc)"
		sed 's/^/#   /' "$TMP/out" "$TMP/err" | head -10
	fi
}

# sync_ok "what" X: a sync that may leave conflicts waiting (exit 0 or 3);
# the exit status is kept in $LAST_RC
SAW_3=0
sync_ok() {
	local what=$1 d=$2
	LAST_RC=0
	on "$d" sync > "$TMP/out" 2> "$TMP/err" || LAST_RC=$?
	if [ "$LAST_RC" = 0 ] || [ "$LAST_RC" = 3 ]; then
		[ "$LAST_RC" = 3 ] && SAW_3=1
		pass "$what (exit $LAST_RC)"
	else
		fail "$what (exit $LAST_RC)"
		sed 's/^/#   /' "$TMP/out" "$TMP/err" | head -20
	fi
}

# converge "what" X Y...: sync rounds X, Y, ... until every head is the same
# (at most 4 rounds), then one more round must change nothing
converge() {
	local what=$1; shift
	local round d same=0 heads
	for round in 1 2 3 4; do
		for d in "$@"; do sync_ok "$what: round $round, $d" "$d"; done
		heads=$(for d in "$@"; do head_id "$TMP/$d"; done | sort -u | wc -l)
		if [ "$heads" = 1 ]; then same=1; break; fi
	done
	check "$what: one head on every device after $round rounds" "$same" = 1
	local before; before=$(head_id "$TMP/$1")
	for d in "$@"; do sync_ok "$what: stable round, $d" "$d"; done
	for d in "$@"; do
		check "$what: stable, $d's head unchanged" "$(head_id "$TMP/$d")" = "$before"
	done
}

# same_everywhere "what" X Y...: identical files and heads on every device
same_everywhere() {
	local what=$1 first=$2; shift 2
	local d
	for d in "$@"; do
		check "$what: $d's files = $first's" "$(files_digest "$TMP/$d")" = "$(files_digest "$TMP/$first")"
		check "$what: $d's head = $first's" "$(head_id "$TMP/$d")" = "$(head_id "$TMP/$first")"
	done
}

# has_commit X C: commit C is in X's history

# ---------------------------------------------------------------------------
# 1. Refusals before anything exists

# a folder with no remote: sync, push and fetch say so
mkdir -p "$TMP/lonely"
echo "alone" > "$TMP/lonely/a.txt"
ok "init a folder with no remote" as lonely init "$TMP/lonely" --device-name lonely
refused "sync with no remote fails" on lonely sync
contains "sync with no remote: says why" "$TMP/err" "remote"
refused "push with no remote fails" on lonely push
refused "fetch with no remote fails" on lonely fetch
ok "remote list: empty when none" on lonely remote list
check "remote list: prints nothing" ! -s "$TMP/out"
refused "sync of an unknown remote fails" on lonely sync nowhere

# a non-empty place that holds no store is refused, and left as it was
mkdir -p "$TMP/junk"
echo "not a store" > "$TMP/junk/readme.txt"
refused "remote add: a non-empty folder that is no store" \
	on lonely remote add junk "file://$TMP/junk" --passphrase-file "$PASS"
check "the refused place is untouched" "$(ls -A "$TMP/junk")" = "readme.txt"
ok "remote list: still empty" on lonely remote list
check "remote list: nothing added" ! -s "$TMP/out"

# ---------------------------------------------------------------------------
# 2. Device A: init, a new store, push

A=$TMP/A
mkdir -p "$A/docs"
printf 'line %d\n' 1 2 3 4 5 6 7 8 9 10 > "$A/shared.txt"   # edited on two devices, apart
printf 'alpha\nbeta\ngamma\n' > "$A/conflict.txt"           # the same line edited on two
printf 'BIN\0\1\2 version one' > "$A/photo.bin"             # binary, changed on two
echo "to be deleted" > "$A/old.txt"
echo "to be renamed" > "$A/before.txt"
echo "a doc" > "$A/docs/readme.md"
ok "A: init" as A init "$A" --device-name alpha
ok "A: remote add (a new store)" on A remote add origin "$URL" --passphrase-file "$PASS"
check "the store: dsync-store" -f "$R/dsync-store"
check "the store: a sealed key" "$(ls "$R/keys" 2> /dev/null | wc -l)" = 1
KEYS=$TMP/home-A/.config/dsync/keys
check "A: the key is cached" "$(ls "$KEYS" 2> /dev/null | wc -l)" = 1
check "A: the key cache is mode 0600" "$(stat -c %a "$KEYS"/* 2> /dev/null)" = 600
STORE_ID=$(ls "$KEYS" 2> /dev/null | head -1)
check "the cache is named by the store id" -n "$STORE_ID"
contains "the store id is in dsync-store" "$R/dsync-store" "$STORE_ID"
check "remote add moved nothing (no packs)" "$(ls "$R/packs" 2> /dev/null | wc -l)" = 0

ok "A: remote list" on A remote list
check "remote list: NAME<TAB>URL" "$(cut -f1 "$TMP/out")" = origin
contains "remote list: the store's path" "$TMP/out" "$R"
check "remote list: one line" "$(wc -l < "$TMP/out")" = 1
refused "remote add: the same name twice" on A remote add origin "$URL" --passphrase-file "$PASS"
ok "remote list: still one" on A remote list
check "remote list: still one line" "$(wc -l < "$TMP/out")" = 1

ok "A: push (no passphrase: the cached key)" on A push
A_ID=$(device_id A)
check "push: a pack" "$(ls "$R/packs" 2> /dev/null | grep -cE '^[0-9a-f]{64}$')" -ge 1
check "push: one manifest for A" "$(ls "$R/devices/$A_ID" 2> /dev/null | grep -cE '^[0-9]{16}$')" = 1
check "the host sees no file name" -z "$(grep -rl 'readme.md\|conflict.txt\|alpha' "$R/packs" "$R/devices" 2> /dev/null)"

# ---------------------------------------------------------------------------
# 3. Two devices: B joins, both edit, both sync

ok "B: join (passphrase from a file)" as B join "$URL" "$TMP/B" --device-name beta --passphrase-file "$PASS"
B=$TMP/B
check "B: a folder" -d "$B/.dsync"
check "B: every file of A" "$(files_digest "$B")" = "$(files_digest "$A")"
check "B: A's history" "$(has_commit B "$(head_id "$A")" && echo yes)" = yes
check "B: the key cached, 0600" "$(stat -c %a "$TMP/home-B/.config/dsync/keys/$STORE_ID" 2> /dev/null)" = 600
ok "B: remote list" on B remote list
check "B: the remote is called origin" "$(cut -f1 "$TMP/out")" = origin
B_ID=$(device_id B)
check "B: its own device id" "$([ -n "$B_ID" ] && [ "$B_ID" != "$A_ID" ] && echo yes)" = yes

# edits on A: new, edited, deleted, renamed, nested, a link, an executable
echo "new on A" > "$A/new-a.txt"
echo "a doc, edited on A" > "$A/docs/readme.md"
rm "$A/old.txt"
mv "$A/before.txt" "$A/after.txt"
mkdir -p "$A/deep/er/still"
echo "nested" > "$A/deep/er/still/n.txt"
ln -s docs/readme.md "$A/link-to-readme"
printf '#!/bin/sh\necho hi\n' > "$A/run.sh"
chmod +x "$A/run.sh"
sed -i 's/^line 1$/line 1 (A)/' "$A/shared.txt"
# edits on B: a new file, the other end of the shared file
echo "new on B" > "$B/new-b.txt"
sed -i 's/^line 10$/line 10 (B)/' "$B/shared.txt"

sync_ok "2 devices: A syncs" A
A2=$(head_id "$A")
sync_ok "2 devices: B syncs" B
converge "2 devices" A B
same_everywhere "2 devices" A B
check "2 devices: both edits of shared.txt merged" "$(sed -n '1p;10p' "$B/shared.txt" | tr '\n' '|')" = "line 1 (A)|line 10 (B)|"
check "2 devices: A's new file on B" "$(cat "$B/new-a.txt" 2> /dev/null)" = "new on A"
check "2 devices: B's new file on A" "$(cat "$A/new-b.txt" 2> /dev/null)" = "new on B"
check "2 devices: deleted on B too" ! -e "$B/old.txt"
check "2 devices: renamed on B too" "$(cat "$B/after.txt" 2> /dev/null)" = "to be renamed"
check "2 devices: the old name is gone" ! -e "$B/before.txt"
check "2 devices: nested folder" "$(cat "$B/deep/er/still/n.txt" 2> /dev/null)" = "nested"
check "2 devices: a link stays a link" "$(readlink "$B/link-to-readme")" = "docs/readme.md"
check "2 devices: the executable bit" -x "$B/run.sh"
check "2 devices: A's snapshot in B's history" "$(has_commit B "$A2" && echo yes)" = yes
check "2 devices: no conflict copies" -z "$(find "$A" "$B" -name '*sync-conflict*' -not -path '*/.dsync/*')"
ok "2 devices: git fsck on B" git_of B fsck --full

# ---------------------------------------------------------------------------
# 4. Three devices: C joins; edits everywhere, two of them conflicting

export DSYNC_PASSPHRASE="correct horse battery staple"
ok "C: join (passphrase from the environment)" as C join "$URL" "$TMP/C" --device-name gamma
unset DSYNC_PASSPHRASE
C=$TMP/C
check "C: every file" "$(files_digest "$C")" = "$(files_digest "$A")"
check "C: the whole history, no commit of its own (A's head)" "$(head_id "$C")" = "$(head_id "$A")"
check "C: as many commits as A" "$(commit_count "$C")" = "$(commit_count "$A")"
C_ID=$(device_id C)

# clean: different lines of one file on A and C, and on B
sed -i 's/^line 3$/line 3 (A)/' "$A/shared.txt"
sed -i 's/^line 8$/line 8 (C)/' "$C/shared.txt"
sed -i 's/^line 5$/line 5 (B)/' "$B/shared.txt"
# conflicting: the same line on B and C; a binary file on A and C
sed -i 's/^beta$/beta from B/' "$B/conflict.txt"
sed -i 's/^beta$/beta from C/' "$C/conflict.txt"
printf 'BIN\0\1\2 version A' > "$A/photo.bin"
printf 'BIN\0\1\2 version C' > "$C/photo.bin"
PHOTOS=$(sha256sum < "$A/photo.bin"; sha256sum < "$C/photo.bin")
PHOTOS=$(echo "$PHOTOS" | sort)
# and more of every kind
echo "second new on A" > "$A/docs/more.md"
rm "$B/new-b.txt"
mv "$C/docs/readme.md" "$C/docs/README.md"
mkdir -p "$C/c-only/sub"
echo "from C" > "$C/c-only/sub/c.txt"
ln -s ../after.txt "$C/c-only/link"
printf '#!/bin/sh\necho C\n' > "$C/c-only/tool"
chmod +x "$C/c-only/tool"
chmod +x "$B/after.txt"
for d in A B C; do ok "$d: snapshot its edits" on "$d" snapshot -q; done
A3=$(head_id "$A")
B3=$(head_id "$B")
C3=$(head_id "$C")

# push and fetch on their own: fetch moves refs/remotes/origin/*, not main, not the files
ok "A: push" on A push
check "push: A's manifest replaced, one kept" "$(ls "$R/devices/$A_ID" | wc -l)" = 1
B_FILES=$(files_digest "$B")
ok "B: fetch" on B fetch
check "fetch: A's head under refs/remotes/origin/A-ID" \
	"$(git_of B rev-parse "refs/remotes/origin/$A_ID" 2> /dev/null)" = "$A3"
check "fetch: main has not moved" "$(head_id "$B")" = "$B3"
check "fetch: the files have not changed" "$(files_digest "$B")" = "$B_FILES"
check "fetch: A's objects are here" "$(git_of B cat-file -t "$A3:docs/more.md" 2> /dev/null)" = blob
check "fetch: nothing merged yet" ! -e "$B/docs/more.md"

converge "3 devices" A B C
same_everywhere "3 devices" A B C
check "3 devices: a sync that met conflicts exited 3" "$SAW_3" = 1
for d in A B C; do
	check "3 devices, $d: four edits of shared.txt merged" \
		"$(sed -n '1p;3p;5p;8p;10p' "$TMP/$d/shared.txt" | tr '\n' '|')" = \
		"line 1 (A)|line 3 (A)|line 5 (B)|line 8 (C)|line 10 (B)|"
	# the conflict: one version at the path, the other as a copy beside it
	both=$(cat "$TMP/$d/conflict.txt" "$TMP/$d"/conflict.sync-conflict-*.txt 2> /dev/null | grep '^beta' | sort | tr '\n' '|')
	check "3 devices, $d: both sides of the text conflict kept" "$both" = "beta from B|beta from C|"
	check "3 devices, $d: one text conflict copy" "$(ls "$TMP/$d" | grep -c '^conflict\.sync-conflict-.*\.txt$')" = 1
	both=$(for f in "$TMP/$d/photo.bin" "$TMP/$d"/photo.sync-conflict-*.bin; do sha256sum < "$f"; done | sort)
	check "3 devices, $d: both sides of the binary conflict kept" "$both" = "$PHOTOS"
	ok "3 devices, $d: dsync conflicts" on "$d" conflicts
	contains "3 devices, $d: conflicts lists conflict.txt" "$TMP/out" "conflict.txt"
	contains "3 devices, $d: conflicts lists photo.bin" "$TMP/out" "photo.bin"
	check "3 devices, $d: no copy of a copy" -z "$(ls "$TMP/$d" | grep 'sync-conflict.*sync-conflict')"
	# every device's work is in every history
	for c in "$A2" "$A3" "$B3" "$C3"; do
		check "3 devices, $d: has ${c:0:8}" "$(has_commit "$d" "$c" && echo yes)" = yes
	done
	check "3 devices, $d: snapshots of alpha, beta and gamma" \
		"$(git_of "$d" log --format=%an refs/heads/main | grep -xE 'alpha|beta|gamma' | sort -u | tr '\n' ' ')" = "alpha beta gamma "
	ok "3 devices, $d: git fsck" git_of "$d" fsck --full
	check "3 devices, $d: C's rename" "$(cat "$TMP/$d/docs/README.md" 2> /dev/null)" = "a doc, edited on A"
	check "3 devices, $d: C's link" "$(readlink "$TMP/$d/c-only/link")" = "../after.txt"
	check "3 devices, $d: C's executable" -x "$TMP/$d/c-only/tool"
	check "3 devices, $d: B's chmod +x" -x "$TMP/$d/after.txt"
	check "3 devices, $d: B's delete" ! -e "$TMP/$d/new-b.txt"
	check "3 devices, $d: A's new file" -f "$TMP/$d/docs/more.md"
done
check "the store: one manifest per device" \
	"$(for d in "$A_ID" "$B_ID" "$C_ID"; do ls "$R/devices/$d" | wc -l; done | tr '\n' ' ')" = "1 1 1 "
check "the store: only these three devices" "$(ls "$R/devices" | wc -l)" = 3
check "the store: no temporary files left" -z "$(find "$R" -name '.*' ! -path "$R")"
for d in A B C; do
	check "3 devices, $d: the others' heads under refs/remotes/origin" \
		"$(git_of "$d" for-each-ref --format=x refs/remotes/origin/ | wc -l)" = 2
done

# a daily sync needs no passphrase: none is set (and there is no terminal)
check "no passphrase in the environment" -z "${DSYNC_PASSPHRASE:-}"
echo "one more" > "$C/one-more.txt"
# (exit 3: the two conflicts above still wait)
fails 3 "C: sync with the cached key alone" on C sync -q
fails 3 "A: sync with the cached key alone" on A sync --quiet
check "--quiet: nothing on stdout but why exit 3" -z "$(grep -v 'wait.* for you' "$TMP/out")"
sync_ok "B: sync with the cached key alone" B
check "A: got C's file" "$(cat "$A/one-more.txt" 2> /dev/null)" = "one more"
check "the key caches are 0600" \
	"$(stat -c %a "$TMP"/home-{A,B,C}/.config/dsync/keys/* | sort -u)" = 600
check "the key caches hold no passphrase" -z "$(grep -l 'correct horse' "$TMP"/home-{A,B,C}/.config/dsync/keys/*)"
# without its cached key (and no passphrase, no terminal) a device can't sync
mv "$TMP/home-B/.config/dsync/keys" "$TMP/keys-B"
fails 5 "B: sync without the cached key and no passphrase: exit 5" on B sync
contains "B: says a passphrase is needed" "$TMP/err" "passphrase"
mv "$TMP/keys-B" "$TMP/home-B/.config/dsync/keys"

# ---------------------------------------------------------------------------
# 5. remote remove: forgets the remote (its refs), leaves the store alone

STORE_BEFORE=$(cd "$R" && find . -type f | sort | xargs sha256sum)
ok "B: remote remove origin" on B remote remove origin
ok "B: remote list after remove" on B remote list
check "B: no remote listed" ! -s "$TMP/out"
check "B: refs/remotes/origin gone" -z "$(git_of B for-each-ref refs/remotes/origin/)"
check "B: files kept" "$(cat "$B/one-more.txt" 2> /dev/null)" = "one more"
check "the store untouched by remove" "$(cd "$R" && find . -type f | sort | xargs sha256sum)" = "$STORE_BEFORE"
refused "B: sync with no remote left" on B sync
refused "B: remove it again" on B remote remove origin
# added back (an existing store: the cached key, no passphrase), B syncs again
ok "B: remote add origin again (the cached key)" on B remote add origin "$URL"
sync_ok "B: sync again" B
check "B: back in step" "$(head_id "$B")" = "$(head_id "$A")"

# ---------------------------------------------------------------------------
# 6. versions across a merge: each device's own versions of a file are
# listed on the other, whichever side the merge's parents put first (they
# are sorted by id), not only the merge that brought them

printf 'draft 1\n' > "$A/essay.txt"
ok "A: essay draft 1" on A snapshot -m "essay 1"
sync_ok "A: sync the essay" A
sync_ok "B: fetch the essay" B
printf 'draft 2\n' > "$A/essay.txt"
ok "A: essay draft 2 (offline)" on A snapshot -m "essay 2"
E2=$(head_id "$A")
printf 'draft 3\n' > "$A/essay.txt"
ok "A: essay draft 3 (offline)" on A snapshot -m "essay 3"
E3=$(head_id "$A")
printf 'B alone\n' > "$B/b-alone.txt"
ok "B: a file of its own meanwhile" on B snapshot -m "b alone"
sync_ok "B: sync" B
sync_ok "A: sync (merges B's head)" A
sync_ok "B: sync (gets the merge)" B
for X in A B; do
	ok "$X: versions essay.txt" on "$X" versions essay.txt
	check "$X: draft 2 listed as A's own snapshot" -n "$(grep "^${E2:0:8} .*essay 2" "$TMP/out")"
	check "$X: draft 3 listed as A's own snapshot" -n "$(grep "^${E3:0:8} .*essay 3" "$TMP/out")"
	check "$X: no merge listed (it changed nothing of the file)" -z "$(grep 'merge' "$TMP/out")"
	check "$X: three versions" "$(grep -c . "$TMP/out")" -eq 3
done

finish
