#!/bin/bash
# Check benchmark: `dsync check` (the local history: every version, folder,
# file and chunk read once and its hash checked) against `git fsck --full`
# on the same history, at two sizes.
#
#   bench/check.sh [--quick]
#
# For each size, a corpus of documents (bench/corpus.pl large: nested
# folders 1 to 4 levels deep, 60% incompressible media-like files, 40% hex
# text, sizes skewed from 1 KiB to several MB) becomes a dsync folder
# (`dsync init`), then gets BENCH_EDITS more snapshots, each after 1% of its
# files were edited in place (corpus.pl modify) and a few new text files
# were added.  Both tools are then timed on that history twice: as the
# snapshots left it (loose objects), and after `dsync gc` (one pack with
# deltas).  git runs as `git --git-dir=FOLDER/.dsync fsck --full` with no
# user or system config.  Both must succeed (exit 0); the table gives each
# one's median wall-clock time over BENCH_RUNS runs (page cache warm), its
# peak RSS (GNU time's %M, when /usr/bin/time is there), and dsync's time as
# a ratio of git's.
#
# Sizes: BENCH_SIZES ("25:200 250:2000", MB:files; --quick: "5:40 25:200").
# Settings: BENCH_EDITS (4), BENCH_RUNS (3), BENCH_SEED (1), BENCH_DIR
# (temp space, default $TMPDIR or /tmp). DSYNC=/path/to/dsync picks the
# binary (default: build/dsync). Progress goes to stderr, the table to stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
bench_args 24 "$@"
DSYNC=${DSYNC:-$here/../build/dsync}
if ((quick)); then
	: "${BENCH_SIZES:=5:40 25:200}" "${BENCH_RUNS:=1}"
fi
sizes=${BENCH_SIZES:-25:200 250:2000}
edits=${BENCH_EDITS:-4}
runs=${BENCH_RUNS:-3}
seed=${BENCH_SEED:-1}
base=${BENCH_DIR:-${TMPDIR:-/tmp}}

for v in edits runs seed; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
for s in $sizes; do
	[[ $s =~ ^[0-9]+:[0-9]+$ ]] || die "BENCH_SIZES holds MB:FILES pairs, not '$s'"
done
[[ -x $DSYNC ]] || die "no dsync at $DSYNC (build first, or set DSYNC)"
command -v git > /dev/null || die "git is not installed"
command -v perl > /dev/null || die "perl is not installed"
gnu_time=
if /usr/bin/time -f %M true > /dev/null 2>&1; then
	gnu_time=/usr/bin/time
else
	log "GNU time is not installed (apt-get install time): no peak RSS"
fi

max_mb=0
for s in $sizes; do ((${s%%:*} > max_mb)) && max_mb=${s%%:*}; done
mkdir -p "$base"
need_mb=$((max_mb * 4 + 100))
avail_mb=$(df -Pm "$base" | awk 'NR == 2 { print $4 }')
((avail_mb > need_mb)) || die "not enough free space in $base (need about $need_mb MB, $avail_mb MB free)"
tmp=$(mktemp -d "$base/dsync-bench-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
log "temp data in $tmp"
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config LC_ALL=C GIT_CONFIG_NOSYSTEM=1
unset DSYNC_DEVICE_NAME GIT_DIR GIT_WORK_TREE
mkdir -p "$HOME"

pool=$tmp/pool
random_bytes $((64 << 20)) "$seed" > "$pool"

now() { date +%s.%N; }
# timed OUT CMD...: runs CMD (it must succeed); OUT gets "SECONDS RSS_KB"
timed() {
	local out=$1 t0 t1 rss=-
	shift
	t0=$(now)
	if [[ -n $gnu_time ]]; then
		"$gnu_time" -f %M -o "$tmp/rss" "$@" > "$tmp/cmd.out" 2> "$tmp/cmd.err" ||
			{ cat "$tmp/cmd.out" "$tmp/cmd.err" >&2; die "failed: $*"; }
		rss=$(tail -1 "$tmp/rss")
	else
		"$@" > "$tmp/cmd.out" 2> "$tmp/cmd.err" || { cat "$tmp/cmd.out" "$tmp/cmd.err" >&2; die "failed: $*"; }
	fi
	t1=$(now)
	echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') $rss" > "$out"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
row() { printf '%-8s %-7s %8s %9s %10s %9s %10s %9s %8s\n' "$@"; }

# measure LABEL STATE DIR: BENCH_RUNS runs of each tool, alternating
measure() {
	local label=$1 state=$2 dir=$3 i d=() g=() dr=- gr=- objects
	# one untimed run of each: warm cache, and both must pass
	(cd "$dir" && "$DSYNC" check) > "$tmp/check.out" || die "dsync check failed on $dir"
	objects=$(sed -n 's/^history: \([0-9]*\) versions*, \([0-9]*\) objects ok$/\2/p' "$tmp/check.out")
	git --git-dir="$dir/.dsync" fsck --full > /dev/null 2>&1 || die "git fsck failed on $dir"
	for ((i = 0; i < runs; i++)); do
		if ((i % 2 == 0)); then
			timed "$tmp/d" bash -c 'cd "$1" && exec "$2" check' _ "$dir" "$DSYNC"
			timed "$tmp/g" git --git-dir="$dir/.dsync" fsck --full
		else
			timed "$tmp/g" git --git-dir="$dir/.dsync" fsck --full
			timed "$tmp/d" bash -c 'cd "$1" && exec "$2" check' _ "$dir" "$DSYNC"
		fi
		read -r dt drss < "$tmp/d"
		read -r gt grss < "$tmp/g"
		d+=("$dt")
		g+=("$gt")
		dr=$drss
		gr=$grss
	done
	local dm gm
	dm=$(median "${d[@]}")
	gm=$(median "${g[@]}")
	row "$label" "$state" "$objects" "$(du -sm "$dir/.dsync/objects" | cut -f1)" "$dm" "$gm" "$(ratio "$dm" "$gm")" \
		"$([[ $dr == - ]] && echo - || echo $((dr / 1024)))" "$([[ $gr == - ]] && echo - || echo $((gr / 1024)))"
	log "  $label $state: dsync check ${dm}s, git fsck --full ${gm}s"
}

row size history objects "store MB" "dsync s" "git s" "dsync/git" "dsync MB" "git MB"
for s in $sizes; do
	mb=${s%%:*}
	files=${s##*:}
	label="${mb}MB"
	dir=$tmp/f$mb
	mkdir -p "$dir"
	log "$label: generating $files files"
	perl "$here/corpus.pl" large "$dir" "$files" $((mb << 20)) "$seed" "$pool"
	log "$label: first snapshot, then $edits more"
	(cd "$dir" && "$DSYNC" init . > /dev/null)
	for ((e = 1; e <= edits; e++)); do
		perl "$here/corpus.pl" modify "$dir" 1 $((seed + e)) "$pool" > /dev/null
		mkdir -p "$dir/notes/edit$e/drafts/long folder name $e"
		for ((n = 0; n < 5; n++)); do
			head -c 3000 "$pool" | od -An -tx1 | tail -c +$((n * 97 + 1)) > "$dir/notes/edit$e/drafts/long folder name $e/draft $n.md"
		done
		(cd "$dir" && "$DSYNC" snapshot > /dev/null)
	done
	measure "$label" loose "$dir"
	(cd "$dir" && "$DSYNC" gc > /dev/null)
	measure "$label" packed "$dir"
	rm -rf "$dir"
done
