#!/usr/bin/env bash
# dsync against its peers in one run: git, restic, borg and rsync on the same
# corpora, for the first snapshot, a 1% change, nothing changed, the first
# push to a local store, a join and a full restore.  Every tool's result is
# checked (the snapshot exists, restored files equal what was saved), so a
# tool that fails shows FAIL, never a time.  See bench/README.md.
#
#   bench/peers.sh              documents, many files, big file at two sizes each
#                               (~21 GB in /tmp, one to two hours), then init-scale.sh
#   bench/peers.sh --quick      tiny corpora, one run each: 1-3 minutes
#
# Settings (environment):
#   BENCH_DOCS="2000:250 200:25"     documents corpora, FILES:MB (corpus.pl large)
#   BENCH_MANY="100000 10000"        many-files corpora, FILES (corpus.pl small)
#   BENCH_BIG="1024 128"             one-file corpora, MB of random bytes
#   BENCH_CORPORA="docs many big"    which kinds run
#   BENCH_TOOLS="dsync git gitfsync restic borg rsync"   which tools run
#   BENCH_RUNS=3                     runs per case; the median is reported
#   BENCH_CHANGE_PCT=1  BENCH_SEED=1  BENCH_DIR=${TMPDIR:-/tmp}
#   BENCH_POOL_MB                    random bytes the corpora are cut from (4x docs)
#   BENCH_SCALE=1                    then bench/init-scale.sh (0: not; --quick: 0)
#   BENCH_SETTLE=SECONDS             wait after freeing a run's files (default 61 on an
#                                    ext4 without a journal, else and for --quick 0: see
#                                    "deleted files" below)
#   DSYNC=path/to/dsync   (default: build-bench/dsync, built if missing)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

. "$here/common.sh"
bench_args 22 "$@"

if ((quick)); then
	: "${BENCH_DOCS:=40:4 10:1}" "${BENCH_MANY:=1000 200}" "${BENCH_BIG:=16 4}"
	: "${BENCH_RUNS:=1}" "${BENCH_SCALE:=0}"
fi
docs=${BENCH_DOCS:-2000:250 200:25}
many=${BENCH_MANY:-100000 10000}
big=${BENCH_BIG:-1024 128}
kinds=${BENCH_CORPORA:-docs many big}
want_tools=${BENCH_TOOLS:-dsync git gitfsync restic borg rsync}
runs=${BENCH_RUNS:-3}
change_pct=${BENCH_CHANGE_PCT:-1}
seed=${BENCH_SEED:-1}
scale=${BENCH_SCALE:-1}
base=${BENCH_DIR:-${TMPDIR:-/tmp}}
dsync=${DSYNC:-$root/build-bench/dsync}

for v in runs change_pct seed scale; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
((runs >= 1)) || die "BENCH_RUNS must be at least 1"
for s in $docs; do [[ $s =~ ^[0-9]+:[0-9]+$ ]] || die "BENCH_DOCS holds '$s', not FILES:MB"; done
for s in $many $big; do [[ $s =~ ^[0-9]+$ ]] || die "BENCH_MANY/BENCH_BIG hold '$s', not a whole number"; done
for k in $kinds; do
	case $k in docs | many | big) ;; *) die "unknown corpus kind '$k' in BENCH_CORPORA" ;; esac
done

# ---------------------------------------------------------------- tools
command -v perl >/dev/null || die "perl is not installed"
[[ -x /usr/bin/time ]] || die "GNU time is not installed (apt-get install time): it measures peak RSS"
apt_install() { # PACKAGE: only as root, quietly; true when it worked
	((EUID == 0)) && command -v apt-get >/dev/null || return 1
	apt-get install -y -q "$1" >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$1" >/dev/null 2>&1; }
}
declare -A HAVE
for t in $want_tools; do
	case $t in
	dsync)
		if [[ ! -x $dsync && -z ${DSYNC:-} ]]; then
			log "building dsync in $root/build-bench"
			cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
			cmake --build "$root/build-bench" --target dsync-bin >/dev/null
		fi
		[[ -x $dsync ]] || die "no dsync binary at $dsync"
		;;
	git | gitfsync) command -v git >/dev/null || { log "git is not installed: skipping $t"; continue; } ;;
	restic) command -v restic >/dev/null || { log "restic is not installed (apt-get install restic): skipping it"; continue; } ;;
	rsync) command -v rsync >/dev/null || { log "rsync is not installed (apt-get install rsync): skipping it"; continue; } ;;
	borg)
		if ! command -v borg >/dev/null; then
			if ((EUID == 0)); then
				log "borg is missing: apt-get install borgbackup"
				apt_install borgbackup || true
			fi
			command -v borg >/dev/null || {
				log "borg is not installed (as root: apt-get install borgbackup): skipping it"
				continue
			}
		fi
		;;
	*) die "unknown tool '$t' in BENCH_TOOLS" ;;
	esac
	HAVE[$t]=1
done
[[ -n ${HAVE[dsync]:-} ]] || die "dsync is not among BENCH_TOOLS"
has() { [[ -n ${HAVE[$1]:-} ]]; }

# ------------------------------------------------------------ temp space
mkdir -p "$base"
work=$(mktemp -d "$base/dsync-peers.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# the largest corpus, about 16 copies of it at once (a run's working copies,
# stores and restores, kept until the run ends), plus the pool (4x the
# largest documents corpus)
need_mb=64
for s in $docs; do ((${s#*:} * 20 > need_mb)) && need_mb=$((${s#*:} * 20)); done
for s in $many; do ((s * 13 * 16 / 1000 > need_mb)) && need_mb=$((s * 13 * 16 / 1000)); done
for s in $big; do ((s * 16 > need_mb)) && need_mb=$((s * 16)); done
avail_mb=$(df -Pm "$work" | awk 'NR == 2 { print $4 }')
log "temp data in $work: about $need_mb MB needed, $avail_mb MB free"
((avail_mb > need_mb + 512)) || die "not enough free space in $base (need about $need_mb MB)"

# corpus.pl cuts files from a pool of random bytes: 4x the largest documents
# corpus keeps the slices mostly distinct (as in bench/sync.sh), so that the
# tools that deduplicate (restic, borg) find little to share, as in real
# documents; a pool smaller than the corpus would hand them repeats
pool=$work/pool
pool_mb=${BENCH_POOL_MB:-}
if [[ -z $pool_mb ]]; then
	pool_mb=64
	((quick)) && pool_mb=8
	for s in $docs; do ((${s#*:} * 4 > pool_mb)) && pool_mb=$((${s#*:} * 4)); done
fi
[[ $pool_mb =~ ^[0-9]+$ ]] || die "BENCH_POOL_MB must be a whole number, not '$pool_mb'"
random_bytes $((pool_mb << 20)) "$seed" >"$pool"
pristine=$work/pristine

# make_corpus KIND SIZE: the corpus in $pristine, read once to warm the cache;
# sets NFILES
make_corpus() {
	discard "$pristine"
	mkdir -p "$pristine"
	case $1 in
	docs) perl "$here/corpus.pl" large "$pristine" "${2%:*}" $((${2#*:} << 20)) "$seed" "$pool" ;;
	many) perl "$here/corpus.pl" small "$pristine" "$2" "$((seed + 1))" "$pool" ;;
	big) random_bytes $(($2 << 20)) $((seed + 2)) >"$pristine/big.bin" ;;
	esac
	# files last written two hours ago, as a real folder's mostly are: no
	# tool then takes a file for changed, or re-reads it, because its mtime
	# is too recent to trust (git's "racily clean", borg's files cache)
	find "$pristine" -type f -print0 | xargs -0 -r touch -d "@$(($(date +%s) - 7200))"
	touch -d "@$(($(date +%s) - 3600))" "$work/stamp"
	NFILES=$(find "$pristine" -type f | wc -l)
	log "  $NFILES files, $(du -sm --apparent-size "$pristine" | cut -f1) MB"
	find "$pristine" -type f -print0 | xargs -0 -r cat >/dev/null
}
describe() { # KIND SIZE
	case $1 in
	docs) echo "documents: ${2%:*} files, ${2#*:} MB" ;;
	many) echo "many files: $2" ;;
	big) echo "big file: $2 MB" ;;
	esac
}

# ------------------------------------------------------ deleted files
# Nothing is deleted while a run goes on: a tool's folders are moved to the
# trash, emptied after the run, and the next run waits BENCH_SETTLE seconds.
# On an ext4 without a journal (this kind of VM's disk), creating a file
# skips every inode freed in the last 60 seconds one by one (the kernel's
# recently_deleted(), reading each one's inode block), so a restore of 2,000
# files right after an `rm -rf` of 2,000 others spent a third of its time
# there, and at 100,000 files the join and restore doubled from run to run:
# whichever tool ran after a deletion paid for it.
trash=$work/trash
ntrash=0
mkdir -p "$trash"
discard() { # PATH...: out of the way until the run ends
	local p
	for p; do
		[[ -e $p || -L $p ]] || continue
		ntrash=$((ntrash + 1))
		mv -T "$p" "$trash/$ntrash"
	done
}
nojournal() { # DIR: on an ext4 that has no journal
	local dev task
	dev=$(df -P "$1" | awk 'NR == 2 { print $1 }')
	task=/sys/fs/ext4/${dev##*/}/journal_task
	[[ -r $task && $(cat "$task") == "<none>" ]]
}
settle=${BENCH_SETTLE:-}
if [[ -z $settle ]]; then
	settle=0
	# --quick's corpora free a few hundred files: not worth the wait
	((!quick)) && nojournal "$work" && settle=61
fi
[[ $settle =~ ^[0-9]+$ ]] || die "BENCH_SETTLE must be a whole number of seconds, not '$settle'"
freed_at=0
empty_trash() { # after a run: free its files, and note when
	rm -rf "$trash"
	mkdir -p "$trash"
	sync
	freed_at=$(date +%s)
}
settle_wait() { # before a run: BENCH_SETTLE seconds after the last freeing
	local left=$((freed_at + settle - $(date +%s)))
	((left > 0)) || return 0
	log "  waiting ${left} s for the freed files to settle (BENCH_SETTLE)"
	sleep "$left"
}

# ----------------------------------------------------- timing, checking
declare -A TIMES RSSES FAILED
bad=0
out=$work/out
# envv HOME: E, the environment every tool runs in; nothing from the caller's
envv() {
	E=(env -i "PATH=$PATH" "HOME=$1" "XDG_CONFIG_HOME=$1/.config" "XDG_CACHE_HOME=$1/.cache" LC_ALL=C
		GIT_CONFIG_NOSYSTEM=1 DSYNC_PASSPHRASE=bench-passphrase RESTIC_PASSWORD=bench-passphrase
		"RESTIC_CACHE_DIR=$1/.cache/restic" BORG_PASSPHRASE=bench-passphrase)
}
fail() { # KEY WHY: KEY's figures become FAIL
	FAILED[$1]=1
	bad=1
	log "FAIL $1: $2"
}
# timed KEY DIR HOME CMD...: runs CMD in DIR in HOME's environment after a
# sync (writeback from the setup is not charged to it); records wall-clock
# seconds and GNU time's peak RSS (KiB; of a bash -c: its largest descendant)
# under KEY.  Output in $out.1 and $out.2.  A failing CMD is a FAIL: returns 1.
timed() {
	local key=$1 dir=$2 t0 t1 rc=0
	envv "$3"
	shift 3
	sync
	t0=$(date +%s.%N)
	(cd "$dir" && exec /usr/bin/time -f %M -o "$out.rss" "${E[@]}" "$@" >"$out.1" 2>"$out.2") || rc=$?
	t1=$(date +%s.%N)
	if ((rc != 0)); then
		tail -n 15 "$out.1" "$out.2" >&2
		fail "$key" "'$*' exited $rc"
		return 1
	fi
	TIMES[$key]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') "
	RSSES[$key]+="$(tail -n 1 "$out.rss") "
}
# untimed KEY DIR HOME CMD...: a setup step; failing, it fails KEY
untimed() {
	local key=$1 dir=$2 rc=0
	envv "$3"
	shift 3
	(cd "$dir" && exec "${E[@]}" "$@" >"$out.1" 2>"$out.2") || rc=$?
	((rc == 0)) && return 0
	tail -n 15 "$out.1" "$out.2" >&2
	fail "$key" "setup step '$*' exited $rc"
	return 1
}
# check KEY WHAT CMD...: CMD must succeed, else KEY is a FAIL (returns 1)
check() {
	local key=$1 what=$2
	shift 2
	"$@" >"$out.c" 2>&1 && return 0
	tail -n 15 "$out.c" >&2
	fail "$key" "$what"
	return 1
}
# the files of DIR equal those of REF, none missing or extra (the tools' own
# folders aside)
same() { diff -r -q -x .dsync -x .git "$1" "$2"; }
# the last timed command printed a line matching ERE
printed() { grep -Eq "$1" "$out.1" "$out.2"; }
# N CMD...: CMD prints N lines
lines() {
	local got
	got=$("${@:2}") || :
	[[ $(printf '%s' "$got" | grep -c '') == "$1" ]] && return 0
	printf '%s\n' "$got" | head -n 10
	echo "'${*:2}' printed $(printf '%s' "$got" | grep -c '') lines, not $1"
	return 1
}
# read_anew LIST OUT: every file in LIST has an A or M line in borg's OUT
read_anew() {
	local missing
	missing=$(sed -n 's/^[AM] //p' "$2" | sort | comm -23 "$1" -)
	[[ -s $1 && -z $missing ]] || { echo "not read anew: ${missing:-(no changed files)}"; return 1; }
}
# only_changed LIST OUT: borg's OUT names no file outside LIST, and no error
only_changed() {
	local extra
	extra=$(sed -n 's/^[AM] //p' "$2" | sort | comm -13 "$1" -)
	[[ -z $extra ]] || { echo "read anew: $extra"; return 1; }
	! grep '^E ' "$2"
}
last() { echo "${!#}"; }
modify() { perl "$here/corpus.pl" modify "$1" "$change_pct" "$((seed + 10 + $2))" "$pool"; }

# ------------------------------------------------------------ the tools
# Each tool works on its own fresh copy (cp -a) of the corpus, except that
# restic, borg and rsync, which only read the folder, share one.  Keys are
# "CORPUS|CASE|TOOL".

run_dsync() { # C RUN
	local c=$1 w=$work/w-dsync h=$work/h-dsync hj=$work/hj-dsync r=$work/r-dsync j=$work/j-dsync d=$work/d-dsync
	local first n
	discard "$w" "$h" "$hj" "$r" "$j" "$d"
	mkdir -p "$h" "$hj"
	cp -a "$pristine" "$w"
	timed "$c|first|dsync" "$w" "$h" "$dsync" init . --device-name bench || return 0
	check "$c|first|dsync" "no 'first snapshot' line" printed '^first snapshot [0-9a-f]+: ' || return 0
	first=$(sed -n 's/^first snapshot \([0-9a-f]*\): .*/\1/p' "$out.1")
	untimed "$c|push|dsync" "$w" "$h" "$dsync" remote add r "file://$r" || return 0
	timed "$c|push|dsync" "$w" "$h" "$dsync" push r --quiet &&
		TIMES[$c|initpush|dsync]+="$(awk -v a="$(last ${TIMES[$c|first|dsync]})" \
			-v b="$(last ${TIMES[$c|push|dsync]})" 'BEGIN { printf "%.3f", a + b }') " || :
	# a new device joins right after the first push: what it gets is what
	# that push sent, and must be the corpus
	timed "$c|join|dsync" "$work" "$hj" "$dsync" join "file://$r" "$j" --device-name join --quiet &&
		check "$c|join|dsync" "the joined folder differs from the corpus" same "$pristine" "$j" || :
	discard "$j" "$r" "$hj"
	n=$(modify "$w" "$2")
	timed "$c|change|dsync" "$w" "$h" "$dsync" snapshot &&
		check "$c|change|dsync" "not $n files modified" printed "^snapshot [0-9a-f]+: 0 added, $n modified, 0 deleted" || :
	timed "$c|nochange|dsync" "$w" "$h" "$dsync" snapshot &&
		check "$c|nochange|dsync" "not 'nothing changed'" printed '^nothing changed' || :
	timed "$c|restore|dsync" "$w" "$h" "$dsync" restore . --at "$first" --to "$d" &&
		check "$c|restore|dsync" "the restored first snapshot differs from the corpus" same "$pristine" "$d" || :
	discard "$w" "$h" "$d"
}

run_git() { # C RUN VARIANT
	local c=$1 v=$3 w=$work/w-$3 h=$work/h-$3 d=$work/d-$3 n
	discard "$w" "$h" "$d"
	bench_git_home "$v" "$h"
	cp -a "$pristine" "$w"
	timed "$c|first|$v" "$w" "$h" bash -c 'git init -q && git add -A && git commit -q -m first' || return 0
	check "$c|first|$v" "the commit lacks files" lines "$NFILES" git -C "$w" ls-tree -r --name-only HEAD || return 0
	n=$(modify "$w" "$2")
	timed "$c|change|$v" "$w" "$h" bash -c 'git add -A && git commit -q -m change' &&
		check "$c|change|$v" "not $n files changed" lines "$n" git -C "$w" diff --name-only HEAD~ HEAD || :
	timed "$c|nochange|$v" "$w" "$h" bash -c 'git add -A && { git diff --cached --quiet || git commit -q -m nochange; }' &&
		check "$c|nochange|$v" "a commit or a change when nothing changed" \
			eval "[[ \$(git -C '$w' rev-list --count HEAD) == 2 && -z \$(git -C '$w' status --porcelain) ]]" || :
	# the first commit into an empty folder, through an index of its own
	mkdir -p "$d"
	timed "$c|restore|$v" "$w" "$h" bash -c \
		'GIT_INDEX_FILE="$1" git --work-tree="$2" checkout -q -f "$(git rev-list --max-parents=0 HEAD)" -- .' - \
		"$work/index-$v" "$d" &&
		check "$c|restore|$v" "the checkout differs from the corpus" same "$pristine" "$d" || :
	discard "$w" "$h" "$d" "$work/index-$v"
}

# restic, borg and rsync on one copy (they only read it)
run_peers() { # C RUN
	local c=$1 w=$work/w-peers h=$work/h-peers hj=$work/hj-peers rr=$work/r-restic rb=$work/r-borg
	local rs=$work/rsync d=$work/d-peers n rfirst
	local restic=(restic -r "$rr")
	discard "$w" "$h" "$hj" "$rr" "$rb" "$rs" "$d"
	mkdir -p "$h" "$hj"
	cp -a "$pristine" "$w"
	local r_ok=0 b_ok=0
	if has restic && untimed "$c|first|restic" "$w" "$h" restic -r "$rr" init --repository-version 2; then
		if timed "$c|first|restic" "$w" "$h" "${restic[@]}" backup --host bench . &&
			check "$c|first|restic" "no snapshot saved" printed '^snapshot [0-9a-f]+ saved'; then
			rfirst=$(sed -n 's/^snapshot \([0-9a-f]*\) saved.*/\1/p' "$out.1")
			r_ok=1
		fi
	fi
	if has borg && untimed "$c|first|borg" "$w" "$h" borg init -e repokey "$rb"; then
		# --stats: "Archive name: first" ... "Number of files: N", once it is saved
		timed "$c|first|borg" "$w" "$h" borg create --stats "$rb::first" . &&
			check "$c|first|borg" "no archive of every file" printed "^Number of files: $NFILES\$" && b_ok=1 || :
	fi
	if ((r_ok)); then
		# a new device (its own empty cache) restores the latest snapshot
		timed "$c|join|restic" "$work" "$hj" "${restic[@]}" restore latest --target "$d" &&
			check "$c|join|restic" "the restored snapshot differs from the corpus" same "$pristine" "$d" || :
		discard "$d"
	fi
	if has rsync; then
		timed "$c|push|rsync" "$work" "$h" rsync -a "$w/" "$rs/" &&
			check "$c|push|rsync" "rsync's copy differs from the corpus" same "$pristine" "$rs" || :
		discard "$rs"
	fi
	n=$(modify "$w" "$2")
	# restic 0.14 prints "Files:           0 new,     5 changed,    95 unmodified"
	if ((r_ok)); then
		timed "$c|change|restic" "$w" "$h" "${restic[@]}" backup --host bench . &&
			check "$c|change|restic" "not $n files changed" printed "^Files: +0 new, +$n changed" || :
		timed "$c|nochange|restic" "$w" "$h" "${restic[@]}" backup --host bench . &&
			check "$c|nochange|restic" "a change when nothing changed" printed '^Files: +0 new, +0 changed' || :
	fi
	# borg --list --filter=AME names the files it read and stored anew (A or
	# M) and those it failed on (E): the changed files (written since the
	# stamp) must be among them.  With nothing changed it reads again only
	# those (it keeps no file written within its last run in its files cache)
	if ((b_ok)); then
		(cd "$w" && find . -type f -newer "$work/stamp" | sed 's|^\./||' | sort) >"$work/changed"
		timed "$c|change|borg" "$w" "$h" borg create --stats --list --filter=AME "$rb::change" . &&
			check "$c|change|borg" "changed files not read anew" read_anew "$work/changed" "$out.2" &&
			check "$c|change|borg" "files failed" lines 0 grep '^E ' "$out.2" &&
			check "$c|change|borg" "no archive of every file" printed "^Number of files: $NFILES\$" || :
		timed "$c|nochange|borg" "$w" "$h" borg create --stats --list --filter=AME "$rb::nochange" . &&
			check "$c|nochange|borg" "unchanged files read anew, or failed" only_changed "$work/changed" "$out.2" &&
			check "$c|nochange|borg" "no archive of every file" printed "^Number of files: $NFILES\$" || :
	fi
	if ((r_ok)); then
		timed "$c|restore|restic" "$work" "$h" "${restic[@]}" restore "$rfirst" --target "$d" &&
			check "$c|restore|restic" "the restored first snapshot differs from the corpus" same "$pristine" "$d" || :
		discard "$d"
	fi
	if ((b_ok)); then
		mkdir -p "$d"
		timed "$c|restore|borg" "$d" "$h" borg extract "$rb::first" &&
			check "$c|restore|borg" "the extracted first archive differs from the corpus" same "$pristine" "$d" || :
		discard "$d"
	fi
	discard "$w" "$h" "$hj" "$rr" "$rb"
}

# ------------------------------------------------------------ the runs
groups=(dsync)
for t in git gitfsync; do has "$t" && groups+=("$t"); done
{ has restic || has borg || has rsync; } && groups+=(peers)
corpora=()
for k in $kinds; do
	case $k in
	docs) for s in $docs; do corpora+=("docs $s"); done ;;
	many) for s in $many; do corpora+=("many $s"); done ;;
	big) for s in $big; do corpora+=("big $s"); done ;;
	esac
done
declare -A NCHANGED
for cs in "${corpora[@]}"; do
	read -r kind size <<<"$cs"
	c="$kind $size"
	log "corpus: $(describe $kind $size)"
	make_corpus "$kind" "$size"
	for ((r = 1; r <= runs; r++)); do
		settle_wait
		for ((i = 0; i < ${#groups[@]}; i++)); do
			# the order rotates from run to run so that drift hits every tool
			g=${groups[(i + r - 1) % ${#groups[@]}]}
			log "$(describe $kind $size): run $r/$runs, $g"
			case $g in
			dsync) run_dsync "$c" "$r" ;;
			git | gitfsync) run_git "$c" "$r" "$g" ;;
			peers) run_peers "$c" "$r" ;;
			esac
		done
		empty_trash
	done
	NCHANGED[$c]=$(modify "$pristine" 1)
	discard "$pristine"
done

# ---------------------------------------------------------------- report
median() { # VALUES...
	printf '%s\n' "$@" | sort -g | awk 'NF { a[++n] = $1 }
		END { if (n == 0) print "-"; else print (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }'
}
# cell KIND(t|m) C CASE TOOL: the median time, or peak RSS in MB; FAIL; - (not run)
cell() {
	local k="$2|$3|$4" v
	if [[ -n ${FAILED[$k]:-} ]]; then
		echo FAIL
		return
	fi
	# shellcheck disable=SC2086
	if [[ $1 == t ]]; then
		v=$(median ${TIMES[$k]:-})
		[[ $v == - ]] && echo - || printf '%.2f\n' "$v"
	else
		v=$(median ${RSSES[$k]:-})
		[[ $v == - ]] && echo - || awk -v k="$v" 'BEGIN { printf "%.0f\n", k / 1024 }'
	fi
}
# which peer's figure stands in a row: the push row takes restic's and borg's
# first backup (their first snapshot is their first push)
peer_case() { # CASE TOOL
	case $1:$2 in
	push:restic | push:borg | initpush:restic | initpush:borg) echo first ;;
	initpush:rsync) echo push ;;
	*) echo "$1" ;;
	esac
}
case_name() { # CASE C
	case $1 in
	first) echo "first snapshot" ;;
	change) echo "change $change_pct% (${NCHANGED[$2]} files)" ;;
	nochange) echo "nothing changed" ;;
	push) echo "first push (push alone)" ;;
	initpush) echo "first push (init + push)" ;;
	join) echo "join (new device)" ;;
	restore) echo "full restore (first snapshot)" ;;
	esac
}
peers=(git gitfsync restic borg rsync)
# applies CASE PEER: the peer has a figure in that row
applies() {
	case $1:$2 in
	first:rsync | change:rsync | nochange:rsync | restore:rsync) return 1 ;;
	push:git* | initpush:git* | join:git* | join:borg | join:rsync) return 1 ;;
	esac
	return 0
}
row() { printf '%-32s %8s %8s %8s %8s %8s %8s  %-9s %7s\n' "$@"; }
echo
echo "$("$dsync" version 2>/dev/null | head -n 1) ($dsync), $(git --version), $(restic version 2>/dev/null |
	cut -d' ' -f1-2), $(borg --version 2>/dev/null), $(rsync --version 2>/dev/null | head -n 1 | cut -d' ' -f1-4)"
echo "seconds: medians of $runs run(s), warm cache; MB: peak RSS (GNU time); vs best: dsync / the fastest peer"
echo "git-fs = git with core.fsync=all; restic, borg: backup to a local repository (encrypted, compressed);"
echo "join = dsync join vs restic restore of the latest snapshot; FAIL: the tool failed or its result was wrong"
for cs in "${corpora[@]}"; do
	read -r kind size <<<"$cs"
	c="$kind $size"
	echo
	row "$(describe $kind $size)" dsync git git-fs restic borg rsync "best peer" "vs best"
	for k in first change nochange push initpush join restore; do
		d=$(cell t "$c" "$k" dsync)
		cells=() rss=() best=- bestv=
		for p in "${peers[@]}"; do
			v=- m=-
			if applies "$k" "$p"; then
				v=$(cell t "$c" "$(peer_case "$k" "$p")" "$p")
				m=$(cell m "$c" "$(peer_case "$k" "$p")" "$p")
			fi
			cells+=("$v")
			rss+=("$m")
			if [[ $v =~ ^[0-9.]+$ ]] && { [[ -z $bestv ]] || awk -v a="$v" -v b="$bestv" 'BEGIN { exit !(a < b) }'; }; then
				best=$p bestv=$v
			fi
		done
		vs=-
		[[ $d =~ ^[0-9.]+$ && -n $bestv ]] && vs=$(awk -v a="$d" -v b="$bestv" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')
		row "  $(case_name $k "$c")" "$d" "${cells[@]}" "$best" "$vs"
		[[ $k == initpush ]] || row "    peak MB" "$(cell m "$c" "$k" dsync)" "${rss[@]}" "" ""
	done
done
echo
echo "all runs (seconds):"
for cs in "${corpora[@]}"; do
	read -r kind size <<<"$cs"
	c="$kind $size"
	for k in first change nochange push initpush join restore; do
		line=
		for p in dsync "${peers[@]}"; do
			[[ -n ${TIMES[$c|$k|$p]:-} ]] && line+=" $p ${TIMES[$c|$k|$p]}"
			[[ -n ${FAILED[$c|$k|$p]:-} ]] && line+=" $p FAIL"
		done
		[[ -n $line ]] && printf '  %-12s %-9s%s\n' "$c" "$k" "$line"
	done
done

if ((scale)); then
	echo
	echo "first snapshot as the tree grows (bench/init-scale.sh):"
	scale_args=()
	((quick)) && scale_args=(--quick)
	DSYNC=$dsync BENCH_DIR=$base BENCH_SEED=$seed "$here/init-scale.sh" "${scale_args[@]}" || bad=1
fi
((bad == 0)) || { log "some tool failed or gave a wrong result: see FAIL above"; exit 1; }
