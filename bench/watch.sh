#!/usr/bin/env bash
# dsync watch benchmark: `dsync watch` against the gitwatch loop
# (inotifywait + git add/commit), and dsync's store against git's after gc.
# See bench/README.md.
#
#   bench/watch.sh            full run (about 15 minutes, about 2 GB of temp space)
#   bench/watch.sh --quick    small sizes, smoke test (about 3 minutes)
#
# Parts (BENCH_PARTS="latency idle disk"):
#   latency  save-to-commit latency of BENCH_SAVES editor-style saves in a
#            folder of BENCH_LAT_FILES files: dsync watch --delay D vs gitwatch
#            with the same delay D
#   idle     BENCH_IDLE_FILES files: start-up time, CPU over BENCH_IDLE_SECONDS
#            idle seconds, RSS; dsync watch, dsync daemon and gitwatch
#   disk     BENCH_DISK_SAVES one-line saves of a BENCH_DISK_KB KiB text file:
#            dsync snapshot + dsync gc vs git commit + git gc, size of the store
#
# Settings (environment):
#   BENCH_SAVES=100          BENCH_DELAY=1        BENCH_GAP=0.2 (s between saves)
#   BENCH_LAT_FILES=300      BENCH_LAT_MB=30
#   BENCH_IDLE_FILES=100000  BENCH_IDLE_SECONDS=60 BENCH_IDLE_SAVES=5
#   BENCH_DISK_SAVES=500     BENCH_DISK_KB=1024
#   BENCH_SEED=1  BENCH_DIR=${TMPDIR:-/tmp}  BENCH_PARTS="latency idle disk"
#   DSYNC=path/to/dsync   (default: build-benchw/dsync, built or brought up to date)
#   BENCH_LOGS=DIR        keep the watchers' logs and per-save times there
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

. "$here/common.sh"
bench_args 27 "$@"

if ((quick)); then
	: "${BENCH_SAVES:=20}" "${BENCH_LAT_FILES:=100}" "${BENCH_LAT_MB:=5}"
	: "${BENCH_IDLE_FILES:=10000}" "${BENCH_IDLE_SECONDS:=15}" "${BENCH_IDLE_SAVES:=3}"
	: "${BENCH_DISK_SAVES:=100}"
fi
saves=${BENCH_SAVES:-100}
delay=${BENCH_DELAY:-1}
gap=${BENCH_GAP:-0.2}
lat_files=${BENCH_LAT_FILES:-300}
lat_mb=${BENCH_LAT_MB:-30}
idle_files=${BENCH_IDLE_FILES:-100000}
idle_secs=${BENCH_IDLE_SECONDS:-60}
idle_saves=${BENCH_IDLE_SAVES:-5}
disk_saves=${BENCH_DISK_SAVES:-500}
disk_kb=${BENCH_DISK_KB:-1024}
seed=${BENCH_SEED:-1}
parts=${BENCH_PARTS:-latency idle disk}
base=${BENCH_DIR:-${TMPDIR:-/tmp}}
dsync=${DSYNC:-$root/build-benchw/dsync}


for v in saves lat_files lat_mb idle_files idle_secs idle_saves disk_saves disk_kb seed; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
for v in delay gap; do
	[[ ${!v} =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$v must be a number of seconds, not '${!v}'"
done
((saves >= 1 && idle_files >= 100 && disk_saves >= 1 && disk_kb >= 1)) || die "sizes too small"
for p in $parts; do
	case $p in latency | idle | disk) ;; *) die "unknown part '$p' in BENCH_PARTS" ;; esac
done
has_part() { [[ " $parts " == *" $1 "* ]]; }

# ---------------------------------------------------------------- tools
command -v git >/dev/null || die "git is not installed"
command -v perl >/dev/null || die "perl is not installed"
if [[ -z ${DSYNC:-} ]]; then
	# always bring the bench build up to date: it must be the source under test
	if [[ ! -f $root/build-benchw/CMakeCache.txt ]]; then
		log "configuring dsync in $root/build-benchw"
		cmake -S "$root" -B "$root/build-benchw" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	fi
	src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$root/build-benchw/CMakeCache.txt")
	[[ $src -ef $root ]] || die "$root/build-benchw builds $src, not $root: remove it, or set DSYNC"
	log "building dsync in $root/build-benchw"
	cmake --build "$root/build-benchw" -j"$(nproc)" --target dsync-bin >/dev/null
fi
[[ -x $dsync ]] || die "no dsync binary at $dsync"
dsync=$(cd "$(dirname "$dsync")" && pwd)/$(basename "$dsync")

have_watch=1
if ! "$dsync" help watch >/dev/null 2>&1; then
	have_watch=0
	log "NOTE: $dsync has no 'watch' command yet: the dsync watch/daemon figures are skipped"
fi
have_inw=1
if ! command -v inotifywait >/dev/null; then
	have_inw=0
	log "NOTE: inotifywait is not installed (Debian: apt-get install inotify-tools):" \
		"the gitwatch figures are skipped"
fi
clk_tck=$(getconf CLK_TCK)

# ------------------------------------------------------------ temp space
mkdir -p "$base"
work=$(mktemp -d "$base/dsync-watchbench.XXXXXX")
# processes this script started and must stop: pid -> how (pid | group)
declare -A RUNNING=()
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${!RUNNING[@]}"; do
		if [[ ${RUNNING[$pid]} == group ]]; then
			kill -TERM -- "-$pid" 2>/dev/null || true
		else
			kill -TERM "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n ${BENCH_LOGS:-} ]]; then
		if mkdir -p "$BENCH_LOGS"; then
			cp "$work"/*.log "$work"/*.txt "$BENCH_LOGS/" 2>/dev/null || true
		fi
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need_mb=64
has_part latency && ((need_mb += 3 * lat_mb + 32))
has_part idle && ((need_mb += idle_files * 30 / 1000 + 64))
has_part disk && ((need_mb += disk_saves * disk_kb * 3 / 1024 + 64))
avail_mb=$(df -Pm "$work" | awk 'NR == 2 { print $4 }')
log "temp data in $work: about $need_mb MB needed, $avail_mb MB free"
((avail_mb > need_mb + 512)) || die "not enough free space in $base (need about $need_mb MB)"

pool=$work/pool
random_bytes $((16 << 20)) "$seed" >"$pool"

# ------------------------------------------------------------ helpers
helper=$work/helper.pl
cat >"$helper" <<'PERL'
use strict;
use warnings;
use Time::HiRes qw(time sleep);

# the commit a branch points at: the loose ref, else packed-refs
sub read_ref {
	my ($gitdir) = @_;
	if (open(my $fh, '<', "$gitdir/refs/heads/main")) {
		my $v = <$fh> // '';
		chomp $v;
		return $v if $v ne '';
	}
	if (open(my $fh, '<', "$gitdir/packed-refs")) {
		while (<$fh>) {
			return $1 if m{^([0-9a-f]+) refs/heads/main$};
		}
	}
	return '';
}

sub slurp {
	my ($p) = @_;
	open(my $fh, '<:raw', $p) or die "cannot read '$p': $!\n";
	local $/;
	my $d = <$fh>;
	return $d // '';
}

sub spew {
	my ($p, $d) = @_;
	# like an editor that saves in place: truncate, write, close
	open(my $fh, '>:raw', $p) or die "cannot write '$p': $!\n";
	print $fh $d or die "cannot write '$p': $!\n";
	close($fh) or die "cannot write '$p': $!\n";
}

sub list_text {
	my ($dir, $rel, $out) = @_;
	opendir(my $dh, "$dir/$rel") or die "cannot read '$dir/$rel': $!\n";
	my @e = sort grep { !/^\.\.?$/ && $_ ne '.git' && $_ ne '.dsync' } readdir($dh);
	closedir($dh);
	for my $e (@e) {
		my $r = $rel eq '' ? $e : "$rel/$e";
		my $p = "$dir/$r";
		next if -l $p;
		if (-d _) {
			list_text($dir, $r, $out);
		} elsif (-f _ && -s _ <= 262144 && $e =~ /\.(txt|md|csv|html|tex)$/) {
			push @$out, $r;
		}
	}
}

my $cmd = shift @ARGV // '';
if ($cmd eq 'waitline') {
	# FILE REGEX T0 TIMEOUT PID: seconds from T0 to the first line matching
	my ($file, $re, $t0, $timeout, $pid) = @ARGV;
	my $pos = 0;
	while (1) {
		if (open(my $fh, '<', $file)) {
			local $/;
			my $d = <$fh> // '';
			if ($d =~ /$re/m) {
				printf "%.3f\n", time() - $t0;
				exit 0;
			}
		}
		exit 3 if $pid && !kill(0, $pid);
		exit 4 if time() - $t0 > $timeout;
		sleep(0.005);
	}
} elsif ($cmd eq 'saves') {
	# DIR GITDIR N SEED TIMEOUT GAP TAG: N saves of text files of DIR, each
	# timed from just before the write until GITDIR's main moves.
	# Prints "I SECONDS FILE" (SECONDS "timeout" when it did not move).
	my ($dir, $gitdir, $n, $seed, $timeout, $gap, $tag) = @ARGV;
	my @files;
	list_text($dir, '', \@files);
	die "no text files to save in '$dir'\n" unless @files;
	srand($seed);
	for (my $i = @files - 1; $i > 0; $i--) {
		my $j = int(rand($i + 1));
		@files[$i, $j] = @files[$j, $i];
	}
	$| = 1;
	for my $i (1 .. $n) {
		my $f = $files[($i - 1) % @files];
		my @l = split /(?<=\n)/, slurp("$dir/$f");
		my $k = ($i * 7919) % (@l || 1);
		$l[$k] = sprintf("%-62.62s\n", "$tag save $i, line $k: " . ('-' x 62));
		my $data = join('', @l);
		my $old = read_ref($gitdir);
		my $t0 = time();
		spew("$dir/$f", $data);
		my $new;
		while (1) {
			$new = read_ref($gitdir);
			last if $new ne $old;
			if (time() - $t0 > $timeout) {
				$new = undef;
				last;
			}
			sleep(0.005);
		}
		my $t1 = time();
		if (defined $new) {
			printf "%d %.4f %s\n", $i, $t1 - $t0, $f;
		} else {
			printf "%d timeout %s\n", $i, $f;
		}
		sleep($gap) if $gap > 0;
	}
} elsif ($cmd eq 'stats') {
	# FILE (from saves): "N MEDIAN P95 MAX MEAN MISSED"
	my ($file) = @ARGV;
	open(my $fh, '<', $file) or die "cannot read '$file': $!\n";
	my (@v, $missed);
	$missed = 0;
	while (<$fh>) {
		my (undef, $s) = split;
		if ($s eq 'timeout') { $missed++ } else { push @v, $s }
	}
	@v = sort { $a <=> $b } @v;
	my $n = @v;
	if (!$n) { print "0 - - - - $missed\n"; exit 0 }
	my $med = $n % 2 ? $v[($n - 1) / 2] : ($v[$n / 2 - 1] + $v[$n / 2]) / 2;
	my $r = int(0.95 * $n + 0.999999);    # nearest rank
	$r = 1 if $r < 1;
	my $sum = 0;
	$sum += $_ for @v;
	printf "%d %.3f %.3f %.3f %.3f %d\n", $n, $med, $v[$r - 1], $v[-1], $sum / $n, $missed;
} elsif ($cmd eq 'textfile') {
	# FILE KIB POOL: a text file of 64-byte hex lines
	my ($file, $kib, $poolpath) = @ARGV;
	my $pool = slurp($poolpath);
	my $lines = $kib * 16;
	my $d = '';
	for my $i (0 .. $lines - 1) {
		$d .= unpack('H*', substr($pool, ($i * 31) % (length($pool) - 32), 31)) . "a\n";
	}
	spew($file, $d);
} elsif ($cmd eq 'disk') {
	# ADIR BDIR FILE N SEED DSYNC: N saves of ADIR/FILE and BDIR/FILE, each
	# changing one line, taken by `dsync snapshot` in ADIR and
	# `git add -A && git commit` in BDIR. Prints total seconds of each.
	my ($a, $b, $file, $n, $seed, $dsync) = @ARGV;
	srand($seed);
	my @l = split /(?<=\n)/, slurp("$a/$file");
	my ($td, $tg) = (0, 0);
	for my $i (1 .. $n) {
		my $k = int(rand(@l));
		my $len = length($l[$k]) - 1;
		my $s = '';
		$s .= sprintf('%08x', int(rand(2**32))) while length($s) < $len;
		$l[$k] = substr($s, 0, $len) . "\n";
		my $data = join('', @l);
		spew("$a/$file", $data);
		spew("$b/$file", $data);
		my $t = time();
		chdir($a) or die "cd '$a': $!\n";
		system($dsync, 'snapshot', '--quiet') == 0 or die "dsync snapshot failed (save $i)\n";
		$td += time() - $t;
		$t = time();
		system('git', '-C', $b, 'add', '-A') == 0 or die "git add failed (save $i)\n";
		system('git', '-C', $b, 'commit', '-q', '-m', "save $i") == 0
		    or die "git commit failed (save $i)\n";
		$tg += time() - $t;
	}
	printf "%.3f %.3f\n", $td, $tg;
} else {
	die "helper.pl: unknown command '$cmd'\n";
}
PERL
hp() { perl "$helper" "$@"; }

# the loop gitwatch.sh runs with its default options, from gitwatch.sh at
# github.com/gitwatch/gitwatch (master, 2026-03): inotifywait -qmr -e
# close_write,move,move_self,delete,create,modify --exclude '(\.git/|\.git$)'
# DIR | while read; kill the pending timer; (sleep SLEEP_TIME; perform_commit) &
# perform_commit: `git status -s`, and if it lists anything `git add --all .`
# and `git commit -m"Scripted auto-commit on change (DATE) by gitwatch.sh"`.
# Two differences that change nothing in what it does: inotifywait runs without
# -q, so that "Watches established." (stderr) says when it is ready, and it
# writes into a fifo rather than a pipe, so that its pid is known.
gitwatch=$work/gitwatch-loop.sh
cat >"$gitwatch" <<'GITWATCH'
#!/usr/bin/env bash
TARGETDIR=$1 SLEEP_TIME=$2 FIFO=$3 PIDFILE=$4
DATE_FMT="+%Y-%m-%d %H:%M:%S"
COMMITMSG="Scripted auto-commit on change (%d) by gitwatch.sh"
cd "$TARGETDIR" || exit 5
perform_commit() {
	local LOCAL_FORMATTED_COMMITMSG STATUS
	LOCAL_FORMATTED_COMMITMSG="${COMMITMSG/\%d/$(date "$DATE_FMT")}"
	STATUS=$(git status -s)
	if [ -n "$STATUS" ]; then
		git add --all .
		git commit -m"$LOCAL_FORMATTED_COMMITMSG"
	fi
}
inotifywait -mr -e close_write,move,move_self,delete,create,modify \
	--exclude '(\.git/|\.git$)' "$TARGETDIR" >"$FIFO" &
echo $! >"$PIDFILE"
SLEEP_PID=
while read -r line; do
	if [[ "$line" =~ (^|.*/)\.git(/|$) ]]; then
		continue
	fi
	if [[ -n $SLEEP_PID ]] && kill -0 "$SLEEP_PID" &>/dev/null; then
		kill "$SLEEP_PID" &>/dev/null || true
		wait "$SLEEP_PID" &>/dev/null || true
	fi
	(
		sleep "$SLEEP_TIME"
		perform_commit
	) &
	SLEEP_PID=$!
done <"$FIFO"
GITWATCH

# git: its defaults, plus an identity, branch main, and no automatic gc (with
# 100,000 loose objects a commit would start a detached `gc --auto` that runs
# into the measurements; in the latency part it would never start anyway)
githome=$work/githome
mkdir -p "$githome"
printf '[user]\n\tname = Bench\n\temail = bench@example.invalid\n[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n' \
	>"$githome/.gitconfig"
# the environments: git's (GENV) and dsync's (denv HOME sets DENV); arrays, not
# functions, so that a process started in the background is the tool itself
GENV=(env -i "PATH=$PATH" "HOME=$githome" GIT_CONFIG_NOSYSTEM=1 LC_ALL=C)
genv() { "${GENV[@]}" "$@"; }
denv() { # HOME [CMD...]
	local h=$1
	shift
	DENV=(env -i "PATH=$PATH" "HOME=$h" LC_ALL=C)
	(($# == 0)) || "${DENV[@]}" "$@"
}

declare -a PROBLEMS=()
problem() {
	PROBLEMS+=("$*")
	log "PROBLEM: $*"
}

# wall-clock seconds of CMD... run in DIR (after a sync); sets T
timed() { # DIR CMD...
	local dir=$1 t0 t1 rc=0
	shift
	sync
	t0=$EPOCHREALTIME
	(cd "$dir" && "$@" >"$work/timed.out" 2>&1) || rc=$?
	t1=$EPOCHREALTIME
	if ((rc != 0)); then
		cat "$work/timed.out" >&2
		die "'$*' failed in $dir (exit $rc)"
	fi
	T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

ticks() { # PID...: utime+stime of the processes, in clock ticks
	local sum=0 s pid
	local -a f
	for pid in "$@"; do
		s=$(<"/proc/$pid/stat")
		s=${s##*) }
		read -ra f <<<"$s"
		((sum += f[11] + f[12]))
	done
	echo "$sum"
}
status_kb() { # PID FIELD
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}
secs() { awk -v t="$1" -v h="$clk_tck" 'BEGIN { printf "%.2f", t / h }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || b == "-" || a == "" || b == "") { print "-"; exit }
		if (b > 0) printf "%.2fx", a / b; else print "-" }'
}

# start a watcher in the background, in its own process group when GROUP;
# sets WPID and WT (seconds until a line of its log matches REGEX)
start_watcher() { # LOG REGEX TIMEOUT GROUP CMD...
	local logf=$1 re=$2 timeout=$3 group=$4 t0 rc=0
	shift 4
	: >"$logf"
	sync
	t0=$EPOCHREALTIME
	if ((group)); then
		set -m
		"$@" >"$logf.out" 2>"$logf" &
		WPID=$!
		set +m
		RUNNING[$WPID]=group
	else
		"$@" >"$logf.out" 2>"$logf" &
		WPID=$!
		RUNNING[$WPID]=pid
	fi
	WT=$(hp waitline "$logf" "$re" "$t0" "$timeout" "$WPID") || rc=$?
	if ((rc != 0)); then
		cat "$logf" >&2
		((rc == 3)) && die "'$*' exited before it logged /$re/"
		die "'$*' did not log /$re/ within $timeout s"
	fi
}
# SIGTERM, then wait; sets WRC (exit status, or "killed" after 60 s)
stop_watcher() { # PID
	local pid=$1 i
	if [[ ${RUNNING[$pid]} == group ]]; then
		kill -TERM -- "-$pid" 2>/dev/null || true
	else
		kill -TERM "$pid" 2>/dev/null || true
	fi
	for ((i = 0; i < 6000; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	WRC=0
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		WRC=killed
	fi
	if [[ $WRC != killed ]]; then
		wait "$pid" 2>/dev/null || WRC=$?
	else
		wait "$pid" 2>/dev/null || true
	fi
	unset "RUNNING[$pid]"
}
# after a dsync watcher stopped: exit status 0, "stopping", no errors
check_dsync_log() { # WHAT LOG
	local what=$1 logf=$2
	[[ $WRC == 0 ]] || problem "$what: exit status $WRC after SIGTERM (spec: 0)"
	grep -q 'stopping' "$logf" || problem "$what: no 'stopping' line after SIGTERM"
	if grep -Eq '^[^ ]+ (error|warning) ' "$logf"; then
		problem "$what logged errors or warnings: $(grep -E '^[^ ]+ (error|warning) ' "$logf" | head -n 3 | tr '\n' '|')"
	fi
}
commits() { # GITDIR
	git --git-dir="$1" rev-list --count refs/heads/main
}
# how many gc runs a dsync watcher logged as done ("gc: packed ..."); the
# start of a run is logged at debug level only, so no duration
gc_runs() { # LOG
	grep -Ec ' info .*: gc: packed ' "$1" || true
}

# ===================================================== 1: save latency
declare -A R=()
if has_part latency; then
	log "latency: generating a folder of $lat_files files, $lat_mb MB"
	perl "$here/corpus.pl" large "$work/lat-pristine" "$lat_files" $((lat_mb << 20)) "$seed" "$pool"
	R[lat_nfiles]=$(find "$work/lat-pristine" -type f | wc -l)
	timeout=$(awk -v d="$delay" 'BEGIN { print d + 60 }')
	R[lat_timeout]=$timeout

	if ((have_watch)); then
		d=$work/lat-dsync h=$work/home-lat
		cp -a "$work/lat-pristine" "$d"
		mkdir -p "$h"
		(cd "$d" && denv "$h" "$dsync" init . --device-name bench >/dev/null)
		c0=$(commits "$d/.dsync")
		log "latency: dsync watch --delay $delay, $saves saves"
		denv "$h"
		start_watcher "$work/lat-dsync.log" 'watching' 600 0 \
			"${DENV[@]}" "$dsync" watch "$d" --delay "$delay"
		hp saves "$d" "$d/.dsync" "$saves" "$seed" "$timeout" "$gap" lat >"$work/lat-dsync.txt"
		sleep "$(awk -v d="$delay" 'BEGIN { print d + 1 }')" # a stray late commit shows up in the count
		stop_watcher "$WPID"
		check_dsync_log "dsync watch (latency)" "$work/lat-dsync.log"
		R[lat_dsync]=$(hp stats "$work/lat-dsync.txt")
		R[lat_dsync_gc]=$(gc_runs "$work/lat-dsync.log")
		R[lat_dsync_commits]=$(($(commits "$d/.dsync") - c0))
		n=$(grep -Ec ' info .*: snapshot [0-9a-f]+: ' "$work/lat-dsync.log" || true)
		((n == R[lat_dsync_commits])) ||
			problem "dsync watch logged $n 'snapshot ' lines for ${R[lat_dsync_commits]} commits"
		((R[lat_dsync_commits] == saves)) ||
			problem "dsync watch made ${R[lat_dsync_commits]} commits for $saves saves (one per save expected)"
	fi
	if ((have_inw)); then
		g=$work/lat-git
		cp -a "$work/lat-pristine" "$g"
		(cd "$g" && genv bash -c 'git init -q && git add -A && git commit -q -m first')
		c0=$(commits "$g/.git")
		mkfifo "$work/lat-git.fifo"
		log "latency: gitwatch loop with a $delay s sleep, $saves saves"
		start_watcher "$work/lat-git.log" '^Watches established' 600 1 \
			"${GENV[@]}" bash "$gitwatch" "$g" "$delay" "$work/lat-git.fifo" "$work/lat-git.inwpid"
		hp saves "$g" "$g/.git" "$saves" "$seed" "$timeout" "$gap" lat >"$work/lat-git.txt"
		sleep "$(awk -v d="$delay" 'BEGIN { print d + 1 }')"
		stop_watcher "$WPID"
		R[lat_git]=$(hp stats "$work/lat-git.txt")
		R[lat_git_commits]=$(($(commits "$g/.git") - c0))
		((R[lat_git_commits] == saves)) ||
			log "note: the gitwatch loop made ${R[lat_git_commits]} commits for $saves saves"
	fi
	if ((have_watch && have_inw)); then
		td=$(git --git-dir="$work/lat-dsync/.dsync" rev-parse 'refs/heads/main^{tree}')
		tg=$(git --git-dir="$work/lat-git/.git" rev-parse 'refs/heads/main^{tree}')
		R[lat_sametree]=no
		[[ $td == "$tg" ]] && R[lat_sametree]=yes
		[[ $td == "$tg" ]] || problem "after the saves, dsync's last tree ($td) differs from git's ($tg)"
	fi
	rm -rf "$work/lat-pristine" "$work/lat-dsync" "$work/lat-git"
fi

# ===================================================== 2: idle cost
idle_run() { # KEY PIDS...: start ticks, idle, ticks, memory
	local key=$1 t0 t1
	shift
	t0=$(ticks "$@")
	R[${key}_startcpu]=$(secs "$t0")
	sleep "$idle_secs"
	t1=$(ticks "$@")
	R[${key}_idlecpu]=$(secs $((t1 - t0)))
	R[${key}_permin]=$(awk -v t=$((t1 - t0)) -v h="$clk_tck" -v s="$idle_secs" \
		'BEGIN { printf "%.2f", t / h * 60 / s }')
	R[${key}_rss]=$(mb "$(status_kb "$1" VmRSS)")
	R[${key}_hwm]=$(mb "$(status_kb "$1" VmHWM)")
}
if has_part idle; then
	log "idle: generating $idle_files small files"
	perl "$here/corpus.pl" small "$work/idle-pristine" "$idle_files" "$((seed + 1))" "$pool"
	R[idle_dirs]=$(find "$work/idle-pristine" -type d | wc -l)
	find "$work/idle-pristine" -type f -print0 | xargs -0 -r cat >/dev/null
	timeout=$(awk -v d="$delay" 'BEGIN { print d + 120 }')

	if ((have_watch)); then
		d=$work/idle-dsync
		for mode in watch daemon; do
			# each from the same start: a fresh copy, just initialised
			# (a home of its own, where init registers it for the daemon)
			h=$work/home-idle-$mode
			rm -rf "$d"
			cp -a "$work/idle-pristine" "$d"
			mkdir -p "$h"
			log "idle: dsync init ($idle_files files), for dsync $mode"
			timed "$d" denv "$h" "$dsync" init . --device-name bench
			R[idle_${mode}_init]=$T
			c0=$(commits "$d/.dsync")
			log "idle: dsync $mode: start, then $idle_secs s idle"
			denv "$h"
			if [[ $mode == watch ]]; then
				start_watcher "$work/idle-$mode.log" 'watching' 1800 0 \
					"${DENV[@]}" "$dsync" watch "$d" --delay "$delay"
			else
				start_watcher "$work/idle-$mode.log" 'watching' 1800 0 \
					"${DENV[@]}" "$dsync" daemon --delay "$delay"
			fi
			R[idle_${mode}_start]=$WT
			idle_run "idle_$mode" "$WPID"
			if (($(commits "$d/.dsync") != c0)); then
				problem "dsync $mode committed while idle (nothing had changed)"
			fi
			log "idle: dsync $mode: $idle_saves saves"
			hp saves "$d" "$d/.dsync" "$idle_saves" "$((seed + 5))" "$timeout" "$gap" "$mode" >"$work/idle-$mode.txt"
			R[idle_${mode}_lat]=$(hp stats "$work/idle-$mode.txt")
			R[idle_${mode}_rss2]=$(mb "$(status_kb "$WPID" VmRSS)")
			R[idle_${mode}_hwm2]=$(mb "$(status_kb "$WPID" VmHWM)")
			R[idle_${mode}_anon2]=$(mb "$(status_kb "$WPID" RssAnon)")
			stop_watcher "$WPID"
			check_dsync_log "dsync $mode (idle)" "$work/idle-$mode.log"
			R[idle_${mode}_gc]=$(gc_runs "$work/idle-$mode.log")
		done
		rm -rf "$d"
	fi
	if ((have_inw)); then
		g=$work/idle-git
		cp -a "$work/idle-pristine" "$g"
		log "idle: git init && git add -A && git commit ($idle_files files)"
		timed "$g" genv bash -c 'git init -q && git add -A && git commit -q -m first'
		R[idle_git_init]=$T
		mkfifo "$work/idle-git.fifo"
		log "idle: gitwatch loop: start, then $idle_secs s idle"
		start_watcher "$work/idle-git.log" '^Watches established' 1800 1 \
			"${GENV[@]}" bash "$gitwatch" "$g" "$delay" "$work/idle-git.fifo" "$work/idle-git.inwpid"
		R[idle_gitwatch_start]=$WT
		inwpid=$(<"$work/idle-git.inwpid")
		# the memory figure is inotifywait's (the bash loop adds about 4 MB)
		idle_run idle_gitwatch "$inwpid" "$WPID"
		log "idle: gitwatch loop: $idle_saves saves"
		hp saves "$g" "$g/.git" "$idle_saves" "$((seed + 5))" "$timeout" "$gap" gitwatch >"$work/idle-git.txt"
		R[idle_gitwatch_lat]=$(hp stats "$work/idle-git.txt")
		R[idle_gitwatch_rss2]=$(mb "$(status_kb "$inwpid" VmRSS)")
		R[idle_gitwatch_hwm2]=$(mb "$(status_kb "$inwpid" VmHWM)")
		R[idle_gitwatch_anon2]=$(mb "$(status_kb "$inwpid" RssAnon)")
		stop_watcher "$WPID"
		rm -rf "$g"
	fi
	rm -rf "$work/idle-pristine"
fi

# ===================================================== 3: disk
if has_part disk; then
	a=$work/disk-dsync b=$work/disk-git h=$work/home-disk
	mkdir -p "$a" "$b" "$h"
	hp textfile "$a/doc.txt" "$disk_kb" "$pool"
	cp "$a/doc.txt" "$b/doc.txt"
	(cd "$a" && denv "$h" "$dsync" init . --device-name bench >/dev/null)
	(cd "$b" && genv bash -c 'git init -q && git add -A && git commit -q -m first')
	log "disk: $disk_saves one-line saves of a $disk_kb KiB file, dsync snapshot and git commit"
	out=$(env -i "PATH=$PATH" "HOME=$h" LC_ALL=C GIT_CONFIG_GLOBAL="$githome/.gitconfig" \
		GIT_CONFIG_NOSYSTEM=1 perl "$helper" disk "$a" "$b" doc.txt "$disk_saves" "$((seed + 7))" "$dsync")
	R[disk_tdsync]=${out% *} R[disk_tgit]=${out#* }
	R[disk_dsync_commits]=$(commits "$a/.dsync")
	R[disk_git_commits]=$(commits "$b/.git")
	((R[disk_dsync_commits] == disk_saves + 1)) ||
		problem "dsync has ${R[disk_dsync_commits]} commits after $disk_saves saves (expected $((disk_saves + 1)))"
	if [[ $(git --git-dir="$a/.dsync" log --format=%T refs/heads/main) == "$(git --git-dir="$b/.git" log --format=%T refs/heads/main)" ]]; then
		R[disk_same]=yes
	else
		R[disk_same]=no
		problem "disk: dsync's and git's histories do not have the same trees"
	fi
	R[disk_dsync_pre]=$(du -sk "$a/.dsync" | cut -f1)
	R[disk_git_pre]=$(du -sk "$b/.git" | cut -f1)
	R[disk_dsync_preobj]=$(du -sk "$a/.dsync/objects" | cut -f1)
	R[disk_git_preobj]=$(du -sk "$b/.git/objects" | cut -f1)
	log "disk: dsync gc, git gc"
	timed "$a" denv "$h" "$dsync" gc
	R[disk_dsync_gct]=$T
	R[disk_dsync_gcmsg]=$(tail -n 1 "$work/timed.out")
	timed "$b" genv git gc -q
	R[disk_git_gct]=$T
	R[disk_dsync_post]=$(du -sk "$a/.dsync" | cut -f1)
	R[disk_git_post]=$(du -sk "$b/.git" | cut -f1)
	R[disk_dsync_obj]=$(du -sk "$a/.dsync/objects" | cut -f1)
	R[disk_git_obj]=$(du -sk "$b/.git/objects" | cut -f1)
	R[disk_dsync_objb]=$(du -sb "$a/.dsync/objects" | cut -f1)
	R[disk_git_objb]=$(du -sb "$b/.git/objects" | cut -f1)
	[[ $(commits "$a/.dsync") == "${R[disk_dsync_commits]}" ]] || problem "dsync gc changed the history"
	rm -rf "$a" "$b"
fi

# ---------------------------------------------------------------- report
row() { printf '%-44s %12s %12s %12s %8s  %s\n' "$@"; }
f() { # STATS-STRING FIELD(1..6), '-' when empty
	local -a v
	read -ra v <<<"${1:-}"
	echo "${v[$(($2 - 1))]:--}"
}
verdict() { # VALUE OP LIMIT
	[[ $1 == - || -z $1 ]] && {
		echo
		return
	}
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
		ok = (op == "<=") ? v <= l : v < l
		print ok ? "ok" : "MISSED" }'
}
inwver=-
((have_inw)) && inwver=$({ inotifywait --help 2>&1 || true; } | head -n 1)

echo
echo "$("$dsync" version 2>/dev/null | head -n 1) ($dsync) vs $(git --version), $inwver"
echo "gitwatch = gitwatch.sh's default loop (inotifywait -mr + sleep + git status/add/commit), with git's defaults (no fsync; gc.auto=0)"
((have_watch)) || echo "(dsync has no 'watch' command: dsync watch figures skipped)"
((have_inw)) || echo "(inotifywait missing, install inotify-tools: gitwatch figures skipped)"
echo "ratio = dsync / peer: below 1.00x dsync is faster or smaller"

if has_part latency; then
	target=$(awk -v d="$delay" 'BEGIN { printf "%.1f", d + 0.3 }')
	echo
	echo "1. save-to-commit latency, $saves saves (in-place rewrite of one text file, one line changed)"
	echo "   folder: ${R[lat_nfiles]} files, $lat_mb MB; delay $delay s for both (gitwatch's default sleep is 2 s); ${gap} s pause between saves"
	row "" "dsync watch" "gitwatch" "ratio" "target"
	for k in 2:median 3:p95 4:max 5:mean; do
		i=${k%%:*} name=${k#*:}
		dv=$(f "${R[lat_dsync]:-}" "$i") gv=$(f "${R[lat_git]:-}" "$i")
		if [[ $name == median ]]; then
			row "  $name (s)" "$dv" "$gv" "$(ratio "$dv" "$gv")" "<= $target" "$(verdict "$dv" '<=' "$target")"
		else
			row "  $name (s)" "$dv" "$gv" "$(ratio "$dv" "$gv")" "" ""
		fi
	done
	row "  saves not committed within ${R[lat_timeout]} s" "$(f "${R[lat_dsync]:-}" 6)" "$(f "${R[lat_git]:-}" 6)" "" "" ""
	row "  commits made" "${R[lat_dsync_commits]:--}" "${R[lat_git_commits]:--}" "" "$saves" ""
	row "  gc runs the watcher logged" "${R[lat_dsync_gc]:--}" "-" "" "" ""
	[[ -n ${R[lat_sametree]:-} ]] && echo "   same last tree in both: ${R[lat_sametree]}"
fi

if has_part idle; then
	echo
	echo "2. idle cost: $idle_files files in ${R[idle_dirs]} folders; $idle_secs s idle after \"watching\""
	echo "   (gitwatch: after inotifywait's \"Watches established.\"; its CPU is inotifywait + the bash loop, its memory inotifywait's)"
	row "" "dsync watch" "dsync daemon" "gitwatch" "watch/gw" "target"
	row "  first commit of the tree (s)" "${R[idle_watch_init]:--}" "${R[idle_daemon_init]:--}" "${R[idle_git_init]:--}" \
		"$(ratio "${R[idle_watch_init]:--}" "${R[idle_git_init]:--}")" "dsync init; git init+add+commit"
	row "  start-up to \"watching\" (s)" "${R[idle_watch_start]:--}" "${R[idle_daemon_start]:--}" "${R[idle_gitwatch_start]:--}" \
		"$(ratio "${R[idle_watch_start]:--}" "${R[idle_gitwatch_start]:--}")" ""
	row "  CPU used by start-up (s)" "${R[idle_watch_startcpu]:--}" "${R[idle_daemon_startcpu]:--}" "${R[idle_gitwatch_startcpu]:--}" "" ""
	row "  CPU over $idle_secs idle s (s)" "${R[idle_watch_idlecpu]:--}" "${R[idle_daemon_idlecpu]:--}" "${R[idle_gitwatch_idlecpu]:--}" "" ""
	row "  idle CPU per minute (s)" "${R[idle_watch_permin]:--}" "${R[idle_daemon_permin]:--}" "${R[idle_gitwatch_permin]:--}" \
		"" "< 0.5 $(verdict "${R[idle_watch_permin]:--}" '<' 0.5) $(verdict "${R[idle_daemon_permin]:--}" '<' 0.5)"
	row "  VmRSS after idle (MB)" "${R[idle_watch_rss]:--}" "${R[idle_daemon_rss]:--}" "${R[idle_gitwatch_rss]:--}" "" \
		"< 100 $(verdict "${R[idle_watch_rss]:--}" '<' 100) $(verdict "${R[idle_daemon_rss]:--}" '<' 100)"
	row "  VmHWM after idle (MB)" "${R[idle_watch_hwm]:--}" "${R[idle_daemon_hwm]:--}" "${R[idle_gitwatch_hwm]:--}" "" \
		"< 100 $(verdict "${R[idle_watch_hwm]:--}" '<' 100) $(verdict "${R[idle_daemon_hwm]:--}" '<' 100)"
	row "  save-to-commit, median of $idle_saves (s)" "$(f "${R[idle_watch_lat]:-}" 2)" "$(f "${R[idle_daemon_lat]:-}" 2)" \
		"$(f "${R[idle_gitwatch_lat]:-}" 2)" "$(ratio "$(f "${R[idle_watch_lat]:-}" 2)" "$(f "${R[idle_gitwatch_lat]:-}" 2)")" ""
	row "  save-to-commit, max of $idle_saves (s)" "$(f "${R[idle_watch_lat]:-}" 4)" "$(f "${R[idle_daemon_lat]:-}" 4)" \
		"$(f "${R[idle_gitwatch_lat]:-}" 4)" "" ""
	row "  gc runs the watcher logged" "${R[idle_watch_gc]:--}" "${R[idle_daemon_gc]:--}" "-" "" ""
	row "  VmRSS after the saves (MB)" "${R[idle_watch_rss2]:--}" "${R[idle_daemon_rss2]:--}" "${R[idle_gitwatch_rss2]:--}" "" \
		"< 100 $(verdict "${R[idle_watch_rss2]:--}" '<' 100) $(verdict "${R[idle_daemon_rss2]:--}" '<' 100)"
	row "  VmHWM after the saves (MB)" "${R[idle_watch_hwm2]:--}" "${R[idle_daemon_hwm2]:--}" "${R[idle_gitwatch_hwm2]:--}" "" \
		"< 100 $(verdict "${R[idle_watch_hwm2]:--}" '<' 100) $(verdict "${R[idle_daemon_hwm2]:--}" '<' 100)"
	row "  RssAnon after the saves (MB)" "${R[idle_watch_anon2]:--}" "${R[idle_daemon_anon2]:--}" "${R[idle_gitwatch_anon2]:--}" "" ""
fi

if has_part disk; then
	echo
	echo "3. disk: $disk_saves one-line saves of a $disk_kb KiB text file (same $((disk_saves + 1)) trees in both: ${R[disk_same]})"
	echo "   dsync snapshot per save, then dsync gc; git add -A && git commit per save, then git gc (defaults)"
	row "" "dsync" "git" "ratio" "target"
	row "  .dsync / .git before gc (du KiB)" "${R[disk_dsync_pre]}" "${R[disk_git_pre]}" "$(ratio "${R[disk_dsync_pre]}" "${R[disk_git_pre]}")" "" ""
	row "  objects/ before gc (du KiB)" "${R[disk_dsync_preobj]}" "${R[disk_git_preobj]}" "$(ratio "${R[disk_dsync_preobj]}" "${R[disk_git_preobj]}")" "" ""
	row "  .dsync / .git after gc (du KiB)" "${R[disk_dsync_post]}" "${R[disk_git_post]}" "$(ratio "${R[disk_dsync_post]}" "${R[disk_git_post]}")" "" ""
	row "  objects/ after gc (du KiB)" "${R[disk_dsync_obj]}" "${R[disk_git_obj]}" "$(ratio "${R[disk_dsync_obj]}" "${R[disk_git_obj]}")" \
		"<= 1.5x" "$(verdict "$(awk -v a="${R[disk_dsync_obj]}" -v b="${R[disk_git_obj]}" 'BEGIN { print a / b }')" '<=' 1.5)"
	row "  objects/ after gc (bytes, apparent)" "${R[disk_dsync_objb]}" "${R[disk_git_objb]}" "$(ratio "${R[disk_dsync_objb]}" "${R[disk_git_objb]}")" "" ""
	row "  time per save (s, mean)" "$(awk -v t="${R[disk_tdsync]}" -v n="$disk_saves" 'BEGIN { printf "%.4f", t / n }')" \
		"$(awk -v t="${R[disk_tgit]}" -v n="$disk_saves" 'BEGIN { printf "%.4f", t / n }')" \
		"$(ratio "${R[disk_tdsync]}" "${R[disk_tgit]}")" "" "dsync syncfs; git no fsync"
	row "  gc (s)" "${R[disk_dsync_gct]}" "${R[disk_git_gct]}" "$(ratio "${R[disk_dsync_gct]}" "${R[disk_git_gct]}")" "" ""
	echo "   dsync gc said: ${R[disk_dsync_gcmsg]}"
fi

echo
if ((${#PROBLEMS[@]})); then
	echo "problems seen:"
	printf '  - %s\n' "${PROBLEMS[@]}"
else
	echo "problems seen: none"
fi
