#!/bin/bash
# gc benchmark: `dsync gc` against `git repack --geometric=2 -d` (what git
# maintenance and `git gc` with geometric repacking do), on copies of the
# same store, at two sizes of a media library.
#
#   bench/gc.sh [--quick]
#
# A folder shaped like a photo and video library (a tenth of it in photos
# of 2 to 6 MiB, the rest in videos of 40 to 120 MiB, all random bytes, and
# 300 text notes in 30 folders) of 256 MiB and 1 GiB (--quick: 64 and 256
# MiB) is snapshotted once (its packs), then 20 one-line edits of the notes
# are snapshotted one by one (loose objects). Both tools then compact a copy
# of that store; then an import of a tenth more media and 20 more edits,
# and both compact again. Reported per size and round: wall time, peak RSS,
# packs left and store size, and the ratio dsync / git. Needs git 2.32 or
# newer (--geometric) and GNU time.
# DSYNC=/path/to/dsync picks the binary (default: build/dsync).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
bench_args 17 "$@"
DSYNC=${DSYNC:-$here/../build/dsync}
[ -x "$DSYNC" ] || die "no dsync at $DSYNC; build first"
[ -x /usr/bin/time ] || die "GNU time is missing (apt-get install time)"
sizes="256 1024"
[ "$quick" = 1 ] && sizes="64 256"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dsync-bench-gc.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config LC_ALL=C
bench_git_home git "$HOME"

# media DIR MIB KEY: MIB MiB of photos and videos of random bytes in DIR
media() {
	local dir=$1 left=$(($2 * 1024 * 1024)) key=$3 n=0 size
	local photos=$((left / 10))
	mkdir -p "$dir/photos" "$dir/videos"
	while [ "$photos" -gt 0 ]; do
		size=$(((2 + n % 5) * 1024 * 1024))
		[ "$size" -gt "$photos" ] && size=$photos
		random_bytes "$size" $((key * 1000 + n)) > "$dir/photos/IMG_$key$n.jpg"
		photos=$((photos - size))
		left=$((left - size))
		n=$((n + 1))
	done
	while [ "$left" -gt 0 ]; do
		size=$(((40 + (n * 37) % 81) * 1024 * 1024))
		[ "$size" -gt "$left" ] && size=$left
		random_bytes "$size" $((key * 1000 + n)) > "$dir/videos/VID_$key$n.mp4"
		left=$((left - size))
		n=$((n + 1))
	done
}

# edits DIR ROUND: 20 one-line edits of the notes, each snapshotted
edits() {
	local i
	for i in $(seq 1 20); do
		echo "edit $2.$i" >> "$1/notes/n$((i % 30))/note$((i % 10)).txt"
		(cd "$1" && "$DSYNC" snapshot -q)
	done
}

# timed OUT CMD...: wall seconds and peak KiB of CMD into OUT ("S KIB")
timed() {
	local out=$1
	shift
	/usr/bin/time -f '%e %M' -o "$out" "$@" > /dev/null
}

# ratio A B: A / B with two decimals, "-" when B is 0
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
packs() { find "$1/objects/pack" -name '*.pack' | wc -l; }
mib() { du -sm "$1/objects" | cut -f1; }

printf '%-26s %9s %9s %7s %9s %9s %9s %7s %9s %10s\n' "" "dsync s" "MB" "packs" "store MB" \
	"git s" "MB" "packs" "store MB" "dsync/git"
for size in $sizes; do
	f=$tmp/f$size
	mkdir -p "$f"
	for d in $(seq 0 29); do
		mkdir -p "$f/notes/n$d"
		for i in $(seq 0 9); do
			printf 'note %d of folder %d\nline two\n' "$i" "$d" > "$f/notes/n$d/note$i.txt"
		done
	done
	log "size $size MiB: writing the media"
	media "$f" "$size" 1
	"$DSYNC" init --device-name bench "$f" > /dev/null
	edits "$f" 1
	for round in 1 2; do
		if [ "$round" = 2 ]; then
			media "$f/import" $((size / 10)) 2
			(cd "$f" && "$DSYNC" snapshot -q)
			edits "$f" 2
		fi
		rm -rf "$tmp/git.git"
		cp -a "$f/.dsync" "$tmp/git.git"
		git --git-dir="$tmp/git.git" config core.bare true
		log "size $size MiB, round $round: gc"
		(cd "$f" && timed "$tmp/d" "$DSYNC" gc -q)
		timed "$tmp/g" git --git-dir="$tmp/git.git" repack --geometric=2 -d -q
		read -r ds dk < "$tmp/d"
		read -r gs gk < "$tmp/g"
		printf '%-26s %9.2f %9d %7d %9d %9.2f %9d %7d %9d %10s\n' "$size MiB, gc $round" "$ds" $((dk / 1024)) \
			"$(packs "$f/.dsync")" "$(mib "$f/.dsync")" "$gs" $((gk / 1024)) "$(packs "$tmp/git.git")" \
			"$(mib "$tmp/git.git")" "$(ratio "$ds" "$gs")"
		git --git-dir="$f/.dsync" fsck --full --no-dangling > /dev/null 2>&1 || die "git fsck of dsync's store failed"
	done
	rm -rf "$f" "$tmp/git.git"
done
