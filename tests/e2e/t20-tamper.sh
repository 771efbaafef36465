#!/bin/bash
# Tampered remote stores: a flipped byte in each kind of blob (dsync-store,
# keys/*, packs/*, devices/*/*), truncated blobs, a deleted pack, an older
# manifest of a device copied over its newer one, a manifest from another
# store, another device's manifest under a device's name, a rolled-back
# device, and a fork (a different manifest with a sequence number already
# seen).  Each is refused with exit 6 and a message naming the blob, and the
# fetching device's files and refs are unchanged; once the store is whole
# again the same device syncs.  The store key cached per user hides a
# tampered dsync-store or keys/ from a device that has joined, so those are
# checked with 'dsync check' and with a fresh join (exit 6, not 5, and
# nothing left behind).
#
# Two devices, each with its own HOME (its own key cache): alpha made the
# store and pushes; beta joined and fetches.  The store stays at $REMOTE;
# each case copies it aside, tampers with $REMOTE in place, runs beta, and
# puts the pristine copy back.
. "$(dirname "$0")/lib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_TEST_SLOW

if ! command -v python3 > /dev/null; then
	fail "python3 is missing (flips bytes)"
	finish
fi

REMOTE=$TMP/remote
PRISTINE=$TMP/pristine
PASS=$TMP/pass
echo "correct horse battery staple" > "$PASS"
echo "not the passphrase" > "$TMP/wrong"
A=$TMP/A
B=$TMP/B
mkdir -p "$TMP/hA" "$TMP/hB"

# on DEV CMD...: CMD inside device DEV's folder, with DEV's HOME
on() { local dev=$1; shift; (cd "$TMP/$dev" && export HOME="$TMP/h$dev" && "$@"); }
# inhome H CMD...: CMD in $TMP with HOME=$TMP/H (a device not joined yet)
inhome() { local h=$1; shift; mkdir -p "$TMP/$h"; (cd "$TMP" && export HOME="$TMP/$h" && "$@"); }
git_() { local d=$1; shift; git --git-dir="$TMP/$d/.dsync" "$@"; }

# state DEV: the device's files and its refs (this device's head, others' heads)
state() {
	files_digest "$TMP/$1"
	git_ "$1" for-each-ref --format='%(refname) %(objectname)' refs/heads/main refs/remotes
}

# flip FILE first|middle|last|OFFSET: XORs one byte with 0x01, in place
flip() {
	chmod u+w "$1"
	python3 - "$1" "$2" << 'EOF'
import os, sys
p, w = sys.argv[1], sys.argv[2]
n = os.path.getsize(p)
off = {"first": 0, "middle": n // 2, "last": n - 1}.get(w)
if off is None:
    off = int(w)
with open(p, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 1]))
EOF
}

# flip_text FILE: flips a bit of the middle byte of a text file, moving on to
# the next letter or digit (a value, not a separator)
flip_text() {
	chmod u+w "$1"
	python3 - "$1" << 'EOF'
import os, sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
i = len(d) // 2
while i < len(d) and not chr(d[i]).isalnum():
    i += 1
d[i] ^= 1
open(p, "wb").write(bytes(d))
EOF
}

# truncate_to FILE SIZE
truncate_to() { chmod u+w "$1"; truncate -s "$2" "$1"; }

# blobs DIR PREFIX: the blob names under PREFIX (no temporary dot files)
blobs() {
	(cd "$1" && find "$2" -type f ! -name '.*' 2> /dev/null | LC_ALL=C sort)
}
# manifest_of DEV-ID [STORE]: the newest manifest name of a device
manifest_of() { blobs "${2:-$REMOTE}" "devices/$1" | tail -1; }

# names "what" FILE BLOB...: FILE names one of the BLOBs
names() {
	local what=$1 file=$2 b
	shift 2
	for b; do
		if grep -qF -- "$b" "$file"; then pass "$what"; return; fi
	done
	fail "$what: none of '$*' named"
	sed 's/^/#   /' "$file" | head -5
}

# A's edits: a line in a text file and a new 200 KiB file, so each push has
# a pack of several encryption chunks
n=0
edit_A() {
	n=$((n + 1))
	echo "edit $n" >> "$A/docs/log.txt"
	head -c 204800 /dev/urandom > "$A/data/f$n.bin"
}

# ------------------------------------------------------------------ setup
mkdir -p "$A/docs" "$A/data"
printf 'one\ntwo\n' > "$A/docs/notes.md"
echo "start" > "$A/docs/log.txt"
head -c 300000 /dev/urandom > "$A/data/big.bin"
ok "alpha: init" dsync init --device-name alpha "$A"
ok "alpha: remote add makes a new store" on A dsync remote add origin "$REMOTE" --passphrase-file "$PASS"
check "the store has its dsync-store" -f "$REMOTE/dsync-store"
ok "alpha: push 1" on A dsync push
AID=$(git_ A config dsync.deviceId)
check "alpha's device id is 32 hex digits" -n "$(echo "$AID" | grep -xE '[0-9a-f]{32}')"
edit_A
ok "alpha: push 2" on A dsync push
check "alpha has one manifest" "$(blobs "$REMOTE" "devices/$AID" | wc -l)" = 1
ok "beta: join" inhome hB dsync join "file://$REMOTE" "$B" --device-name beta --passphrase-file "$PASS"
check "beta has alpha's files" "$(files_digest "$B")" = "$(files_digest "$A")"
BID=$(git_ B config dsync.deviceId)
echo "from beta" > "$B/beta.txt"
ok "beta: sync its own file" on B dsync sync
check "beta has a manifest" -n "$(manifest_of "$BID")"
KEY=$(blobs "$REMOTE" keys | head -1)
check "the store has a sealed key" -n "$KEY"

# a second store (another folder, another key): its manifests are valid
# blobs, but not this store's
C=$TMP/C
mkdir -p "$C" "$TMP/hC"
echo "other store" > "$C/x.txt"
ok "other store: init" dsync init --device-name gamma "$C"
ok "other store: remote add" on C dsync remote add origin "$TMP/remote2" --passphrase-file "$PASS"
ok "other store: push" on C dsync push
CID=$(git_ C config dsync.deviceId)
CMAN=$(manifest_of "$CID" "$TMP/remote2")
check "other store: a manifest" -n "$CMAN"

# ------------------------------------------------------------------ cases
# prepare LABEL: alpha pushes a new version (beta has something to fetch),
# the store is copied aside, beta's state is recorded; NEWPACKS are the packs
# the push added, AMAN alpha's newest manifest
prepare() {
	label=$1
	echo "# --- $label"
	blobs "$REMOTE" packs > "$TMP/packs-before"
	edit_A
	if ! on A dsync push > "$TMP/out" 2> "$TMP/err"; then
		fail "$label: alpha's push (exit $?)"
		sed 's/^/#   /' "$TMP/err" | head -5
	fi
	mapfile -t NEWPACKS < <(blobs "$REMOTE" packs | LC_ALL=C comm -13 "$TMP/packs-before" -)
	check "$label: alpha's push wrote a pack" "${#NEWPACKS[@]}" -gt 0
	AMAN=$(manifest_of "$AID")
	A_HEAD=$(head_id "$A")
	snapshot_store
}
# snapshot_store: copies the store aside and records beta's state
snapshot_store() {
	rm -rf "$PRISTINE"
	cp -a "$REMOTE" "$PRISTINE"
	B_BEFORE=$(state B)
}

# refused WHAT BLOB...: beta's fetch and sync both exit 6 naming one of the
# BLOBs, and leave beta's files and refs as they were
refused() {
	local what=$1
	shift
	fails 6 "$label: beta's fetch refuses it" on B dsync fetch
	names "$label: fetch names $what" "$TMP/err" "$@"
	check "$label: the error is one line" "$(wc -l < "$TMP/err")" = 1
	check "$label: beta unchanged after the fetch" "$(state B)" = "$B_BEFORE"
	fails 6 "$label: beta's sync refuses it" on B dsync sync
	names "$label: sync names $what" "$TMP/err" "$@"
	check "$label: beta unchanged after the sync" "$(state B)" = "$B_BEFORE"
}

# restore: the pristine store back; beta syncs and gets alpha's head
restore() {
	chmod -R u+rwX "$REMOTE" 2> /dev/null
	rm -rf "$REMOTE"
	cp -a "$PRISTINE" "$REMOTE"
	ok "$label: beta syncs once the store is whole" on B dsync sync
	check "$label: beta then has alpha's head" -n \
		"$(git_ B merge-base --is-ancestor "$A_HEAD" refs/heads/main && echo yes)"
}

# flipped bytes and truncations of alpha's new pack(s)
for where in middle first last; do
	prepare "pack: $where byte flipped"
	for p in "${NEWPACKS[@]}"; do flip "$REMOTE/$p" "$where"; done
	refused "the pack" "${NEWPACKS[@]}"
	if [ "$where" = middle ]; then
		fails 6 "$label: beta's check --read-data refuses it" on B dsync check --read-data
		names "$label: check names the pack" "$TMP/err" "${NEWPACKS[@]}"
		fails 6 "$label: a fresh join refuses it" inhome hJ dsync join "$REMOTE" "$TMP/J" --passphrase-file "$PASS"
		names "$label: the join names the pack" "$TMP/err" "${NEWPACKS[@]}"
		rm -rf "$TMP/J" "$TMP/hJ"
	fi
	restore
done

for cut in half minus1 zero; do
	prepare "pack: truncated ($cut)"
	for p in "${NEWPACKS[@]}"; do
		size=$(stat -c %s "$REMOTE/$p")
		case $cut in
		half) truncate_to "$REMOTE/$p" $((size / 2)) ;;
		minus1) truncate_to "$REMOTE/$p" $((size - 1)) ;;
		zero) truncate_to "$REMOTE/$p" 0 ;;
		esac
	done
	refused "the pack" "${NEWPACKS[@]}"
	restore
done

prepare "pack: deleted"
for p in "${NEWPACKS[@]}"; do rm -f "$REMOTE/$p"; done
refused "the missing pack" "${NEWPACKS[@]}"
fails 6 "$label: beta's check refuses it" on B dsync check
names "$label: check names the pack" "$TMP/err" "${NEWPACKS[@]}"
restore

# alpha's manifest
prepare "manifest: middle byte flipped"
flip "$REMOTE/$AMAN" middle
refused "the manifest" "$AMAN"
fails 6 "$label: beta's check refuses it" on B dsync check
names "$label: check names the manifest" "$TMP/err" "$AMAN"
restore

prepare "manifest: last byte flipped"
flip "$REMOTE/$AMAN" last
refused "the manifest" "$AMAN"
restore

prepare "manifest: truncated"
truncate_to "$REMOTE/$AMAN" $(($(stat -c %s "$REMOTE/$AMAN") / 2))
refused "the manifest" "$AMAN"
restore

# an older manifest of alpha's copied over its newer one: OLD is saved
# before the push that replaces it
OLD=$(manifest_of "$AID")
cp "$REMOTE/$OLD" "$TMP/old-manifest"
prepare "manifest: an older one copied over the newer name"
check "$label: alpha's manifest has a new name" "$AMAN" != "$OLD"
check "$label: the older one is gone from the store" ! -e "$REMOTE/$OLD"
chmod u+w "$REMOTE/$AMAN"
cp "$TMP/old-manifest" "$REMOTE/$AMAN"
refused "the manifest" "$AMAN"
restore

# rollback: beta has seen alpha's newest manifest; the store now shows only
# the older one, under its own name
label="rollback: only an older manifest of alpha's"
echo "# --- $label"
A_HEAD=$(head_id "$A")
snapshot_store
chmod -R u+rwX "$REMOTE/devices/$AID"
rm -f "$REMOTE/devices/$AID"/*
cp "$TMP/old-manifest" "$REMOTE/$OLD"
refused "the older manifest" "$OLD"
if grep -qiE 'roll|older|replay|seen' "$TMP/err"; then
	pass "$label: the message says it went back"
else
	fail "$label: the message does not say it went back"
	sed 's/^/#   /' "$TMP/err" | head -5
fi
restore

# a manifest of the other store, at its own name (a new device dir) and over
# alpha's newest manifest
prepare "another store's manifest, as a new device"
mkdir -p "$REMOTE/devices/$CID"
cp "$TMP/remote2/$CMAN" "$REMOTE/$CMAN"
refused "the foreign manifest" "$CMAN"
restore

prepare "another store's manifest, over alpha's"
chmod u+w "$REMOTE/$AMAN"
cp "$TMP/remote2/$CMAN" "$REMOTE/$AMAN"
refused "the manifest" "$AMAN"
restore

# beta's own manifest copied over alpha's newest: valid in this store, but
# another device's (beta itself rejects it as alpha's)
prepare "beta's manifest, over alpha's"
BMAN=$(manifest_of "$BID")
chmod u+w "$REMOTE/$AMAN"
cp "$REMOTE/$BMAN" "$REMOTE/$AMAN"
refused "the manifest" "$AMAN"
restore

# a fork: a different valid manifest of alpha's with a sequence number beta
# has already seen.  Alpha's folder and the store are copied; alpha pushes a
# version into the real store (beta fetches it), the copy of alpha pushes
# another version into the copy of the store, with the same number; then the
# copy's manifest (and packs) replace the real ones.
label="fork: a different manifest with a number already seen"
echo "# --- $label"
rm -rf "$TMP/A2" "$TMP/fork-base" "$TMP/real" "$TMP/forked"
cp -a "$A" "$TMP/A2"
cp -a "$REMOTE" "$TMP/fork-base"
edit_A
ok "$label: alpha pushes into the real store" on A dsync push
ok "$label: beta fetches it" on B dsync sync
A_HEAD=$(head_id "$A")
REALMAN=$(manifest_of "$AID")
mv "$REMOTE" "$TMP/real"
mv "$TMP/fork-base" "$REMOTE"
echo "forked edit" >> "$TMP/A2/docs/log.txt"
ok "$label: alpha's copy pushes into the copy of the store" \
	bash -c 'cd "$1" && HOME="$2" "$3" push' _ "$TMP/A2" "$TMP/hA" "$DSYNC"
FORKMAN=$(manifest_of "$AID")
mv "$REMOTE" "$TMP/forked"
mv "$TMP/real" "$REMOTE"
if [ "$FORKMAN" != "$REALMAN" ]; then
	echo "# skipped: the fork's manifest is $FORKMAN, the real one $REALMAN (no same-number fork)"
else
	snapshot_store
	check "$label: the two manifests differ" -n "$(cmp -s "$REMOTE/$REALMAN" "$TMP/forked/$FORKMAN" || echo yes)"
	chmod -R u+rwX "$REMOTE"
	cp -n "$TMP/forked"/packs/* "$REMOTE/packs/"
	cp "$TMP/forked/$FORKMAN" "$REMOTE/$REALMAN"
	refused "the forked manifest" "$REALMAN"
	restore
fi
rm -rf "$TMP/A2" "$TMP/forked"

# ------------------------------------------------- dsync-store and keys/
# A joined device reads neither (it has the key): 'dsync check' must catch
# them; a new device must be refused with 6 (not 5: the passphrase is right)
# and nothing left behind.  A fetch by beta may succeed (it needs neither)
# but if it refuses, it is with 6 and the blob's name.
fresh_join_refused() {
	rm -rf "$TMP/J" "$TMP/hJ"
	fails 6 "$label: a fresh join refuses it (6, not 5)" inhome hJ dsync join "$REMOTE" "$TMP/J" --passphrase-file "$PASS"
	names "$label: the join names it" "$TMP/err" "$@"
	check "$label: the join made no folder" ! -e "$TMP/J"
	check "$label: the join left no file in its HOME" -z "$(find "$TMP/hJ" -type f 2> /dev/null)"
	find "$TMP/hJ" -type f 2> /dev/null | sed 's/^/#   left: /'
	rm -rf "$TMP/J" "$TMP/hJ"
}
tolerated_by_beta() {
	local rc=0
	on B dsync fetch > "$TMP/out" 2> "$TMP/err" || rc=$?
	echo "# $label: beta's fetch exits $rc"
	if [ "$rc" = 6 ]; then
		names "$label: beta's refusing fetch names it" "$TMP/err" "$@"
	else
		check "$label: beta's fetch succeeds or refuses with 6 (got $rc)" "$rc" = 0
	fi
	check "$label: beta's refs and files unchanged" "$(state B)" = "$B_BEFORE"
}

label="control: wrong passphrase on a whole store"
rm -rf "$TMP/J" "$TMP/hJ"
fails 5 "$label: a fresh join exits 5" inhome hJ dsync join "$REMOTE" "$TMP/J" --passphrase-file "$TMP/wrong"
check "$label: the join made no folder" ! -e "$TMP/J"
check "$label: the join cached no key" -z "$(find "$TMP/hJ" -type f 2> /dev/null)"
rm -rf "$TMP/J" "$TMP/hJ"

for what in flip truncate; do
	label="dsync-store: $what"
	echo "# --- $label"
	A_HEAD=$(head_id "$A")
	snapshot_store
	if [ "$what" = flip ]; then flip_text "$REMOTE/dsync-store"; else
		truncate_to "$REMOTE/dsync-store" $(($(stat -c %s "$REMOTE/dsync-store") / 2)); fi
	fails 6 "$label: beta's check refuses it" on B dsync check
	names "$label: check names it" "$TMP/err" dsync-store
	fresh_join_refused dsync-store
	tolerated_by_beta dsync-store
	restore
done

for what in "middle byte flipped" "last byte flipped" truncated; do
	label="keys: $what"
	echo "# --- $label"
	A_HEAD=$(head_id "$A")
	snapshot_store
	case $what in
	middle*) flip "$REMOTE/$KEY" middle ;;
	last*) flip "$REMOTE/$KEY" last ;;
	truncated) truncate_to "$REMOTE/$KEY" $(($(stat -c %s "$REMOTE/$KEY") / 2)) ;;
	esac
	fails 6 "$label: beta's check refuses it" on B dsync check
	names "$label: check names it" "$TMP/err" "$KEY"
	fresh_join_refused "$KEY"
	tolerated_by_beta "$KEY"
	restore
done

# ------------------------------------------------------------------ end
ok "alpha: sync at the end" on A dsync sync
ok "beta: sync at the end" on B dsync sync
ok "alpha: sync again" on A dsync sync
check "both devices hold the same files" "$(files_digest "$A")" = "$(files_digest "$B")"
ok "alpha: check --read-data" on A dsync check --read-data
ok "beta: check --read-data" on B dsync check --read-data
finish
