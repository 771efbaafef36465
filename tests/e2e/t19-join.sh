#!/bin/bash
# dsync join: a new device restores every file and the whole history from a
# file:// store, big chunked files and all their versions included; a wrong
# (or missing) passphrase is exit 5 and leaves nothing behind; joining a
# non-empty folder, and adding an existing store to a folder `init`ed on its
# own, keep every file (identical ones merge, different ones become conflict
# copies). Also: dsync passphrase re-seals keys/ only, dsync check
# (--read-data) passes on a good store, and a history of edits pushed one
# at a time (thin packs) joins whole.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE

R=$TMP/remote
URL=file://$R
PASS=$TMP/pass
WRONG=$TMP/wrong
NEW=$TMP/new-pass
echo "the right passphrase" > "$PASS"
echo "not the passphrase" > "$WRONG"
echo "a brand new passphrase" > "$NEW"

# Each device X: folder $TMP/X, HOME $TMP/home-X (its own key cache); no
# terminal, so a passphrase never asked for can't be typed.
#   on X CMD...   dsync CMD in X's folder, as X's user  (synclib.sh)
#   as X CMD...   dsync CMD in $TMP, as X's user
# the store's blobs under some folders, with their hashes
blobs() { (cd "$R" && find "$@" -type f 2> /dev/null | LC_ALL=C sort | xargs -r sha256sum); }

# no_trace "what" X DIR: a refused join left nothing: no key cached, DIR
# not created (or still empty), not registered for the daemon
no_trace() {
	local what=$1 d=$2 dir=$3
	check "$what: no key cached" "$(cached_keys "$d")" = 0
	if [ -d "$dir" ]; then
		check "$what: $(basename "$dir") still empty" -z "$(ls -A "$dir")"
	else
		pass "$what: $(basename "$dir") not created"
	fi
	check "$what: not registered" -z "$(grep -F "$dir" "$TMP/home-$d/.config/dsync/folders" 2> /dev/null)"
}

# ---------------------------------------------------------------------------
# 1. The source device A: small files, history, and a big file (over the 8 MiB
# chunk threshold) in three versions

A=$TMP/A
mkdir -p "$A/docs" "$TMP/v"
echo "same on every device" > "$A/notes.txt"
echo "A's todo" > "$A/todo.txt"
echo "doc" > "$A/docs/a.md"
echo "will be deleted" > "$A/gone.txt"
printf '#!/bin/sh\n' > "$A/run.sh"
chmod +x "$A/run.sh"
ln -s docs/a.md "$A/link"
head -c $((9 * 1024 * 1024)) /dev/urandom > "$A/big.bin"
cp "$A/big.bin" "$TMP/v/big.1"
ok "A: init" as A init "$A" --device-name alpha
V1=$(head_id "$A")
check "big.bin is chunked (a tree)" "$(git_of A cat-file -t "$V1:big.bin")" = tree
# version 2: 64 KiB overwritten in the middle
head -c 65536 /dev/urandom | dd of="$A/big.bin" bs=65536 seek=64 conv=notrunc status=none
cp "$A/big.bin" "$TMP/v/big.2"
echo "doc, v2" > "$A/docs/a.md"
ok "A: snapshot v2" on A snapshot -q
V2=$(head_id "$A")
# version 3: 1 MiB appended; gone.txt deleted
head -c $((1024 * 1024)) /dev/urandom >> "$A/big.bin"
cp "$A/big.bin" "$TMP/v/big.3"
rm "$A/gone.txt"
ok "A: snapshot v3" on A snapshot -q
V3=$(head_id "$A")
ok "A: remote add (a new store)" on A remote add origin "$URL" --passphrase-file "$PASS"
ok "A: push" on A push
check "the store holds packs" "$(ls "$R/packs" 2> /dev/null | wc -l)" -ge 1
A_COUNT=$(commit_count "$A")
A_FILES=$(files_digest "$A")

# ---------------------------------------------------------------------------
# 2. A wrong or missing passphrase: exit 5, a clear message, nothing left

fails 5 "join, wrong passphrase: exit 5" as W join "$URL" "$TMP/W" --passphrase-file "$WRONG"
contains "wrong passphrase: says so" "$TMP/err" "passphrase"
check "wrong passphrase: one error line" "$(grep -c '^dsync: error: ' "$TMP/err")" = 1
no_trace "wrong passphrase" W "$TMP/W"

mkdir "$TMP/W2"
fails 5 "join into an empty folder, wrong passphrase: exit 5" \
	as W2 join "$URL" "$TMP/W2" --passphrase-file "$WRONG"
no_trace "wrong passphrase, existing folder" W2 "$TMP/W2"

fails 5 "join, no passphrase and no terminal: exit 5" as W3 join "$URL" "$TMP/W3"
no_trace "no passphrase" W3 "$TMP/W3"

# ---------------------------------------------------------------------------
# 3. Join into an empty folder: every file, the whole history

mkdir "$TMP/J"
ok "J: join into an empty folder" as J join "$URL" "$TMP/J" --device-name jay --passphrase-file "$PASS"
J=$TMP/J
check "J: every file, byte for byte, modes and links too" "$(files_digest "$J")" = "$A_FILES"
check "J: the whole history (as many commits)" "$(commit_count "$J")" = "$A_COUNT"
check "J: A's head" "$(head_id "$J")" = "$V3"
check "J: its device name" "$(git_of J config dsync.deviceName)" = jay
check "J: its own device id" "$(git_of J config dsync.deviceId)" != "$(git_of A config dsync.deviceId)"
check "J: the key cached" "$(cached_keys J)" = 1
check "J: the key cache is 0600" "$(stat -c %a "$TMP"/home-J/.config/dsync/keys/* 2> /dev/null)" = 600
check "J: the big file's chunk tree" "$(git_of J rev-parse "HEAD:big.bin")" = "$(git_of A rev-parse "HEAD:big.bin")"
ok "J: git fsck --full" git_of J fsck --full
ok "A: log" on A log --all-files
cp "$TMP/out" "$TMP/log.A"
ok "J: log" on J log --all-files
check "J: the same log as A" "$(cat "$TMP/out")" = "$(cat "$TMP/log.A")"
ok "A: versions big.bin" on A versions big.bin
cp "$TMP/out" "$TMP/versions.A"
ok "J: versions big.bin" on J versions big.bin
check "J: the same versions as A" "$(cat "$TMP/out")" = "$(cat "$TMP/versions.A")"
check "J: three versions of big.bin" "$(wc -l < "$TMP/out")" = 3
# every version of the big file comes back, by show and by restore
for v in 1 2 3; do
	eval "rev=\$V$v"
	ok "J: show v$v of big.bin" on J show "$rev:big.bin"
	check "J: show v$v: its bytes" "$(sha "$TMP/out")" = "$(sha "$TMP/v/big.$v")"
	mkdir -p "$TMP/r$v"
	ok "J: restore v$v of big.bin --to" on J restore big.bin --at "$rev" --to "$TMP/r$v"
	check "J: restore v$v: its bytes" "$(sha "$TMP/r$v/big.bin" 2> /dev/null)" = "$(sha "$TMP/v/big.$v")"
done
ok "J: show a deleted file's old version" on J show "$V2:gone.txt"
check "J: the deleted file's bytes" "$(cat "$TMP/out")" = "will be deleted"
ok "J: restore v1 of docs in place" on J restore docs/a.md --at "$V1"
check "J: restored" "$(cat "$J/docs/a.md")" = "doc"
ok "J: sync (no passphrase: the cached key)" on J sync
check "J: its restore is a version now" "$(git_of J show HEAD:docs/a.md)" = "doc"

# DIR defaults to the current folder, when it is empty; --name names the remote
mkdir "$TMP/J3"
echo "mine" > "$TMP/J3/keep.txt"
fails 2 "J3: no DIR in a folder that has files: a usage error" \
	on J3 join "$URL" --passphrase-file "$PASS"
contains "J3: the message says to name the folder" "$TMP/err" "name the folder"
check "J3: nothing made" ! -e "$TMP/J3/.dsync"
check "J3: the file is untouched" "$(cat "$TMP/J3/keep.txt")" = mine
mkdir "$TMP/J2"
ok "J2: join into the current folder, --name backup" \
	on J2 join "$URL" --name backup --device-name jay2 --passphrase-file "$PASS"
check "J2: the files (as J's)" "$(files_digest "$TMP/J2")" = "$(files_digest "$J")"
check "J2: the big file, latest" "$(sha "$TMP/J2/big.bin" 2> /dev/null)" = "$(sha "$TMP/v/big.3")"
ok "J2: remote list" on J2 remote list
check "J2: the remote is called backup" "$(cut -f1 "$TMP/out")" = backup
check "J2: refs under refs/remotes/backup" -n "$(git_of J2 for-each-ref refs/remotes/backup/)"

# ---------------------------------------------------------------------------
# 4. Join into a non-empty folder: every file kept

K=$TMP/K
mkdir -p "$K/docs"
echo "same on every device" > "$K/notes.txt"       # identical: merges, no copy
echo "K's todo" > "$K/todo.txt"                    # different: a conflict copy
echo "only on K" > "$K/only-k.txt"                 # K's own
echo "K's own doc" > "$K/docs/k.md"
ok03 "K: join into a non-empty folder" as K join "$URL" "$K" --device-name kay --passphrase-file "$PASS"
check "K: its own file kept" "$(cat "$K/only-k.txt" 2> /dev/null)" = "only on K"
check "K: its own doc kept" "$(cat "$K/docs/k.md" 2> /dev/null)" = "K's own doc"
check "K: A's files arrived" "$(cat "$K/docs/a.md" 2> /dev/null)" = "doc"
check "K: the big file arrived" "$(sha "$K/big.bin" 2> /dev/null)" = "$(sha "$TMP/v/big.3")"
check "K: identical file: no conflict copy" -z "$(ls "$K" | grep '^notes\.sync-conflict')"
check "K: identical file as it was" "$(cat "$K/notes.txt")" = "same on every device"
check "K: different file: one conflict copy" "$(ls "$K" | grep -c '^todo\.sync-conflict-.*\.txt$')" = 1
check "K: both contents of todo.txt survive" \
	"$(cat "$K/todo.txt" "$K"/todo.sync-conflict-*.txt 2> /dev/null | sort | tr '\n' '|')" = "A's todo|K's todo|"
check "K: A's whole history" "$(has_commit K "$V3" && echo yes)" = yes
check "K: K's files are in its history" "$(git_of K show HEAD:only-k.txt 2> /dev/null)" = "only on K"
ok "K: conflicts lists todo.txt" on K conflicts
contains "K: conflicts: todo.txt" "$TMP/out" "todo.txt"
ok03 "A: sync (gets K's files)" on A sync
check "A: K's file" "$(cat "$A/only-k.txt" 2> /dev/null)" = "only on K"
check "A: both todo contents" \
	"$(cat "$A/todo.txt" "$A"/todo.sync-conflict-*.txt 2> /dev/null | sort | tr '\n' '|')" = "A's todo|K's todo|"
ok03 "K: sync again" on K sync
check "K and A: the same files" "$(files_digest "$K")" = "$(files_digest "$A")"
check "K and A: the same head" "$(head_id "$K")" = "$(head_id "$A")"

# ---------------------------------------------------------------------------
# 5. remote add of an existing store to a folder init'ed on its own

L=$TMP/L
mkdir -p "$L"
echo "same on every device" > "$L/notes.txt"
echo "L's todo" > "$L/todo.txt"
echo "only on L" > "$L/only-l.txt"
ok "L: init on its own" as L init "$L" --device-name ell
L_HEAD=$(head_id "$L")
L_FILES=$(files_digest "$L")
fails 5 "L: remote add, wrong passphrase: exit 5" on L remote add origin "$URL" --passphrase-file "$WRONG"
check "L: no key cached" "$(cached_keys L)" = 0
ok "L: no remote after the refusal" on L remote list
check "L: remote list empty" ! -s "$TMP/out"
ok "L: remote add of the existing store" on L remote add origin "$URL" --passphrase-file "$PASS"
check "L: remote add moved nothing (files)" "$(files_digest "$L")" = "$L_FILES"
check "L: remote add moved nothing (head)" "$(head_id "$L")" = "$L_HEAD"
check "L: the store's key cached" "$(cached_keys L)" = 1
ok03 "L: sync" on L sync
check "L: its own file kept" "$(cat "$L/only-l.txt" 2> /dev/null)" = "only on L"
check "L: identical file: no copy" -z "$(ls "$L" | grep '^notes\.sync-conflict')"
check "L: every todo survives" \
	"$(cat "$L/todo.txt" "$L"/todo.sync-conflict-*.txt 2> /dev/null | grep -v '^$' | sort | tr '\n' '|')" = \
	"A's todo|K's todo|L's todo|"
check "L: A's files" "$(sha "$L/big.bin" 2> /dev/null)" = "$(sha "$TMP/v/big.3")"
check "L: K's files" "$(cat "$L/only-k.txt" 2> /dev/null)" = "only on K"
check "L: its first snapshot kept in history" "$(has_commit L "$L_HEAD" && echo yes)" = yes
check "L: A's history" "$(has_commit L "$V3" && echo yes)" = yes
ok03 "A: sync (gets L's files)" on A sync
check "A: L's file" "$(cat "$A/only-l.txt" 2> /dev/null)" = "only on L"
ok03 "J: sync" on J sync
ok03 "K: sync" on K sync
ok03 "L: sync" on L sync
ok03 "A: sync" on A sync
ok03 "J: sync" on J sync
ok03 "K: sync" on K sync
for d in J K L; do
	check "$d and A: the same files" "$(files_digest "$TMP/$d")" = "$(files_digest "$A")"
done

# ---------------------------------------------------------------------------
# 6. dsync check on a good store

ok "A: check" on A check
ok "A: check --read-data" on A check --read-data
ok "J: check --read-data origin" on J check --read-data origin
ok "J2: check backup" on J2 check backup

# ---------------------------------------------------------------------------
# 7. dsync passphrase: re-seals keys/ and nothing else

DATA_BEFORE=$(blobs packs devices)
KEYS_BEFORE=$(blobs keys)
check "the store has keys" -n "$KEYS_BEFORE"
fails 5 "passphrase: wrong current one: exit 5" \
	on A passphrase --passphrase-file "$WRONG" --new-passphrase-file "$NEW"
check "passphrase refused: keys/ unchanged" "$(blobs keys)" = "$KEYS_BEFORE"
fails 5 "passphrase: no new one and no terminal: exit 5" on A passphrase --passphrase-file "$PASS"
check "passphrase refused: keys/ still unchanged" "$(blobs keys)" = "$KEYS_BEFORE"
ok "passphrase: changed" on A passphrase origin --passphrase-file "$PASS" --new-passphrase-file "$NEW"
check "passphrase: keys/ changed" "$(blobs keys)" != "$KEYS_BEFORE"
check "passphrase: packs/ and devices/ byte-identical" "$(blobs packs devices)" = "$DATA_BEFORE"
check "passphrase: no temporary files left" -z "$(find "$R" -name '.*' ! -path "$R")"

fails 5 "join with the old passphrase: exit 5" as O join "$URL" "$TMP/O" --passphrase-file "$PASS"
no_trace "old passphrase" O "$TMP/O"
ok03 "join with the new passphrase" as N join "$URL" "$TMP/N" --passphrase-file "$NEW"
check "N: every file" "$(files_digest "$TMP/N")" = "$(files_digest "$A")"
check "N: the same head" "$(head_id "$TMP/N")" = "$(head_id "$A")"
ok03 "J: sync with its cached key (unchanged master key)" on J sync
DATA_BEFORE=$(blobs packs devices)
# and back, the current one from the environment, the new one too
export DSYNC_PASSPHRASE="a brand new passphrase"
export DSYNC_NEW_PASSPHRASE="the right passphrase"
ok "passphrase: changed back (both from the environment)" on J passphrase
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE
check "changed back: packs/ and devices/ unchanged by it" "$(blobs packs devices)" = "$DATA_BEFORE"
fails 5 "join with the newer passphrase, after changing back: exit 5" \
	as O2 join "$URL" "$TMP/O2" --passphrase-file "$NEW"
ok03 "join with the first passphrase again" as P join "$URL" "$TMP/P" --passphrase-file "$PASS"
ok "check --read-data after it all" on P check --read-data

# 6. a history of edits, one push each: every pack but the first holds
# deltas whose bases are in the one before, which a join fetches in one pass
# (two packs are indexed at once: one whose bases come with the other is
# indexed again after it)
R2=$TMP/remote2
T=$TMP/T
ok "T: init" as T init "$T" --device-name tee
seq 1 4000 | sed 's/^/a line of text that stays /' > "$T/doc.txt"
ok "T: remote add" on T remote add origin "file://$R2" --passphrase-file "$PASS"
for i in 1 2 3 4 5 6 7; do
	sed -i "$((i * 400))s/.*/edit $i/" "$T/doc.txt"
	echo "note $i" > "$T/note$i.txt"
	on T sync > /dev/null 2>&1 || fail "T: sync after edit $i"
done
check "T: a pack per push ($(ls "$R2/packs" | wc -l))" "$(ls "$R2/packs" | wc -l)" -ge 7
ok03 "U: join the history of edits" as U join "file://$R2" "$TMP/U" --passphrase-file "$PASS"
check "U: every file" "$(files_digest "$T")" = "$(files_digest "$TMP/U")"
check "U: the whole history" "$(commit_count "$TMP/U")" = "$(commit_count "$T")"
ok "U: git fsck" git --git-dir="$TMP/U/.dsync" fsck --full --no-dangling
for rev in $(git --git-dir="$T/.dsync" rev-list refs/heads/main -- doc.txt); do
	check "U: version $rev of doc.txt" "$(git --git-dir="$TMP/U/.dsync" rev-parse "$rev:doc.txt")" = \
		"$(git --git-dir="$T/.dsync" rev-parse "$rev:doc.txt")"
done

finish
