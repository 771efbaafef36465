#!/usr/bin/env bash
# How the first snapshot scales with the number of files: `dsync init` against
# `git init && git add -A && git commit` (git's defaults, and core.fsync=all)
# on home-folder-shaped trees of several sizes, one run each.  The time per
# file should stay roughly flat as the tree grows.  See bench/README.md.
#
#   bench/init-scale.sh                    25k, 50k, 100k, 200k files
#   bench/init-scale.sh --quick            2k, 4k, 8k files
#
# Settings (environment):
#   BENCH_SIZES="25000 50000 100000 200000"  file counts
#   BENCH_SEED=1                             corpus seed
#   BENCH_DIR=${TMPDIR:-/tmp}                where temp data goes
#   DSYNC=path/to/dsync   (default: build-bench/dsync, built if missing)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

. "$here/common.sh"
bench_args 15 "$@"

if ((quick)); then
	: "${BENCH_SIZES:=2000 4000 8000}"
fi
sizes=${BENCH_SIZES:-25000 50000 100000 200000}
seed=${BENCH_SEED:-1}
base=${BENCH_DIR:-${TMPDIR:-/tmp}}
dsync=${DSYNC:-$root/build-bench/dsync}

for n in $sizes; do [[ $n =~ ^[0-9]+$ ]] || die "BENCH_SIZES holds '$n', not a whole number"; done
command -v git >/dev/null || die "git is not installed"
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

# about 17 KB a file, three copies at a time
max=0
for n in $sizes; do ((n > max)) && max=$n; done
need_mb=$((max * 17 * 3 / 1000 + 256))
avail_mb=$(df -Pm "$work" | awk 'NR == 2 { print $4 }')
((avail_mb > need_mb)) || die "not enough free space in $base (need about $need_mb MB)"

random_bytes $((8 << 20)) "$seed" >"$work/pool"

# peak RSS: GNU time's %M (Debian package 'time'); without it, no RSS columns
timer=()
[[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f %M -o "$work/rss")

# measure TOOL DIR: times the first snapshot of DIR by TOOL; prints "SECONDS
# PEAK-KiB" (of git's sh -c: its largest descendant; - without GNU time)
measure() {
	local tool=$1 dir=$2 home=$work/home-$1 t0 t1 rss=-
	rm -rf "$home" "$work/rss"
	mkdir -p "$home"
	sync
	t0=$(date +%s.%N)
	case $tool in
	dsync) env -i PATH="$PATH" HOME="$home" LC_ALL=C "${timer[@]}" "$dsync" init "$dir" >/dev/null ;;
	git | gitfsync)
		bench_git_home "$tool" "$home"
		(cd "$dir" && env -i PATH="$PATH" HOME="$home" GIT_CONFIG_NOSYSTEM=1 LC_ALL=C \
			"${timer[@]}" sh -c 'git init -q && git add -A && git commit -q -m first') ;;
	esac
	t1=$(date +%s.%N)
	[[ -s $work/rss ]] && rss=$(tail -n 1 "$work/rss")
	echo "$t0 $t1 $rss" | awk '{ printf "%.2f %s\n", $2 - $1, $3 }'
}

printf '%-8s %9s %9s %9s %9s  %11s %11s %9s %9s %9s\n' files dsync git git-fsync "us/file" "vs git" "vs git-fsync" \
	"dsync MB" "git MB" "gitfs MB"
for n in $sizes; do
	log "corpus of $n files"
	rm -rf "$work/pristine"
	perl "$here/corpus.pl" tree "$work/pristine" "$n" "$seed" "$work/pool"
	declare -A t=() m=()
	for tool in dsync git gitfsync; do
		rm -rf "$work/copy"
		cp -a "$work/pristine" "$work/copy"
		find "$work/copy" -type f -print0 | xargs -0 cat >/dev/null
		log "$tool on $n files"
		read -r "t[$tool]" "m[$tool]" < <(measure "$tool" "$work/copy")
		gd=$work/copy/.git
		[[ $tool == dsync ]] && gd=$work/copy/.dsync
		got=$(git --git-dir="$gd" ls-tree -r --name-only HEAD | wc -l)
		[[ $got == "$n" ]] || die "$tool recorded $got files, not $n"
	done
	rm -rf "$work/copy"
	awk -v n="$n" -v d="${t[dsync]}" -v g="${t[git]}" -v f="${t[gitfsync]}" \
		-v dm="${m[dsync]}" -v gm="${m[git]}" -v fm="${m[gitfsync]}" '
		function mb(k) { return k == "-" ? "-" : sprintf("%.0f", k / 1024) }
		BEGIN {
			printf "%-8d %8.2fs %8.2fs %8.2fs %9.0f  %10.2fx %10.2fx %9s %9s %9s\n", n, d, g, f, d * 1e6 / n,
				d / g, d / f, mb(dm), mb(gm), mb(fm) }'
	unset t m
done
echo "one run per size; dsync makes the snapshot durable (syncfs), git-fsync = core.fsync=all;"
echo "MB = peak RSS (GNU time's maximum resident set; for git, its largest process)"
