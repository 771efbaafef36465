#!/bin/bash
# Format compatibility with the previous release (c85cb8e, the last commit
# before the snapshot wrote packs): a folder and a file:// store written by it
# are read and synced by this dsync, and this dsync's (a first snapshot big
# enough to be written as a pack) by it; both folders stay what `git fsck
# --full` accepts. The old release is built from the repository's history
# (`git archive`, only its dsync target, one job) and kept beside $DSYNC for
# the next run. Without that history (a tarball, a shallow clone), the
# old->new direction runs on tests/fixtures/compat-c85cb8e.tar.gz, made by
# that release in this test's part 1, and the new->old direction is skipped
# (the output says so; T66_FIXTURE=1 does that with history too).
# DSYNC_OLD=PATH uses that binary as the old release; T66_MAKE_FIXTURE=FILE
# writes the fixture from the old release's part (tests/fixtures/README.md).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE
# stores this dsync makes take the smallest KDF (a test build only); the old
# release is built without test knobs, so its store takes the real one
export DSYNC_TEST_KDF=min

OLD_COMMIT=c85cb8e
FIXTURE=$DSYNC_SRC/tests/fixtures/compat-$OLD_COMMIT.tar.gz
PASS=$TMP/pass
echo "compat passphrase" > "$PASS"

# ---------------------------------------------------------------------------
# 0. The old release's dsync

# old_build: builds OLD_COMMIT's dsync into the cache beside $DSYNC (one
# writer at a time: a lock), prints its path; nothing but the dsync target,
# one job, no test knob, warnings not errors (a newer compiler may warn)
old_build() {
	local cache=${DSYNC_COMPAT_CACHE:-$(dirname "$DSYNC")/compat-old}/$OLD_COMMIT
	mkdir -p "$cache" || return 1
	(
		flock 9
		[ -x "$cache/dsync" ] && exit 0
		local src=$TMP/old-src bld=$TMP/old-build gen=()
		mkdir -p "$src"
		git -C "$DSYNC_SRC" archive "$OLD_COMMIT" | tar -x -C "$src" || exit 1
		command -v ninja > /dev/null && gen=(-G Ninja)
		cmake -S "$src" -B "$bld" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
			-DDSYNC_TESTING=OFF -DDSYNC_WERROR=OFF -DDSYNC_SANITIZE=OFF > "$TMP/old-build.log" 2>&1 &&
			cmake --build "$bld" --target dsync-bin -j1 >> "$TMP/old-build.log" 2>&1 || {
			tail -20 "$TMP/old-build.log" >&2
			exit 1
		}
		cp "$bld/dsync" "$cache/dsync.tmp" && mv "$cache/dsync.tmp" "$cache/dsync"
	) 9> "$cache/.lock" || return 1
	echo "$cache/dsync"
}

MODE=history
if [ -n "${T66_FIXTURE:-}" ]; then
	MODE=fixture
	OLD=
	echo "# T66_FIXTURE set: old->new runs on $(basename "$FIXTURE"), new->old is skipped"
elif [ -n "${DSYNC_OLD:-}" ]; then
	OLD=$DSYNC_OLD
	echo "# old release: DSYNC_OLD=$OLD"
elif git -C "$DSYNC_SRC" rev-parse -q --verify "$OLD_COMMIT^{commit}" > /dev/null 2>&1; then
	t0=$(now_ms)
	OLD=$(old_build)
	echo "# old release $OLD_COMMIT: $OLD ($(($(now_ms) - t0)) ms to build or find)"
else
	MODE=fixture
	OLD=
	echo "# no history of $OLD_COMMIT here (a tarball?): old->new runs on $(basename "$FIXTURE"), new->old is skipped"
fi
if [ "$MODE" = history ]; then
	ok "the old release's dsync runs" "${OLD:-/nonexistent}" version
	[ "$FAILED" = 0 ] || finish
	echo "# $(cat "$TMP/out")"
fi

# old D ARGS...: the old release's dsync in D's folder, as D's user (as `on`)
old() { local d=$1; shift; (cd "$TMP/$d" && HOME="$TMP/home-$d" setsid -w "$OLD" "$@" < /dev/null); }
# old_as D ARGS...: the old release's dsync in $TMP, as D's user (as `as`)
old_as() { local d=$1; shift; mkdir -p "$TMP/home-$d"; (cd "$TMP" && HOME="$TMP/home-$d" setsid -w "$OLD" "$@" < /dev/null); }

# fsck "what" D: git itself reads every object of D's history (loose and
# packed), connectivity included
fsck() { ok "$1: git fsck --full" git_of "$2" fsck --full --strict; }
# packs D: how many packs D's history has (a pack has its .idx)
packs() { ls "$TMP/$1/.dsync/objects/pack/" 2> /dev/null | grep -c '^pack-.*\.idx$'; }
# objects D: "LOOSE loose, PACKS packs" in D's history
objects() { echo "$(git_of "$1" count-objects -v 2> /dev/null | sed -n 's/^count: //p') loose, $(packs "$1") packs"; }
# whether this dsync's snapshots write packs (a big one: 64 files or 8 MB)
if grep -q dsync_packw_ "$DSYNC_SRC"/core/history/snapshot.c "$DSYNC_SRC"/core/history/scan*.c; then
	PACKW=yes
else
	PACKW=no
	echo "# this dsync's snapshots write loose objects (no dsync_packw_ in core/history/)"
fi
# files D SUB N: N small text files of varied length in D/SUB/
files() {
	local i
	mkdir -p "$TMP/$1/$2"
	for i in $(seq 1 "$3"); do
		seq 1 $((i * 7 % 300 + 1)) | sed "s/^/$1 file $i line /" > "$TMP/$1/$2/f$i.txt"
	done
}
# same "what" D1 D2: the same files and the same head
same() {
	check "$1: the same files" "$(files_digest "$TMP/$2")" = "$(files_digest "$TMP/$3")"
	check "$1: the same head" "$(head_id "$TMP/$2")" = "$(head_id "$TMP/$3")"
}

# ---------------------------------------------------------------------------
# 1. The old release writes: folder O (three snapshots, one of them packed by
# its gc, a chunked file) pushed to store R1. Small on purpose: it is also
# what the fixture holds.

old_writes() {
	local o=$TMP/O
	mkdir -p "$o/docs" "$o/empty"
	echo "written by the old release" > "$o/notes.txt"
	echo "doc v1" > "$o/docs/a.md"
	echo "will be deleted" > "$o/gone.txt"
	printf '#!/bin/sh\necho run\n' > "$o/run.sh"
	chmod +x "$o/run.sh"
	ln -s docs/a.md "$o/link"
	files O many 40
	ok "old: init O" old_as O init "$o" --device-name old-dev
	# chunk trees at a small size, so the fixture stays small
	git_of O config dsync.chunkThreshold 65536
	seq 1 40000 > "$o/big.txt"
	echo "doc v2" > "$o/docs/a.md"
	ok "old: snapshot v2 (big.txt chunked)" old O snapshot -q
	check "old: big.txt is a chunk tree" "$(git_of O cat-file -t HEAD:big.txt)" = tree
	ok "old: gc (a pack made by the old release)" old O gc
	seq 5 40010 > "$o/big.txt"
	rm "$o/gone.txt"
	echo "doc v3" > "$o/docs/a.md"
	ok "old: snapshot v3 (loose)" old O snapshot -q
	ok "old: remote add R1 (a new store)" old O remote add origin "file://$TMP/R1" --passphrase-file "$PASS"
	ok "old: push" old O push
	fsck "old O" O
}

# fixture_make OUT: the old release's folder O, store R1 and O's kept key as
# the fixture for a checkout without history (run by hand, see the header)
fixture_make() {
	tar -C "$TMP" --owner=0 --group=0 -czf "$1" O R1 home-O/.config/dsync/keys
}

# fixture_load: O, R1 and O's key from the fixture; O's remote pointed at
# where R1 is now
fixture_load() {
	tar -C "$TMP" -xzf "$FIXTURE" || return 1
	git_of O config remote.origin.url "file://$TMP/R1"
}

if [ "$MODE" = history ]; then
	old_writes
	if [ -n "${T66_MAKE_FIXTURE:-}" ]; then
		fixture_make "$T66_MAKE_FIXTURE"
		echo "# fixture written to $T66_MAKE_FIXTURE"
	fi
else
	ok "the fixture: O, R1 and O's key, made by the old release" fixture_load
fi
V1=$(git_of O rev-list --reverse refs/heads/main | head -1)
V2=$(git_of O rev-parse refs/heads/main~1)
V3=$(head_id "$TMP/O")
O_FILES=$(files_digest "$TMP/O")
O_COUNT=$(commit_count "$TMP/O")

# ---------------------------------------------------------------------------
# 2. This dsync reads and syncs them: a join of R1, then O itself in place

ok "new: join R1 (a store the old release made)" \
	as N join "file://$TMP/R1" "$TMP/N" --device-name new-dev --passphrase-file "$PASS"
check "N: every file of O" "$(files_digest "$TMP/N")" = "$O_FILES"
check "N: O's head" "$(head_id "$TMP/N")" = "$V3"
check "N: the whole history" "$(commit_count "$TMP/N")" = "$O_COUNT"
check "N: big.txt's chunk tree as O's" "$(git_of N rev-parse HEAD:big.txt)" = "$(git_of O rev-parse HEAD:big.txt)"
ok "new: show of v2's chunked big.txt" on N show "$V2:big.txt"
check "new: v2's big.txt, byte for byte" "$(sha "$TMP/out")" = "$(seq 1 40000 | sha256sum | cut -c1-64)"
mkdir -p "$TMP/rN"
ok "new: restore v1 of docs/a.md --to" on N restore docs/a.md --at "$V1" --to "$TMP/rN/"
check "new: v1 of docs/a.md" "$(cat "$TMP/rN/a.md" 2> /dev/null)" = "doc v1"
ok "new: check --read-data of R1" on N check --read-data
fsck "new N" N

ok "new: status of O (the old release's stat cache)" on O status
contains "new: nothing changed in O" "$TMP/out" "nothing changed"
ok "new: check of O" on O check
ok "new: log of O" on O log --all-files
cp "$TMP/out" "$TMP/log.O"
ok "new: log of N" on N log --all-files
check "new: O's log and N's are one" "$(cat "$TMP/out")" = "$(cat "$TMP/log.O")"
# many new files: what this dsync writes as a pack
files O many2 100
packs_before=$(packs O)
ok "new: snapshot in O (100 new files)" on O snapshot -q
echo "# O after this dsync's snapshot: $(objects O)"
if [ "$PACKW" = yes ]; then
	check "new: the snapshot in O wrote a pack" "$(packs O)" -gt "$packs_before"
fi
fsck "new snapshot in O" O
if [ "$MODE" = history ]; then
	ok "old: status of O (this dsync's stat cache)" old O status
	contains "old: nothing changed in O" "$TMP/out" "nothing changed"
	ok "old: check of O" old O check
	ok "old: show a file of this dsync's snapshot" old O show HEAD:many2/f7.txt
	check "old: its bytes" "$(sha "$TMP/out")" = "$(sha "$TMP/O/many2/f7.txt")"
fi

# sync both ways through R1
echo "from N" > "$TMP/N/from-new.txt"
ok03 "new: sync N" on N sync
if [ "$MODE" = history ]; then
	echo "from O" > "$TMP/O/from-old.txt"
	ok03 "old: sync O (this dsync's packs in R1)" old O sync
	ok03 "new: sync N again" on N sync
	ok03 "old: sync O again" old O sync
	ok "old: check --read-data of R1" old O check --read-data
else
	ok03 "new: sync O (the fixture's folder)" on O sync
	ok03 "new: sync N again" on N sync
	ok03 "new: sync O again" on O sync
fi
same "O and N after sync" O N
check "O: N's file" "$(cat "$TMP/O/from-new.txt" 2> /dev/null)" = "from N"
fsck "O after sync" O
fsck "N after sync" N

if [ "$MODE" = fixture ]; then
	echo "# skipped: this dsync's folder and store read by the old release (no history to build it from)"
	finish
fi

# ---------------------------------------------------------------------------
# 3. This dsync writes: a first snapshot big enough to be written as a pack
# (many files, media that does not compress, a chunked file), pushed to R2;
# the old release joins it, reads the folder in place, syncs, checks, gc's.

files W many 150
head -c $((2 * 1024 * 1024)) /dev/urandom > "$TMP/W/media.bin"
head -c $((9 * 1024 * 1024)) /dev/urandom > "$TMP/W/big.bin"
seq 1 200000 > "$TMP/W/text.txt"
mkdir -p "$TMP/W/empty"
ln -s text.txt "$TMP/W/link"
cp -a "$TMP/W" "$TMP/W0"
ok "new: init W (153 files, 12 MB)" as W init "$TMP/W" --device-name new-w
echo "# W after this dsync's init: $(objects W)"
if [ "$PACKW" = yes ]; then
	check "new: init W wrote a pack" "$(packs W)" -ge 1
fi
check "W: big.bin is a chunk tree" "$(git_of W cat-file -t HEAD:big.bin)" = tree
fsck "new W" W
W1=$(head_id "$TMP/W")
# what a snapshot of this dsync killed while writing its pack leaves: a
# partial pack under a temp name, here two hours old; neither the old
# release nor git may trip on it
LEFT=$TMP/W/.dsync/objects/pack/tmp-dsync-t66kil.pack
{ printf 'PACK\0\0\0\2\0\0\0\5'; head -c 4096 /dev/urandom; } > "$LEFT"
touch -d '2 hours ago' "$LEFT"
# the same files snapshot by the old release, with W's chunk seed (the index
# removed, so every file is read again): the same tree, chunks and all
ok "old: init W0 (W's files)" old_as W0 init "$TMP/W0" --device-name old-w0
git_of W0 config dsync.chunkSeed "$(git_of W config dsync.chunkSeed)"
rm -f "$TMP/W0/.dsync/index"
ok "old: snapshot W0 with W's chunk seed" old W0 snapshot -q
check "old: W0 recorded a second snapshot (its first seed was another)" "$(commit_count "$TMP/W0")" = 2
check "old and new: the same tree id for the same files" \
	"$(git_of W0 rev-parse 'HEAD^{tree}')" = "$(git_of W rev-parse "$W1^{tree}")"
ok "new: remote add R2 (a new store)" on W remote add origin "file://$TMP/R2" --passphrase-file "$PASS"
ok "new: push" on W push

ok "old: join R2 (a store this dsync made)" \
	old_as J join "file://$TMP/R2" "$TMP/J" --device-name old-j --passphrase-file "$PASS"
same "J (old) and W" J W
check "J: big.bin, byte for byte" "$(sha "$TMP/J/big.bin" 2> /dev/null)" = "$(sha "$TMP/W/big.bin")"
ok "old: check --read-data of R2" old J check --read-data
fsck "old J" J

ok "old: status of W (this dsync's stat cache)" old W status
contains "old: nothing changed in W" "$TMP/out" "nothing changed"
ok "old: check of W" old W check
ok "old: show big.bin of W" old W show HEAD:big.bin
check "old: big.bin's bytes" "$(sha "$TMP/out")" = "$(sha "$TMP/W/big.bin")"
mkdir -p "$TMP/rW"
ok "old: restore many/ of W --to" old W restore many --at "$W1" --to "$TMP/rW/"
check "old: many/ restored" "$(files_digest "$TMP/rW/many")" = "$(files_digest "$TMP/W/many")"
echo "old's edit" >> "$TMP/W/text.txt"
ok "old: snapshot in W" old W snapshot -q
ok "new: status of W (the old release's stat cache)" on W status
contains "new: nothing changed in W" "$TMP/out" "nothing changed"
fsck "old snapshot in W" W

# sync both ways through R2
echo "from J" > "$TMP/J/from-old.txt"
ok03 "old: sync J" old J sync
ok03 "new: sync W" on W sync
ok03 "old: sync J again" old J sync
same "W and J after sync" W J
check "W: J's file" "$(cat "$TMP/W/from-old.txt" 2> /dev/null)" = "from J"
ok "new: check --read-data of R2" on W check --read-data
fsck "J after sync" J

# the old release's gc repacks this dsync's packs; this dsync reads the result
ok "old: gc of W" old W gc
echo "# W after the old release's gc: $(objects W)"
ok "new: check of W after the old gc" on W check
ok "new: status of W after the old gc" on W status
contains "new: nothing changed in W after the old gc" "$TMP/out" "nothing changed"
fsck "W after the old gc" W
if [ -f "$DSYNC_SRC/core/base/packw.h" ]; then
	ok "new: gc of W" on W gc
	check "new: gc removed the killed snapshot's temp pack" ! -e "$LEFT"
	fsck "W after the new gc" W
fi

finish
