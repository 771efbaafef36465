#!/usr/bin/env bash
# How the first snapshot scales with the number of files: `dsync init` against
# `git init && git add -A && git commit` (git's defaults, and core.fsync=all)
# on home-folder-shaped trees of several sizes, and against the machine's own
# pace: `tar -cf` of the same tree into one file, then `sync` (every file read
# and its bytes written durably, nothing else).  The time per file should stay
# roughly flat as the tree grows; where tar's grows too, the machine's does.
# dsync and tar: medians of BENCH_RUNS; git: one run.  See bench/README.md.
#
#   bench/init-scale.sh                    25k, 50k, 100k, 200k files
#   bench/init-scale.sh --quick            2k, 4k, 8k files, one run
#
# Settings (environment):
#   BENCH_SIZES="25000 50000 100000 200000"  file counts
#   BENCH_RUNS=3                             runs of dsync and tar per size
#   BENCH_SEED=1                             corpus seed
#   BENCH_DIR=${TMPDIR:-/tmp}                where temp data goes
#   DSYNC=path/to/dsync   (default: build-bench/dsync, built if missing)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

. "$here/common.sh"
bench_args 18 "$@"

if ((quick)); then
	: "${BENCH_SIZES:=2000 4000 8000}"
	: "${BENCH_RUNS:=1}"
fi
sizes=${BENCH_SIZES:-25000 50000 100000 200000}
runs=${BENCH_RUNS:-3}
seed=${BENCH_SEED:-1}
base=${BENCH_DIR:-${TMPDIR:-/tmp}}
dsync=${DSYNC:-$root/build-bench/dsync}

for n in $sizes; do [[ $n =~ ^[0-9]+$ ]] || die "BENCH_SIZES holds '$n', not a whole number"; done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS is '$runs', not a count of runs"
command -v git >/dev/null || die "git is not installed"
command -v tar >/dev/null || die "tar is not installed"
command -v perl >/dev/null || die "perl is not installed"
if [[ ! -x $dsync ]]; then
	[[ -z ${DSYNC:-} ]] || die "DSYNC=$dsync is not executable"
	log "building dsync in $root/build-bench"
	cmake -S "$root" -B "$root/build-bench" >/dev/null
	cmake --build "$root/build-bench" -j"$(nproc)" --target dsync-bin >/dev/null
fi

work=$(mktemp -d "$base/dsync-initscale.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# about 17 KB a file, four copies at a time (the tree, its copy, the store,
# tar's file)
max=0
for n in $sizes; do ((n > max)) && max=$n; done
need_mb=$((max * 17 * 4 / 1000 + 256))
avail_mb=$(df -Pm "$work" | awk 'NR == 2 { print $4 }')
((avail_mb > need_mb)) || die "not enough free space in $base (need about $need_mb MB)"

random_bytes $((8 << 20)) "$seed" >"$work/pool"

# peak RSS and CPU seconds: GNU time (Debian package 'time'); without it, no
# RSS and CPU columns
timer=()
[[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f '%M %U %S' -o "$work/rss")

# measure TOOL DIR: times the first snapshot of DIR by TOOL (tar: DIR into one
# file, made durable); prints "SECONDS PEAK-KiB CPU-SECONDS" (of git's sh -c:
# its largest descendant, and all of them; - without GNU time)
measure() {
	local tool=$1 dir=$2 home=$work/home-$1 t0 t1 rss=- cpu=- u s
	rm -rf "$home" "$work/rss" "$work/tar"
	mkdir -p "$home"
	sync
	t0=$(date +%s.%N)
	case $tool in
	dsync) env -i PATH="$PATH" HOME="$home" LC_ALL=C "${timer[@]}" "$dsync" init "$dir" >/dev/null ;;
	tar) env -i PATH="$PATH" LC_ALL=C "${timer[@]}" sh -c 'tar -cf "$1" -C "$2" . && sync' sh "$work/tar" "$dir" ;;
	git | gitfsync)
		bench_git_home "$tool" "$home"
		(cd "$dir" && env -i PATH="$PATH" HOME="$home" GIT_CONFIG_NOSYSTEM=1 LC_ALL=C \
			"${timer[@]}" sh -c 'git init -q && git add -A && git commit -q -m first') ;;
	esac
	t1=$(date +%s.%N)
	rm -f "$work/tar"
	if [[ -s $work/rss ]]; then
		read -r rss u s < <(tail -n 1 "$work/rss")
		cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
	fi
	echo "$t0 $t1 $rss $cpu" | awk '{ printf "%.2f %s %s\n", $2 - $1, $3, $4 }'
}

# fresh_copy: $work/copy as $work/pristine, its files in the page cache
fresh_copy() {
	rm -rf "$work/copy"
	cp -a "$work/pristine" "$work/copy"
	find "$work/copy" -type f -print0 | xargs -0 cat >/dev/null
}

# median of the numbers on standard input (one a line; - when none)
median() { sort -g | awk '{ v[NR] = $1 } END { print NR ? (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) : "-" }'; }

printf '%-8s %9s %7s %7s %9s %7s %7s %9s %7s %9s %7s %9s %7s %7s\n' files dsync "us/file" "cpu us" tar "us/file" \
	"vs tar" git "vs git" git-fsync "vs gfs" "dsync MB" "git MB" "gfs MB"
for n in $sizes; do
	log "corpus of $n files"
	rm -rf "$work/pristine"
	perl "$here/corpus.pl" tree "$work/pristine" "$n" "$seed" "$work/pool"
	declare -A t=() m=()
	: >"$work/d.t"
	: >"$work/d.cpu"
	: >"$work/tar.t"
	dm=0
	# dsync and tar alternate, each on a fresh copy with a warm cache
	for ((r = 1; r <= runs; r++)); do
		fresh_copy
		log "tar on $n files, run $r of $runs"
		read -r sec _ _ < <(measure tar "$work/copy")
		echo "$sec" >>"$work/tar.t"
		log "dsync on $n files, run $r of $runs"
		read -r sec rss cpu < <(measure dsync "$work/copy")
		echo "$sec" >>"$work/d.t"
		[[ $cpu == - ]] || echo "$cpu" >>"$work/d.cpu"
		[[ $rss == - ]] || ((rss <= dm)) || dm=$rss
		got=$(git --git-dir="$work/copy/.dsync" ls-tree -r --name-only HEAD | wc -l)
		[[ $got == "$n" ]] || die "dsync recorded $got files, not $n"
	done
	t[dsync]=$(median <"$work/d.t")
	t[tar]=$(median <"$work/tar.t")
	t[cpu]=$(median <"$work/d.cpu")
	m[dsync]=$dm
	((dm > 0)) || m[dsync]=-
	for tool in git gitfsync; do
		fresh_copy
		log "$tool on $n files"
		read -r "t[$tool]" "m[$tool]" _ < <(measure "$tool" "$work/copy")
		got=$(git --git-dir="$work/copy/.git" ls-tree -r --name-only HEAD | wc -l)
		[[ $got == "$n" ]] || die "$tool recorded $got files, not $n"
	done
	rm -rf "$work/copy"
	log "dsync runs: $(tr '\n' ' ' <"$work/d.t")s; tar runs: $(tr '\n' ' ' <"$work/tar.t")s"
	awk -v n="$n" -v d="${t[dsync]}" -v c="${t[cpu]}" -v x="${t[tar]}" -v g="${t[git]}" -v f="${t[gitfsync]}" \
		-v dm="${m[dsync]}" -v gm="${m[git]}" -v fm="${m[gitfsync]}" '
		function mb(k) { return k == "-" ? "-" : sprintf("%.0f", k / 1024) }
		function us(s) { return s == "-" ? "-" : sprintf("%.0f", s * 1e6 / n) }
		BEGIN {
			printf "%-8d %8.2fs %7s %7s %8.2fs %7s %6.2fx %8.2fs %6.2fx %8.2fs %6.2fx %9s %7s %7s\n", n, d, us(d), us(c),
				x, us(x), d / x, g, d / g, f, d / f, mb(dm), mb(gm), mb(fm) }'
	unset t m
done
echo "dsync and tar: medians of $runs runs (cpu us = dsync's user + system CPU time a file);"
echo "git: one run; dsync makes the snapshot durable (syncfs), git-fsync = core.fsync=all, tar = the tree"
echo "into one file, then sync; MB = peak RSS (GNU time's maximum resident set; for git, its largest process)"
