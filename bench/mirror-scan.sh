#!/bin/bash
# dsync mirror's no-change round (issue 16, acceptance 4): a phone's folder
# of 10,000 and 40,000 small files in nested folders, served by OpenSSH's
# sshd as an unprivileged user on 127.0.0.1 (tests/e2e/mirrorlib.sh: the
# same phone the tests use), mirrored into an empty folder; then rounds with
# nothing changed, timed next to what other tools pay to find out the same
# over the same ssh:
#   dsync      `dsync mirror sync` (the computer's snapshot, one listing
#              per folder on the phone, no file read), OpenSSH client and
#              built in
#   rsync      `rsync -a --dry-run` from the phone into the mirrored folder
#              (rsync on both ends: a listing of both, nothing sent)
#   sftp ls    `sftp -b` with `ls -l` of every folder (a listing only)
# Printed per size: the median of BENCH_RUNS (3) no-change rounds in
# seconds, dsync's -v counters, the computer's own share of a round (a
# no-change `dsync snapshot`), and the ratios dsync / rsync and
# dsync / sftp ls.
#
#   bench/mirror-scan.sh [--quick]      (root: the phone is a throwaway user)
#
# --quick: 1,000 and 4,000 files. Settings: BENCH_MIRROR_FILES ("10000
# 40000"), BENCH_SSH_MODES ("openssh builtin"), BENCH_RUNS (3), BENCH_DIR
# (temp space). DSYNC=/path/to/dsync picks the binary (default build/dsync).
# Needs sshd (openssh-server), rsync (skipped when missing), jq.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
. "$here/common.sh"
bench_args 24 "$@"
DSYNC=${DSYNC:-$src/build/dsync}
if ((quick)); then
	: "${BENCH_MIRROR_FILES:=1000 4000}"
fi
sizes=${BENCH_MIRROR_FILES:-10000 40000}
modes=${BENCH_SSH_MODES:-openssh builtin}
runs=${BENCH_RUNS:-3}
base=${BENCH_DIR:-${TMPDIR:-/tmp}}
[[ $(id -u) == 0 ]] || die "run as root: the phone is a throwaway user (useradd)"
[[ -x $DSYNC ]] || die "no dsync at $DSYNC (build first, or set DSYNC)"
[[ -x /usr/sbin/sshd ]] || die "no /usr/sbin/sshd (apt-get install openssh-server)"
for s in $sizes; do
	[[ $s =~ ^[0-9]+$ ]] && ((s >= 100)) || die "BENCH_MIRROR_FILES takes numbers of files (100 or more), not '$s'"
done
have_rsync=1
command -v rsync > /dev/null || { log "rsync is not installed: skipping it"; have_rsync=0; }

tmp=$(mktemp -d "$base/dsync-bench-mirror.XXXXXX")
chmod 755 "$tmp"
log "temp data in $tmp"
# lib.sh's part that sshlib.sh and mirrorlib.sh lean on
bench_ssh_env "$tmp" t
pass() { :; }
fail() { log "failed: $*"; }
unset DSYNC_DEVICE_NAME DSYNC_SSH DSYNC_SSH_COMMAND
. "$src/tests/e2e/sshlib.sh"
. "$src/tests/e2e/mirrorlib.sh"
trap 'exit 130' INT

phone_start openssh || die "the phone's sshd did not start"
log "phone: sshd on 127.0.0.1:$PHONE_PORT, user $PHONE_USER"
SSH_CMD="ssh -F $SSH_CONFIG"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.2f", a / b; else printf "-" }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
pcd() { (cd "$PC" && "$DSYNC" "$@"); }
# timed NAME CMD...: seconds CMD took, BENCH_RUNS times; the median
timed() {
	local name=$1 i t0 t1
	shift
	for i in $(seq "$runs"); do
		t0=$(now)
		"$@" > "$tmp/$name.out" 2> "$tmp/$name.err" || {
			log "$name failed:"
			tail -n 5 "$tmp/$name.err" >&2
			return 1
		}
		t1=$(now)
		secs "$t0" "$t1"
		echo
	done | median
}

results=()
for n in $sizes; do
	log "== $n files: making the phone's folder"
	rm -rf "$PC" "$PHONE_DIR"
	mkdir -p "$PHONE_DIR" "$PC"
	# 100 files a folder, two levels of folders (Y*/M*), 200-2,000 bytes
	python3 - "$PHONE_DIR" "$n" << 'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
random.seed(n)
for i in range(n):
	d = os.path.join(root, "Y%03d" % (i // 1000), "M%02d" % (i // 100 % 10))
	if i % 100 == 0:
		os.makedirs(d, exist_ok=True)
	with open(os.path.join(d, "IMG_%06d.jpg" % i), "wb") as f:
		f.write(random.randbytes(random.randint(200, 2000)))
PY
	chown -R "$PHONE_USER:" "$PHONE_DIR"
	folders=$(find "$PHONE_DIR" -type d | wc -l)
	pcd init --device-name pc > /dev/null
	pcd mirror add phone "$PHONE_URL" --path-in-folder Phone/DCIM > /dev/null
	t0=$(now)
	pcd mirror sync phone -v > "$tmp/first.out" 2>&1 || { cat "$tmp/first.out" >&2; die "the first round failed"; }
	log "first round (everything read): $(secs "$t0" "$(now)") s: $(tr '\n' ' ' < "$tmp/first.out")"
	pcd mirror sync phone > /dev/null 2>&1 || die "the second round failed"
	declare -A T=()
	for mode in $modes; do
		pcd mirror set phone ssh "$mode" > /dev/null
		T[$mode]=$(timed "dsync-$mode" pcd mirror sync phone -v) || die "dsync ($mode) failed"
		log "dsync ($mode): ${T[$mode]} s: $(tr '\n' ' ' < "$tmp/dsync-$mode.out")"
	done
	pcd mirror unset phone ssh > /dev/null
	# the computer's own share of a round: its snapshot with nothing changed
	T[snapshot]=$(timed snapshot pcd snapshot) || die "dsync snapshot failed"
	log "dsync snapshot (the computer's side alone): ${T[snapshot]} s"
	T[rsync]=""
	if ((have_rsync)); then
		T[rsync]=$(timed rsync rsync -a --dry-run -e "$SSH_CMD" \
			"$PHONE_USER@127.0.0.1:$PHONE_DIR/" "$PC/Phone/DCIM/") || die "rsync failed"
		log "rsync -a --dry-run: ${T[rsync]} s"
	fi
	(cd "$PHONE_DIR" && find . -type d -printf 'ls -l "%p"\n') | sed "s:\"\\.:\"$PHONE_DIR:" > "$tmp/sftp.batch"
	T[sftp]=$(timed sftp sftp -F "$SSH_CONFIG" -P "$PHONE_PORT" -b "$tmp/sftp.batch" "$PHONE_USER@127.0.0.1") ||
		die "sftp failed"
	log "sftp -b ls -l of $folders folders: ${T[sftp]} s"
	for mode in $modes; do
		results+=("$(printf '%7s %7s  %-8s %8s %9s %8s %8s   %6s %6s' "$n" "$folders" "$mode" "${T[$mode]}" \
			"${T[snapshot]}" "${T[rsync]:--}" "${T[sftp]}" "$(ratio "${T[$mode]}" "${T[rsync]}")" \
			"$(ratio "${T[$mode]}" "${T[sftp]}")")")
	done
	rm -rf "$PC"
done

echo
echo "dsync mirror: a round with nothing changed (median of $runs), seconds"
printf '%7s %7s  %-8s %8s %9s %8s %8s   %6s %6s\n' files folders ssh dsync "(its snap)" rsync "sftp ls" "/rsync" "/sftp"
printf '%s\n' "${results[@]}"
