#!/usr/bin/env bash
# dsync relay latency benchmark (issue 15, acceptance 9): with `dsync daemon`
# on two devices and `dsync relay` on loopback, the time from a save on one
# device to the file being on the other, over BENCH_SAVES saves, default
# settings. Targets: median under 2 s, 95th percentile under 3 s.
# See bench/README.md.
#
#   bench/relay-latency.sh            50 saves, then 5 without the long-poll (about 8 minutes)
#   bench/relay-latency.sh --quick    10 saves, no comparison (about 30 s)
#
# Settings (environment):
#   BENCH_SAVES=50       saves timed with the long-poll (the default)
#   BENCH_CMP_SAVES=5    saves timed with rounds on sync.interval alone (0: none;
#                        needs a test build: DSYNC_TEST_NO_LONGPOLL)
#   BENCH_GAP=1          seconds between one save arriving and the next save
#   BENCH_DIR=${TMPDIR:-/tmp}   DSYNC=path/to/dsync (default: build/dsync)
#   BENCH_LOGS=DIR       keep the daemons' logs and the per-save times there
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

. "$here/common.sh"
bench_args 17 "$@"

if ((quick)); then
	: "${BENCH_SAVES:=10}" "${BENCH_CMP_SAVES:=0}"
fi
saves=${BENCH_SAVES:-50}
cmp_saves=${BENCH_CMP_SAVES:-5}
gap=${BENCH_GAP:-1}
base=${BENCH_DIR:-${TMPDIR:-/tmp}}
dsync=${DSYNC:-$root/build/dsync}

for v in saves cmp_saves; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
[[ $gap =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "BENCH_GAP must be a number of seconds, not '$gap'"
((saves >= 1)) || die "BENCH_SAVES must be at least 1"
command -v perl >/dev/null || die "perl is not installed"
[[ -x $dsync ]] || die "no dsync binary at $dsync (build it, or set DSYNC)"
"$dsync" relay --help >/dev/null 2>&1 || die "$dsync has no relay command"

work=$(mktemp -d "$base/dsync-relaylat.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]+"${pids[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
	if [[ -n ${BENCH_LOGS:-} ]]; then
		mkdir -p "$BENCH_LOGS"
		cp "$work"/*.log "$work"/*.times "$BENCH_LOGS"/ 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# a test build derives keys cheaply with this; a release build ignores it
export DSYNC_TEST_KDF=min
export DSYNC_PASSPHRASE="copper lantern meadow violet harbor thistle"
unset XDG_CONFIG_HOME DSYNC_DEVICE_NAME

# ---------------------------------------------------------------- the relay
log "starting the relay on 127.0.0.1"
: >"$work/relay.out" # read below maybe before the backgrounded relay opens it
"$dsync" relay --listen 127.0.0.1:0 --data "$work/relay" >"$work/relay.out" 2>"$work/relay.log" </dev/null &
pids+=($!)
url=
for _ in $(seq 1 250); do
	addr=$(sed -n 's/^listening on \([0-9.]*:[0-9]*\)$/\1/p' "$work/relay.out")
	[[ -n $addr ]] && url="http://$addr/" && break
	sleep 0.02
done
[[ -n $url ]] || die "the relay did not start: $(tail -3 "$work/relay.log")"

# ---------------------------------------------------------------- two devices
mkdir -p "$work/hA" "$work/hB"
log "A makes group 'bench' at $url; B joins it"
HOME="$work/hA" "$dsync" init "$work/A" --relay "$url" --group bench --device-name alpha \
	>"$work/init.log" 2>&1 </dev/null || die "init failed: $(tail -3 "$work/init.log")"
HOME="$work/hB" "$dsync" join --relay "$url" --group bench "$work/B" --device-name beta \
	>"$work/join.log" 2>&1 </dev/null || die "join failed: $(tail -3 "$work/join.log")"
unset DSYNC_PASSPHRASE   # the daemons use the credentials kept at join

dA= dB=
# start_daemons TAG [ENV...]: `dsync daemon --verbose` for both devices
start_daemons() {
	local tag=$1 d
	shift
	for d in A B; do
		: >"$work/daemon-$tag-$d.log"
		env HOME="$work/h$d" "$@" "$dsync" daemon --verbose >/dev/null 2>>"$work/daemon-$tag-$d.log" </dev/null &
		pids+=($!)
		eval "d$d=$!"
	done
	for d in A B; do
		for _ in $(seq 1 500); do
			grep -q ' info .*: watching' "$work/daemon-$tag-$d.log" && break
			sleep 0.02
		done
		grep -q ' info .*: watching' "$work/daemon-$tag-$d.log" || die "$d's daemon did not start"
	done
	sleep 1   # the first rounds
}
stop_daemons() {
	local p
	for p in "$dA" "$dB"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "$dA" "$dB"; do wait "$p" 2>/dev/null || true; done
}

# time_saves TAG N [JITTER]: N saves on A (a new file, unique content, each
# GAP s plus a random 0..JITTER s after the previous one arrived), each timed
# until B holds it (checked every 20 ms, at most 120 s); one time per line in
# TAG.times
time_saves() {
	perl -MTime::HiRes=time,sleep -e '
		my ($a, $b, $n, $gap, $tag, $jitter) = @ARGV;
		$| = 1;
		srand(1);
		for my $i (1 .. $n) {
			sleep(rand($jitter)) if $jitter > 0;
			my $name = sprintf("%s-%03d.txt", $tag, $i);
			my $text = sprintf("save %d of %s at %.6f, %08x\n", $i, $tag, time, int(rand(2**32)));
			my $t0 = time;
			open(my $fh, ">", "$a/$name") or die "$a/$name: $!\n";
			print $fh $text;
			close($fh) or die "$a/$name: $!\n";
			my $got;
			while (1) {
				if (open(my $in, "<", "$b/$name")) { local $/; $got = <$in>; close($in); }
				last if defined($got) && $got eq $text;
				die "save $i did not arrive in 120 s\n" if time - $t0 > 120;
				sleep(0.02);
			}
			printf "%.3f\n", time - $t0;
			printf STDERR "  save %d: %.3f s\n", $i, time - $t0 if $i % 10 == 0 || $n <= 10;
			sleep($gap);
		}' "$work/A" "$work/B" "$2" "$gap" "$1" "${3:-0}" >"$work/$1.times"
}

# stats FILE: "median p95 max" (nearest rank)
stats() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		r = int(NR * 0.95); if (r < NR * 0.95) r++
		printf "%.2f %.2f %.2f\n", m, v[r], v[NR] }'
}

log "long-poll: $saves saves on A, timed until they are on B"
start_daemons poll
time_saves poll "$saves"
stop_daemons
read -r med p95 max < <(stats "$work/poll.times")
rounds=$(grep -c ' sync: ' "$work/daemon-poll-B.log" || true)

cmp=
if ((cmp_saves > 0)); then
	log "sync.interval alone (no long-poll): $cmp_saves saves"
	start_daemons timer DSYNC_TEST_NO_LONGPOLL=1
	if grep -q "waiting on '" "$work/daemon-timer-A.log"; then
		log "skipped: $dsync is not a test build (DSYNC_TEST_NO_LONGPOLL has no effect)"
	else
		# B fetches on its 60 s timer only: saves at random points of its
		# period, or each would wait the whole period after the last arrival
		time_saves timer "$cmp_saves" 60
		read -r cmed cp95 cmax < <(stats "$work/timer.times")
		cmp=1
	fi
	stop_daemons
fi

printf '\nrelay on loopback, dsync daemon on two devices, default settings (%s)\n' "$(uname -m)"
printf '%-34s %6s %9s %9s %9s\n' "" saves median "95th pct" max
printf '%-34s %6d %8ss %8ss %8ss\n' "with the long-poll" "$saves" "$med" "$p95" "$max"
if [[ -n $cmp ]]; then
	printf '%-34s %6d %8ss %8ss %8ss\n' "sync.interval alone (60 s)" "$cmp_saves" "$cmed" "$cp95" "$cmax"
fi
printf '\nB ran %s sync rounds for %s saves; targets: median < 2 s: %s, 95th percentile < 3 s: %s\n' \
	"$rounds" "$saves" \
	"$(awk -v v="$med" 'BEGIN { print (v < 2) ? "met" : "MISSED" }')" \
	"$(awk -v v="$p95" 'BEGIN { print (v < 3) ? "met" : "MISSED" }')"
