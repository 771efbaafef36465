#!/usr/bin/env bash
# dsync snapshot benchmark: dsync against `git add -A && git commit`, with
# git's defaults and with core.fsync=all.  See bench/README.md.
#
#   bench/run.sh            full run (a few GB of temp space, 10-30 minutes)
#   bench/run.sh --quick    tiny corpora, smoke test (under a minute)
#
# Settings (environment):
#   BENCH_LARGE_FILES=2000   BENCH_LARGE_MB=250    documents corpus
#   BENCH_SMALL_FILES=100000                       small-files corpus
#   BENCH_HUGE_MB=1024                             single-file corpus
#   BENCH_RUNS=3                                   runs per case (median)
#   BENCH_CORPORA="large small huge"               which corpora to run
#   BENCH_CHANGE_PCT=1                             % of files changed
#   BENCH_SEED=1                                   corpus seed
#   BENCH_DIR=${TMPDIR:-/tmp}                      where temp data goes
#   DSYNC=path/to/dsync   (default: build-bench/dsync, built if missing)
#   BENCH_PROC_RSS=1      measure peak RSS from /proc VmHWM, not /usr/bin/time
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

. "$here/common.sh"
bench_args 20 "$@"

if ((quick)); then
	: "${BENCH_LARGE_FILES:=60}" "${BENCH_LARGE_MB:=6}" "${BENCH_SMALL_FILES:=1000}"
	: "${BENCH_HUGE_MB:=48}" "${BENCH_RUNS:=3}"
fi
large_files=${BENCH_LARGE_FILES:-2000}
large_mb=${BENCH_LARGE_MB:-250}
small_files=${BENCH_SMALL_FILES:-100000}
huge_mb=${BENCH_HUGE_MB:-1024}
runs=${BENCH_RUNS:-3}
corpora=${BENCH_CORPORA:-large small huge}
change_pct=${BENCH_CHANGE_PCT:-1}
seed=${BENCH_SEED:-1}
base=${BENCH_DIR:-${TMPDIR:-/tmp}}
dsync=${DSYNC:-$root/build-bench/dsync}


for v in large_files large_mb small_files huge_mb runs change_pct seed; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
((runs >= 1)) || die "BENCH_RUNS must be at least 1"
for c in $corpora; do
	case $c in large | small | huge) ;; *) die "unknown corpus '$c' in BENCH_CORPORA" ;; esac
done

# ---------------------------------------------------------------- tools
command -v git >/dev/null || die "git is not installed"
command -v perl >/dev/null || die "perl is not installed"
if [[ ! -x $dsync ]]; then
	[[ -z ${DSYNC:-} ]] || die "DSYNC=$dsync is not executable"
	log "building dsync in $root/build-bench"
	cmake -S "$root" -B "$root/build-bench" >/dev/null
	make -C "$root/build-bench" -j"$(nproc)" dsync-bin >/dev/null
fi
[[ -x $dsync ]] || die "no dsync binary at $dsync"

# peak RSS: GNU time's %M (Debian package 'time'), else VmHWM from /proc
rss_mode=gnu
if [[ ${BENCH_PROC_RSS:-0} == 1 ]]; then
	rss_mode=proc
elif [[ ! -x /usr/bin/time ]]; then
	log "/usr/bin/time missing; installing Debian package 'time'"
	apt_get=(apt-get)
	((EUID == 0)) || apt_get=(sudo -n apt-get)
	if ! "${apt_get[@]}" install -y -q time >/dev/null 2>&1; then
		"${apt_get[@]}" update -q >/dev/null 2>&1 || true
		"${apt_get[@]}" install -y -q time >/dev/null 2>&1 || true
	fi
	if [[ ! -x /usr/bin/time ]]; then
		log "could not install 'time'; reading VmHWM from /proc instead (dsync only)"
		rss_mode=proc
	fi
fi

# ------------------------------------------------------------ temp space
mkdir -p "$base"
work=$(mktemp -d "$base/dsync-bench.XXXXXX")
bgpid=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $bgpid ]]; then
		kill "$bgpid" 2>/dev/null || true
		wait "$bgpid" 2>/dev/null || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# rough need: pristine corpora + one working copy with its repository
need_mb=0
for c in $corpora; do
	case $c in
	large) ((need_mb += 3 * large_mb + 50)) ;;
	small) ((need_mb += small_files * 13 / 1000 + 50)) ;;
	huge) ((need_mb += 3 * huge_mb + 50)) ;;
	esac
done
((need_mb += 64))
avail_mb=$(df -Pm "$work" | awk 'NR == 2 { print $4 }')
log "temp data in $work: about $need_mb MB needed, $avail_mb MB free"
df -h "$work" >&2
((avail_mb > need_mb + 512)) || die "not enough free space in $base (need about $need_mb MB)"

# --------------------------------------------------------------- corpora
pristine=$work/pristine
mkdir -p "$pristine" "$work/homes"
pool=$work/pool
pool_mb=64
((quick)) && pool_mb=8


random_bytes $((pool_mb << 20)) "$seed" >"$pool"

make_corpus() {
	local c=$1 dir=$pristine/$1
	mkdir -p "$dir"
	case $c in
	large)
		log "generating 'large': $large_files files, $large_mb MB"
		perl "$here/corpus.pl" large "$dir" "$large_files" $((large_mb << 20)) "$seed" "$pool"
		;;
	small)
		log "generating 'small': $small_files files"
		perl "$here/corpus.pl" small "$dir" "$small_files" "$((seed + 1))" "$pool"
		;;
	huge)
		log "generating 'huge': one $huge_mb MB file"
		random_bytes $((huge_mb << 20)) $((seed + 2)) >"$dir/huge.bin"
		;;
	esac
	log "  $(find "$dir" -type f | wc -l) files, $(du -sm --apparent-size "$dir" | cut -f1) MB"
	# warm-up: one untimed read of everything
	find "$dir" -type f -print0 | xargs -0 -r cat >/dev/null
}

# ------------------------------------------------------------ the tools
homes=$work/homes
git_cmd() { # CASE
	case $1 in
	first) echo 'git init -q && git add -A && git commit -q -m first' ;;
	change) echo 'git add -A && git commit -q -m change' ;;
	nochange) echo 'git add -A && { git diff --cached --quiet || git commit -q -m nochange; }' ;;
	esac
}

tmpo=$work/out
# timed DIR HOME CMD...: runs CMD in DIR; sets T (seconds) and RSS (KiB, or -)
timed() {
	local dir=$1 home=$2 t0 t1 rc=0 hwm=0 k v rest
	shift 2
	local envv=(env -i "PATH=$PATH" "HOME=$home" GIT_CONFIG_NOSYSTEM=1 LC_ALL=C)
	sync # writeback from the setup is not charged to the tool
	if [[ $rss_mode == gnu ]]; then
		t0=$(date +%s.%N)
		(cd "$dir" && exec /usr/bin/time -f %M -o "$tmpo.rss" "${envv[@]}" "$@" >"$tmpo.1" 2>"$tmpo.2") || rc=$?
		t1=$(date +%s.%N)
		RSS=$(tail -n 1 "$tmpo.rss")
	else
		t0=$(date +%s.%N)
		(cd "$dir" && exec "${envv[@]}" "$@" >"$tmpo.1" 2>"$tmpo.2") &
		bgpid=$!
		while kill -0 "$bgpid" 2>/dev/null; do
			while read -r k v rest; do
				[[ $k == VmHWM: ]] && ((v > hwm)) && hwm=$v
			done 2>/dev/null <"/proc/$bgpid/status" || true
			sleep 0.01
		done
		wait "$bgpid" || rc=$?
		bgpid=
		t1=$(date +%s.%N)
		# after `env` execs: the tool itself (for git, the bash -c wrapper)
		RSS=$hwm
		[[ $1 == bash ]] && RSS=-
	fi
	if ((rc != 0)); then
		cat "$tmpo.1" "$tmpo.2" >&2
		die "'$*' failed in $dir (exit $rc)"
	fi
	T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

declare -A TIMES RSSES
record() { # KEY
	TIMES[$1]+="$T "
	RSSES[$1]+="$RSS "
}

expect() { # PATTERN WHAT
	grep -Eq "$1" "$tmpo.1" || {
		cat "$tmpo.1" "$tmpo.2" >&2
		die "unexpected output for $2 (wanted /$1/)"
	}
}

# one run of one tool on one corpus: first snapshot, change, no change
run_tool() { # CORPUS TOOL RUN
	local c=$1 tool=$2 r=$3 dir=$work/w-$2 home=$homes/$2-$3 n
	rm -rf "$dir" "$home"
	mkdir -p "$home"
	cp -a "$pristine/$c" "$dir"
	[[ $tool == dsync ]] || bench_git_home "$tool" "$home"

	if [[ $tool == dsync ]]; then
		timed "$dir" "$home" "$dsync" init . --device-name bench
		expect '^first snapshot [0-9a-f]+: ' "dsync init"
	else
		timed "$dir" "$home" bash -c "$(git_cmd first)"
	fi
	record "$c first $tool"

	n=$(perl "$here/corpus.pl" modify "$dir" "$change_pct" "$((seed + 10 + r))" "$pool")
	if [[ $tool == dsync ]]; then
		timed "$dir" "$home" "$dsync" snapshot
		expect "^snapshot [0-9a-f]+: 0 added, $n modified, 0 deleted" "dsync snapshot ($n changed)"
	else
		timed "$dir" "$home" bash -c "$(git_cmd change)"
		[[ $(cd "$dir" && HOME=$home GIT_CONFIG_NOSYSTEM=1 git rev-list --count HEAD) == 2 ]] ||
			die "git did not commit the change"
	fi
	record "$c change $tool"

	if [[ $tool == dsync ]]; then
		timed "$dir" "$home" "$dsync" snapshot
		expect '^nothing changed' "dsync snapshot (nothing changed)"
	else
		timed "$dir" "$home" bash -c "$(git_cmd nochange)"
		[[ $(cd "$dir" && HOME=$home GIT_CONFIG_NOSYSTEM=1 git rev-list --count HEAD) == 2 ]] ||
			die "git committed when nothing changed"
	fi
	record "$c nochange $tool"
	CHANGED=$n
	rm -rf "$dir" "$home"
}

declare -A NCHANGED
tools=(dsync git gitfsync)
for c in $corpora; do
	make_corpus "$c"
	for ((r = 1; r <= runs; r++)); do
		for ((i = 0; i < 3; i++)); do
			# rotate the order from run to run so drift hits every tool
			tool=${tools[(i + r - 1) % 3]}
			log "$c: run $r/$runs, $tool"
			run_tool "$c" "$tool" "$r"
			NCHANGED[$c]=$CHANGED
		done
	done
	rm -rf "${pristine:?}/$c"
done

# ---------------------------------------------------------------- report
median() { # VALUES... ('-' if any is '-')
	printf '%s\n' "$@" | sort -g | awk '
		$1 == "-" { dash = 1 } { a[NR] = $1 }
		END {
			if (dash || NR == 0) { print "-"; exit }
			print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
mb() { if [[ $1 == - ]]; then echo -; else awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; fi; }

describe() {
	case $1 in
	large) echo "large: $large_files files, $large_mb MB" ;;
	small) echo "small: $small_files files" ;;
	huge) echo "huge: one $huge_mb MB file" ;;
	esac
}
case_name() {
	case $1 in
	first) echo "first snapshot" ;;
	change) echo "change $change_pct% (${NCHANGED[$2]} files)" ;;
	nochange) echo "nothing changed" ;;
	esac
}

echo
echo "$("$dsync" version 2>/dev/null | head -n 1) ($dsync) vs $(git --version); medians of $runs run(s)"
echo "git = git defaults; git-fsync = core.fsync=all, core.fsyncMethod=fsync; RSS = peak RSS"
row() { printf '%-34s %9s %9s %9s %9s %9s %9s %9s\n' "$@"; }
for c in $corpora; do
	echo
	row "$(describe "$c")" "dsync s" "git s" "gitfs s" "vs git" "vs gitfs" "dsync MB" "git MB"
	for k in first change nochange; do
		# shellcheck disable=SC2086
		{
			d=$(median ${TIMES[$c $k dsync]})
			g=$(median ${TIMES[$c $k git]})
			f=$(median ${TIMES[$c $k gitfsync]})
			dr=$(median ${RSSES[$c $k dsync]})
			gr=$(median ${RSSES[$c $k git]})
		}
		row "  $(case_name "$k" "$c")" "$d" "$g" "$f" "$(ratio "$d" "$g")" \
			"$(ratio "$d" "$f")" "$(mb "$dr")" "$(mb "$gr")"
	done
done
echo
echo "all runs (seconds):"
for c in $corpora; do
	for k in first change nochange; do
		printf '  %-6s %-9s dsync %-26s git %-26s git-fsync %s\n' "$c" "$k" \
			"${TIMES[$c $k dsync]}" "${TIMES[$c $k git]}" "${TIMES[$c $k gitfsync]}"
	done
done
