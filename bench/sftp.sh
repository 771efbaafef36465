#!/bin/bash
# sftp:// benchmark (issue 14): dsync pushing to an SSH host, next to
# `rsync -a` over ssh and `restic` to an sftp repository, in one run.
#
#   bench/sftp.sh [--quick]
#
# An OpenSSH sshd on 127.0.0.1 (tests/e2e/sshlib.sh: a free port, its own
# host keys and config, stopped by its pid) serves folders in the temp space.
# For each corpus size (bench/corpus.pl large; default 25 MB / 200 files and
# 250 MB / 2,000 files; --quick: 5 MB and 25 MB) and each network:
#   lo    sshd directly, on loopback
#   wan   through tests/tools/delayproxy.py limited to 20 Mbit/s each way
# each tool runs the same steps on the same folder:
#   first upload   dsync push (OpenSSH client, and built in), rsync -a, restic backup
#   after 1%       the same again after bench/sync.sh's change step (1% of
#                  the bytes: rewritten files, edited regions, new files)
#   no change      dsync sync (a whole round), rsync -a; every step logs in
#                  anew (DSYNC_SSH_SHARE=0), as rsync and restic do; then
#                  dsync's OpenSSH round again on a shared connection, as the
#                  watcher's rounds run (docs/sftp.md section 2.2)
# Bytes: on lo, what each tool says it sent (rsync's "Total bytes sent") or
# what its store grew by (dsync, restic); on wan, the proxy's count of bytes
# both ways, for every tool alike. Printed: seconds, MB/s and bytes per step,
# and the ratios issue 14 sets targets for:
#   first upload throughput dsync / rsync   >= 0.8 (OpenSSH), >= 0.5 (built in)
#   bytes after the 1% change dsync / rsync <= 1
#   no-change round on lo                   < 0.3 s (shared connection)
# Settings: BENCH_SIZES ("25:200 250:2000", MB:files), BENCH_NETS ("lo wan"),
# BENCH_SSH_MODES ("openssh builtin"; a mode this dsync can't use is skipped
# with a note), BENCH_RATE_BPS (2500000 = 20 Mbit/s), BENCH_DELAY_MS (0),
# BENCH_TOOLS ("dsync rsync restic"), BENCH_SEED (1), BENCH_DIR (temp space).
# DSYNC=/path/to/dsync picks the binary (default: build/dsync; a test build,
# -DDSYNC_TESTING=ON, derives keys cheaply with DSYNC_TEST_KDF=min). Needs
# sshd (openssh-server), python3, perl; rsync and restic (0.14 or later) are
# skipped when missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
. "$here/common.sh"
bench_args 32 "$@"
DSYNC=${DSYNC:-$src/build/dsync}
if ((quick)); then
	: "${BENCH_SIZES:=5:50 25:200}"
fi
sizes=${BENCH_SIZES:-25:200 250:2000}
nets=${BENCH_NETS:-lo wan}
modes=${BENCH_SSH_MODES:-openssh builtin}
tools=${BENCH_TOOLS:-dsync rsync restic}
rate=${BENCH_RATE_BPS:-2500000}
delay=${BENCH_DELAY_MS:-0}
seed=${BENCH_SEED:-1}
base=${BENCH_DIR:-${TMPDIR:-/tmp}}
for s in $sizes; do
	[[ $s =~ ^[0-9]+:[0-9]+$ ]] || die "BENCH_SIZES takes MB:FILES pairs, not '$s'"
done
[[ $rate =~ ^[0-9]+$ ]] || die "BENCH_RATE_BPS must be a whole number of bytes a second, not '$rate'"
command -v perl > /dev/null || die "perl is not installed"
command -v python3 > /dev/null || die "python3 is not installed"
[[ -x /usr/sbin/sshd ]] || die "no /usr/sbin/sshd (apt-get install openssh-server)"

has() { [[ " $tools " == *" $1 "* ]]; }
if has dsync && [[ ! -x $DSYNC ]]; then
	log "no dsync at $DSYNC (build first, or set DSYNC): skipping dsync"
	tools=${tools/dsync/}
fi
if has rsync && ! command -v rsync > /dev/null; then
	log "rsync is not installed (apt-get install rsync): skipping rsync"
	tools=${tools/rsync/}
fi
if has restic && ! command -v restic > /dev/null; then
	log "restic is not installed (apt-get install restic): skipping restic"
	tools=${tools/restic/}
fi
[[ -n ${tools// /} ]] || die "none of dsync, rsync, restic can run"

# temp space: per size the corpus, its pool, and per network a dsync store
# per mode, an rsync copy, a restic repository
need_mb=0
for s in $sizes; do need_mb=$((need_mb + ${s%%:*} * 12 + 100)); done
mkdir -p "$base"
avail_mb=$(df -Pm "$base" | awk 'NR == 2 { print $4 }')
((avail_mb > need_mb)) || die "not enough free space in $base (need about $need_mb MB, $avail_mb MB free)"
tmp=$(mktemp -d "$base/dsync-bench-sftp.XXXXXX")
chmod 755 "$tmp"
log "temp data in $tmp (about $need_mb MB)"

# sshlib.sh (tests/e2e) runs the sshd: it wants lib.sh's TMP, HOME,
# STARTED_PIDS and cleanup, and stops every pid it started on exit
bench_ssh_env "$tmp" ssh
. "$src/tests/e2e/sshlib.sh"
trap 'exit 130' INT

export DSYNC_TEST_KDF=min DSYNC_PASSPHRASE=bench-passphrase RESTIC_PASSWORD=bench-passphrase
export RESTIC_CACHE_DIR=$tmp/restic-cache
unset DSYNC_DEVICE_NAME DSYNC_TEST_SLOW DSYNC_TEST_PACK_MAX DSYNC_SSH DSYNC_SSH_COMMAND
# a new login for every step, as the other tools make; the shared
# connection is measured on its own
export DSYNC_SSH_SHARE=0
unset RESTIC_REPOSITORY RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND
mkdir -p "$tmp/logs"

ssh_client_keys
sshd_start || die "sshd did not start"
ssh_known_host "$SSHD_PORT" "$SSHD_DIR"/ssh_host_{ed25519,ecdsa,rsa}_key.pub
ssh_config_host bench-lo "$SSHD_PORT"
log "sshd on 127.0.0.1:$SSHD_PORT (pid $SSHD_PID)"
PROXY_PID=
if [[ " $nets " == *" wan "* ]]; then
	python3 "$src/tests/tools/delayproxy.py" --target "$SSHD_PORT" --port-file "$tmp/proxy.port" \
		--delay-ms "$delay" --rate "$rate" --stats "$tmp/proxy.stats" &
	PROXY_PID=$!
	STARTED_PIDS+=("$PROXY_PID")
	for _ in $(seq 50); do [[ -s $tmp/proxy.port ]] && break; sleep 0.1; done
	[[ -s $tmp/proxy.port ]] || die "the proxy did not start"
	ssh_known_host "$(cat "$tmp/proxy.port")" "$SSHD_DIR"/ssh_host_{ed25519,ecdsa,rsa}_key.pub
	ssh_config_host bench-wan "$(cat "$tmp/proxy.port")"
	log "proxy on port $(cat "$tmp/proxy.port"): $rate bytes/s each way, ${delay} ms"
fi
SSH_CMD="ssh -F $SSH_CONFIG"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
kib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.2f", a / b; else printf "-" }'; }
mbps() { awk -v b="$1" -v t="$2" 'BEGIN { if (t > 0 && b > 0) printf "%.1f", b / t / 1e6; else printf "-" }'; }
blobs() { find "$1" -type f -printf '%P %s\n' 2> /dev/null | awk '$1 !~ /(^|\/)\./' | sort; }
added() { comm -13 "$1" "$2" | awk '{ s += $2 } END { print s + 0 }'; }
rsync_sent() { awk -F': ' '/^Total bytes sent:/ { gsub(/[^0-9]/, "", $2); print $2 }' "$1"; }
run_logged() { # NAME CMD...
	local name=$1 rc=0
	shift
	"$@" > "$tmp/logs/$name" 2>&1 || rc=$?
	if ((rc != 0)); then
		log "$name failed (exit $rc):"
		tail -n 10 "$tmp/logs/$name" >&2
	fi
	return $rc
}
# proxy_bytes: bytes the proxy passed so far, both ways (0 without a proxy)
proxy_bytes() {
	[[ -n $PROXY_PID ]] || { echo 0; return; }
	rm -f "$tmp/proxy.stats"
	kill -USR1 "$PROXY_PID"
	for _ in $(seq 100); do [[ -s $tmp/proxy.stats ]] && break; sleep 0.05; done
	awk '$1 == "bytes_up" || $1 == "bytes_down" { s += $2 } END { print s + 0 }' "$tmp/proxy.stats"
}
# dsync_as MODE ARGS...: dsync in the corpus folder with that ssh client
dsync_as() {
	local mode=$1
	shift
	if [[ $mode == openssh ]]; then
		(cd "$data" && DSYNC_SSH=openssh DSYNC_SSH_COMMAND=$SSH_CMD "$DSYNC" "$@")
	else
		(cd "$data" && DSYNC_SSH=$mode "$DSYNC" "$@")
	fi
}

# the change step is bench/sync.sh's (1% of the bytes: rewritten files,
# regions edited, new files), taken from it so both benches change alike
sed -n "/^cat > \"\$tmp\/change.pl\" << 'EOF'\$/,/^EOF\$/p" "$here/sync.sh" | sed '1d;$d' > "$tmp/change.pl"
grep -q 'sub new_bytes' "$tmp/change.pl" || die "could not take the change step from bench/sync.sh"

declare -A T B R
# measure KEY NET CMD...: times CMD; on wan also the proxy's bytes
measure() {
	local key=$1 net=$2 t0 t1 p0 p1 rc=0
	shift 2
	[[ $net == wan ]] && p0=$(proxy_bytes)
	sync
	t0=$(now)
	run_logged "$key" "$@" || rc=$?
	t1=$(now)
	T[$key]=$(secs "$t0" "$t1")
	if [[ $net == wan ]]; then
		p1=$(proxy_bytes)
		B[$key]=$((p1 - p0))
	fi
	return $rc
}

for s in $sizes; do
	mb=${s%%:*} files=${s##*:}
	data=$tmp/data-$mb
	log "== $mb MB, $files files: generating the corpus"
	random_bytes $((mb * 4 << 20)) "$seed" > "$tmp/pool"
	mkdir -p "$data"
	perl "$here/corpus.pl" large "$data" "$files" $((mb << 20)) "$seed" "$tmp/pool"
	rm -f "$tmp/pool"
	corpus=$(find "$data" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	eval "CORPUS_$mb=$corpus"
	dmodes=""
	if has dsync; then
		run_logged "init-$mb" "$DSYNC" init --device-name bench "$data" || die "dsync init failed"
		for net in $nets; do
			for mode in $modes; do
				if run_logged "add-$mb-$net-$mode" dsync_as "$mode" remote add "$net-$mode" \
					"sftp://bench-$net$tmp/st-$mb-$net-$mode"; then
					[[ " $dmodes " == *" $mode "* ]] || dmodes="$dmodes $mode"
				else
					log "dsync with the $mode client can't add a remote: skipped at $mb MB on $net"
				fi
			done
		done
	fi
	eval "MODES_$mb='$dmodes'"

	# --------------------------------------------------- first upload
	for net in $nets; do
		for mode in $dmodes; do
			[[ -d $tmp/st-$mb-$net-$mode ]] || continue
			k=$mb.$net.dsync-$mode.1
			log "$mb MB $net: dsync push ($mode)"
			blobs "$tmp/st-$mb-$net-$mode" > "$tmp/b0"
			measure "$k" "$net" dsync_as "$mode" push "$net-$mode" || { R[$k]=failed; continue; }
			blobs "$tmp/st-$mb-$net-$mode" > "$tmp/b1"
			[[ $net == wan ]] || B[$k]=$(added "$tmp/b0" "$tmp/b1")
		done
		if has rsync; then
			k=$mb.$net.rsync.1
			log "$mb MB $net: rsync -a"
			measure "$k" "$net" rsync -a --stats --exclude=/.dsync -e "$SSH_CMD" "$data/" \
				"bench-$net:$tmp/rs-$mb-$net/" || die "rsync failed"
			[[ $net == wan ]] || B[$k]=$(rsync_sent "$tmp/logs/$k")
		fi
		if has restic; then
			k=$mb.$net.restic.1
			repo=(restic -r "sftp:bench-$net:$tmp/rp-$mb-$net" -o "sftp.command=$SSH_CMD bench-$net -s sftp")
			run_logged "restic-init-$mb-$net" "${repo[@]}" init --repository-version 2 || die "restic init failed"
			log "$mb MB $net: restic backup"
			blobs "$tmp/rp-$mb-$net" > "$tmp/b0"
			measure "$k" "$net" "${repo[@]}" backup --host bench --exclude "$data/.dsync" "$data" ||
				die "restic backup failed"
			blobs "$tmp/rp-$mb-$net" > "$tmp/b1"
			[[ $net == wan ]] || B[$k]=$(added "$tmp/b0" "$tmp/b1")
		fi
	done

	# ------------------------------------------------------ the change
	budget=$((corpus / 100))
	random_bytes $((budget + (1 << 20))) $((seed + 1000)) > "$tmp/fresh"
	read -r rn rb en eb et nn nb < <(perl "$tmp/change.pl" "$data" "$budget" $((seed + 7)) "$tmp/fresh" \
		"50 25 25" "$tmp/changes-$mb")
	rm -f "$tmp/fresh"
	eval "CHANGED_$mb=$((rb + eb + nb))"
	log "$mb MB: changed $((rb + eb + nb)) bytes ($rn files rewritten, $en regions edited, $nn new files)"

	# -------------------------------------------------- after the change
	for net in $nets; do
		for mode in $dmodes; do
			k=$mb.$net.dsync-$mode.2
			[[ ${R[$mb.$net.dsync-$mode.1]:-} != failed && -d $tmp/st-$mb-$net-$mode ]] || continue
			log "$mb MB $net: dsync push after the change ($mode)"
			blobs "$tmp/st-$mb-$net-$mode" > "$tmp/b0"
			measure "$k" "$net" dsync_as "$mode" push "$net-$mode" || { R[$k]=failed; continue; }
			blobs "$tmp/st-$mb-$net-$mode" > "$tmp/b1"
			[[ $net == wan ]] || B[$k]=$(added "$tmp/b0" "$tmp/b1")
		done
		if has rsync; then
			k=$mb.$net.rsync.2
			log "$mb MB $net: rsync -a after the change"
			measure "$k" "$net" rsync -a --no-whole-file --stats --exclude=/.dsync -e "$SSH_CMD" "$data/" \
				"bench-$net:$tmp/rs-$mb-$net/" || die "rsync failed"
			[[ $net == wan ]] || B[$k]=$(rsync_sent "$tmp/logs/$k")
		fi
		if has restic; then
			k=$mb.$net.restic.2
			repo=(restic -r "sftp:bench-$net:$tmp/rp-$mb-$net" -o "sftp.command=$SSH_CMD bench-$net -s sftp")
			log "$mb MB $net: restic backup after the change"
			blobs "$tmp/rp-$mb-$net" > "$tmp/b0"
			measure "$k" "$net" "${repo[@]}" backup --host bench --exclude "$data/.dsync" "$data" ||
				die "restic backup failed"
			blobs "$tmp/rp-$mb-$net" > "$tmp/b1"
			[[ $net == wan ]] || B[$k]=$(added "$tmp/b0" "$tmp/b1")
		fi
	done

	# --------------------------------------------------- nothing changed
	for net in $nets; do
		for mode in $dmodes; do
			k=$mb.$net.dsync-$mode.3
			[[ ${R[$mb.$net.dsync-$mode.2]:-} != failed && -d $tmp/st-$mb-$net-$mode ]] || continue
			log "$mb MB $net: dsync sync with nothing to do ($mode)"
			measure "$k" "$net" dsync_as "$mode" sync "$net-$mode" || R[$k]=failed
			# the best of three: a round is short, the machine shared
			for _ in 1 2; do
				measure "$k.x" "$net" dsync_as "$mode" sync "$net-$mode" || break
				awk -v a="${T[$k.x]}" -v b="${T[$k]}" 'BEGIN { exit !(a < b) }' && T[$k]=${T[$k.x]}
			done
			# the same on a shared connection: one round starts the
			# master, the best of three after it
			[[ $mode == openssh && ${R[$k]:-} != failed ]] || continue
			k=$mb.$net.dsync-$mode.4
			log "$mb MB $net: dsync sync with nothing to do ($mode, shared connection)"
			DSYNC_SSH_SHARE=1 dsync_as "$mode" sync "$net-$mode" > /dev/null 2>&1 || { R[$k]=failed; continue; }
			for _ in 1 2 3; do
				DSYNC_SSH_SHARE=1 measure "$k.x" "$net" dsync_as "$mode" sync "$net-$mode" || { R[$k]=failed; break; }
				[[ -n ${T[$k]:-} ]] && awk -v a="${T[$k.x]}" -v b="${T[$k]}" 'BEGIN { exit !(a >= b) }' ||
					{ T[$k]=${T[$k.x]}; B[$k]=${B[$k.x]:-}; }
			done
			ssh_masters_stop
		done
		if has rsync; then
			k=$mb.$net.rsync.3
			log "$mb MB $net: rsync -a with nothing to do"
			measure "$k" "$net" rsync -a --stats --exclude=/.dsync -e "$SSH_CMD" "$data/" \
				"bench-$net:$tmp/rs-$mb-$net/" || die "rsync failed"
			[[ $net == wan ]] || B[$k]=$(rsync_sent "$tmp/logs/$k")
		fi
	done
	if has rsync; then
		for net in $nets; do
			diff -r -q -x .dsync "$data" "$tmp/rs-$mb-$net" > /dev/null ||
				die "rsync's copy on $net differs from the folder"
		done
	fi
	rm -rf "$tmp"/st-$mb-* "$tmp"/rs-$mb-* "$tmp"/rp-$mb-* "$data"
done

# ------------------------------------------------------------------ report
row() { # LABEL KEY CORPUS
	local key=$2
	if [[ ${R[$key]:-} == failed ]]; then
		printf '  %-26s %10s\n' "$1" failed
	elif [[ -n ${T[$key]:-} ]]; then
		printf '  %-26s %10s %11s %8s\n' "$1" "${T[$key]}" "$(kib "${B[$key]:-0}")" \
			"$(mbps "$3" "${T[$key]}")"
	fi
}
echo
echo "sftp:// bench: sshd on 127.0.0.1; wan = the proxy at $rate bytes/s each way, ${delay} ms"
for s in $sizes; do
	mb=${s%%:*}
	eval "corpus=\$CORPUS_$mb changed=\$CHANGED_$mb dmodes=\$MODES_$mb"
	for net in $nets; do
		printf '\n%d MB corpus (%s MiB), %s; changed %s KiB:\n' "$mb" "$(mib "$corpus")" "$net" "$(kib "$changed")"
		printf '  %-26s %10s %11s %8s\n' "step" "seconds" "KiB" "MB/s"
		for step in 1 2 3 4; do
			case $step in 1) what="first" ;; 2) what="after 1%" ;; 3) what="no change" ;; 4) what="no change, shared" ;; esac
			for mode in $dmodes; do
				row "dsync $mode, $what" "$mb.$net.dsync-$mode.$step" "$([[ $step == 1 ]] && echo "$corpus" || echo 0)"
			done
			[[ $step == 4 ]] || row "rsync -a, $what" "$mb.$net.rsync.$step" "$([[ $step == 1 ]] && echo "$corpus" || echo 0)"
			[[ $step -ge 3 ]] || row "restic, $what" "$mb.$net.restic.$step" "$([[ $step == 1 ]] && echo "$corpus" || echo 0)"
		done
		for mode in $dmodes; do
			d1=${T[$mb.$net.dsync-$mode.1]:-} r1=${T[$mb.$net.rsync.1]:-}
			d2=${B[$mb.$net.dsync-$mode.2]:-} r2=${B[$mb.$net.rsync.2]:-}
			target=0.8
			[[ $mode == builtin ]] && target=0.5
			shared=""
			[[ -z ${T[$mb.$net.dsync-$mode.4]:-} ]] || shared=", ${T[$mb.$net.dsync-$mode.4]} s shared"
			printf '  %s: throughput dsync/rsync %s (target >= %s), bytes after 1%% dsync/rsync %s (target <= 1), no-change round %s s new%s%s\n' \
				"$mode" "$(ratio "$r1" "$d1")" "$target" "$(ratio "$d2" "$r2")" \
				"${T[$mb.$net.dsync-$mode.3]:--}" "$shared" "$([[ $net == lo ]] && echo " (target < 0.3)")"
		done
	done
done
exit 0
