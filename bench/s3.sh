#!/bin/bash
# s3:// benchmark (issue 18, acceptance 5): dsync pushing to a real S3
# server, next to restic and rclone writing to the same server, in one run.
#
#   bench/s3.sh [--quick]
#
# The server is Ceph's RADOS Gateway on bluestore (tests/tools/local-s3.sh,
# on 127.0.0.1, in the temp space; `tests/tools/local-s3.sh install` once as
# root, or contrib/install-deps.sh --tests). The corpus is the documents corpus
# (bench/corpus.pl large: 2,000 files, 250 MB; --quick: 200 files, 25 MB).
# Each run, every tool, into a bucket of its own:
#   first upload   dsync init + push (s3+http://), restic backup
#                  (s3:http://), rclone copy (an s3 remote, provider Ceph)
#   after 1%       the same after bench/sync.sh's change step (1% of the
#                  bytes: rewritten files, edited regions, new files):
#                  dsync snapshot + push, restic backup, rclone sync
# then (first run only) each tool's copy is read back and compared with the
# folder: dsync join, restic restore, rclone copy back; a tool whose copy
# differs is FAIL, never a time.
# Figures, medians of the runs: seconds (wall clock); MB sent, the bodies of
# the step's PUTs and POSTs to the tool's bucket (the RGW's log); MB kept,
# the bytes of the objects the step added or changed there; requests, the
# RGW's access lines for that bucket; peak RSS (GNU time; dsync: the larger
# of its two commands). Then the ratios dsync/restic and dsync/rclone.
# restic and dsync encrypt and keep history; rclone keeps one plain copy,
# file for file.
# Settings: BENCH_DOCS ("2000:250", FILES:MB), BENCH_RUNS (3; --quick 1),
# BENCH_TOOLS ("dsync restic rclone"; a missing restic or rclone is skipped
# with a note), BENCH_SEED (1), BENCH_DIR (temp space, default $TMPDIR or
# /tmp). DSYNC=/path/to/dsync picks the binary (default: build/dsync; a test
# build derives keys cheaply with DSYNC_TEST_KDF=min).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
. "$here/common.sh"
bench_args 31 "$@"
DSYNC=${DSYNC:-$src/build/dsync}
if ((quick)); then
	: "${BENCH_DOCS:=200:25}" "${BENCH_RUNS:=1}"
fi
docs=${BENCH_DOCS:-2000:250}
runs=${BENCH_RUNS:-3}
tools=${BENCH_TOOLS:-dsync restic rclone}
seed=${BENCH_SEED:-1}
base=${BENCH_DIR:-${TMPDIR:-/tmp}}
[[ $docs =~ ^[0-9]+:[0-9]+$ ]] || die "BENCH_DOCS takes FILES:MB, not '$docs'"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a whole number from 1, not '$runs'"
[[ $seed =~ ^[0-9]+$ ]] || die "BENCH_SEED must be a whole number, not '$seed'"
nfiles=${docs%%:*} mb=${docs##*:}
command -v perl > /dev/null || die "perl is not installed"
command -v python3 > /dev/null || die "python3 is not installed"
[[ -x /usr/bin/time ]] || die "GNU time is not installed (apt-get install time): it measures peak RSS"
command -v radosgw > /dev/null ||
	die "no Ceph RGW here: as root, tests/tools/local-s3.sh install (or contrib/install-deps.sh --tests)"

has() { [[ " $tools " == *" $1 "* ]]; }
for t in $tools; do
	case $t in dsync | restic | rclone) ;; *) die "unknown tool '$t' in BENCH_TOOLS" ;; esac
done
if has dsync && [[ ! -x $DSYNC ]]; then
	log "no dsync at $DSYNC (build first, or set DSYNC): skipping dsync"
	tools=${tools/dsync/}
fi
for t in restic rclone; do
	if has $t && ! command -v $t > /dev/null; then
		log "$t is not installed (apt-get install $t): skipping $t"
		tools=${tools/$t/}
	fi
done
[[ -n ${tools// /} ]] || die "none of dsync, restic, rclone can run"

# temp space: the pool (4x the corpus), the corpus and two working copies,
# the read-back copies, and the RGW's bluestore file (every run's buckets)
need_mb=$((mb * 12 + mb * runs * 4 + 600))
mkdir -p "$base"
avail_mb=$(df -Pm "$base" | awk 'NR == 2 { print $4 }')
((avail_mb > need_mb)) || die "not enough free space in $base (need about $need_mb MB, $avail_mb MB free)"
tmp=$(mktemp -d "$base/dsync-bench-s3.XXXXXX")
chmod 755 "$tmp"
log "temp data in $tmp (about $need_mb MB)"

# tests/e2e/s3lib.sh starts and stops the server and lists buckets: it wants
# lib.sh's TMP, cleanup, fail and finish
TMP=$tmp/s3lib
mkdir -p "$TMP"
DSYNC_SRC=$src
cleanup() { rm -rf "$tmp"; }
fail() { log "$1"; }
finish() { exit 1; }
. "$src/tests/e2e/s3lib.sh"
trap 'exit 130' INT
trap 'exit 143' TERM
store_bytes=$(( (mb * runs * 4 + 2048) << 20 ))
((store_bytes > 8 << 30)) || store_bytes=$((8 << 30))
log "starting the RGW (bluestore)"
LOCAL_S3_STORE=bluestore LOCAL_S3_BASE_DIR=$tmp LOCAL_S3_STORE_SIZE=$store_bytes s3_start
log "$S3_BACKEND at $S3_ENDPOINT"

export DSYNC_TEST_KDF=min DSYNC_PASSPHRASE=bench-passphrase RESTIC_PASSWORD=bench-passphrase
unset DSYNC_DEVICE_NAME DSYNC_TEST_SLOW DSYNC_TEST_PACK_MAX DSYNC_TEST_S3_PART DSYNC_TEST_S3_STALL
unset RESTIC_REPOSITORY RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND XDG_CONFIG_HOME
# nothing of the caller's AWS setup: the server is plain http on 127.0.0.1 (a
# CA bundle named there makes rclone 1.60 fail: "LoadCustomCABundleError")
unset AWS_CA_BUNDLE AWS_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE AWS_SESSION_TOKEN
export LC_ALL=C
mkdir -p "$tmp/logs"
cat > "$tmp/rclone.conf" << EOF
[bench]
type = s3
provider = Ceph
endpoint = $S3_ENDPOINT
access_key_id = $S3_ACCESS_KEY
secret_access_key = $S3_SECRET_KEY
region = $S3_REGION
EOF
chmod 600 "$tmp/rclone.conf"
RCLONE=(rclone --config "$tmp/rclone.conf")

# the change step is bench/sync.sh's (1% of the bytes: rewritten files,
# regions edited, new files), taken from it so the benches change alike
sed -n "/^cat > \"\$tmp\/change.pl\" << 'EOF'\$/,/^EOF\$/p" "$here/sync.sh" | sed '1d;$d' > "$tmp/change.pl"
grep -q 'sub new_bytes' "$tmp/change.pl" || die "could not take the change step from bench/sync.sh"

# ------------------------------------------------------------ the corpus
log "generating the corpus: $nfiles files, $mb MB"
pristine=$tmp/pristine
random_bytes $((mb * 4 << 20)) "$seed" > "$tmp/pool"
mkdir -p "$pristine"
perl "$here/corpus.pl" large "$pristine" "$nfiles" $((mb << 20)) "$seed" "$tmp/pool"
rm -f "$tmp/pool"
# written two hours ago, as a real folder's files mostly are (no tool takes
# a file for changed because its mtime is too recent to trust)
find "$pristine" -type f -print0 | xargs -0 -r touch -d "@$(($(date +%s) - 7200))"
corpus=$(find "$pristine" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
budget=$((corpus / 100))
random_bytes $((budget + (1 << 20))) $((seed + 1000)) > "$tmp/fresh"

CHANGED=0 CHANGE_WHAT=""
# change DIR: the change step, the same for every tool and run; sets CHANGED
change() {
	local rn rb en eb et nn nb
	read -r rn rb en eb et nn nb < <(perl "$tmp/change.pl" "$1" "$budget" $((seed + 7)) "$tmp/fresh" \
		"50 25 25" "$tmp/changes")
	CHANGED=$((rb + eb + nb))
	CHANGE_WHAT="$rn files rewritten, $en regions edited, $nn new files"
}

# ------------------------------------------------------------ measuring
declare -A T U S Q M FAILED
bad=0
now() { date +%s.%N; }
# objects BUCKET: KEY SIZE ETAG of every object, sorted
objects() { s3_list "$1" | LC_ALL=C sort; }
# timed KEY BUCKET DIR HOME CMD...: CMD in DIR with HOME, after a sync; adds
# to KEY's figures its seconds, peak RSS (KiB), the bytes of the objects it
# added or changed in BUCKET, and from the RGW's log the requests for BUCKET
# and the bodies of its PUTs and POSTs
timed() {
	local key=$1 bucket=$2 dir=$3 home=$4 t0 t1 off rc=0 up q sent
	shift 4
	objects "$bucket" > "$tmp/o0" 2> /dev/null || : > "$tmp/o0"
	off=$(s3_log_size)
	sync
	t0=$(now)
	(cd "$dir" && HOME=$home RESTIC_CACHE_DIR=$home/.cache/restic \
		exec /usr/bin/time -f %M -o "$tmp/rss" "$@" > "$tmp/logs/$key.out" 2>&1) || rc=$?
	t1=$(now)
	if ((rc != 0)); then
		tail -n 15 "$tmp/logs/$key.out" >&2
		FAILED[$key]=1
		bad=1
		log "FAIL $key: '$*' exited $rc"
		return 1
	fi
	objects "$bucket" > "$tmp/o1" 2> /dev/null || : > "$tmp/o1"
	up=$(LC_ALL=C comm -13 "$tmp/o0" "$tmp/o1" | awk '{ s += $2 } END { print s + 0 }')
	# (the RGW's log thread writes the last lines a moment after the reply)
	sleep 1
	s3_requests "$off" | awk -v b="/$bucket" '$2 == b || index($2, b "/") == 1 || index($2, b "?") == 1' > "$tmp/req"
	q=$(wc -l < "$tmp/req")
	sent=$(awk '$1 == "PUT" || $1 == "POST" { s += $4 } END { print s + 0 }' "$tmp/req")
	T[$key]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') "
	U[$key]+="$up "
	S[$key]+="$sent "
	Q[$key]+="$q "
	M[$key]+="$(tail -n 1 "$tmp/rss") "
}
# sum KEY A B: KEY's figures get A's and B's last ones added (peak: the larger)
sum() {
	local key=$1 a=$2 b=$3
	if [[ -n ${FAILED[$a]:-} || -n ${FAILED[$b]:-} ]]; then
		FAILED[$key]=1
		return
	fi
	T[$key]+="$(awk -v x="$(last ${T[$a]})" -v y="$(last ${T[$b]})" 'BEGIN { printf "%.3f", x + y }') "
	U[$key]+="$(($(last ${U[$a]}) + $(last ${U[$b]}))) "
	S[$key]+="$(($(last ${S[$a]}) + $(last ${S[$b]}))) "
	Q[$key]+="$(($(last ${Q[$a]}) + $(last ${Q[$b]}))) "
	M[$key]+="$(awk -v x="$(last ${M[$a]})" -v y="$(last ${M[$b]})" 'BEGIN { print (x > y ? x : y) }') "
}
last() { echo "${!#}"; }
# readback KEY DIR REF: the copy read back into DIR must equal REF
readback() {
	if ! diff -r -q -x .dsync "$3" "$2" > "$tmp/logs/$1.diff" 2>&1; then
		head -n 5 "$tmp/logs/$1.diff" >&2
		FAILED[$1]=1
		bad=1
		log "FAIL $1: the copy read back differs from the folder"
	fi
	rm -rf "$2"
}
quiet() { "$@" > "$tmp/logs/setup.out" 2>&1 || { tail -n 10 "$tmp/logs/setup.out" >&2; return 1; }; }

run_dsync() { # RUN
	local r=$1 w=$tmp/w-dsync h=$tmp/h-dsync b=dsync-r$1
	local url="s3+http://127.0.0.1:$S3_PORT/dsync-r$1/docs"
	rm -rf "$w" "$h"
	mkdir -p "$h"
	cp -a "$pristine" "$w"
	log "run $r: dsync init + push"
	timed first.init "$b" "$w" "$h" "$DSYNC" init . --device-name bench || return 0
	quiet env HOME="$h" sh -c 'cd "$1" && "$2" remote add s3 "$3"' - "$w" "$DSYNC" "$url" ||
		{ FAILED[first.push]=1; bad=1; log "FAIL dsync remote add $url"; return 0; }
	timed first.push "$b" "$w" "$h" "$DSYNC" push s3 || return 0
	sum first.dsync first.init first.push
	change "$w"
	log "run $r: dsync snapshot + push after the change"
	timed change.snap "$b" "$w" "$h" "$DSYNC" snapshot || return 0
	timed change.push "$b" "$w" "$h" "$DSYNC" push s3 || return 0
	sum change.dsync change.snap change.push
	if ((r == 1)); then
		log "run $r: dsync join (read back)"
		quiet env HOME="$tmp/hj-dsync" "$DSYNC" join "$url" "$tmp/j-dsync" --device-name readback ||
			{ FAILED[change.dsync]=1; bad=1; log "FAIL dsync join"; }
		readback change.dsync "$tmp/j-dsync" "$w"
		rm -rf "$tmp/hj-dsync"
	fi
	rm -rf "$w" "$h"
}

run_peers() { # RUN: restic and rclone on one copy (they only read it)
	local r=$1 w=$tmp/w-peers h=$tmp/h-peers rok=0 cok=0
	local restic=(restic -r "s3:$S3_ENDPOINT/restic-r$1" -o s3.region="$S3_REGION")
	rm -rf "$w" "$h"
	mkdir -p "$h"
	cp -a "$pristine" "$w"
	if has restic; then
		log "run $r: restic init + backup"
		if quiet env HOME="$h" RESTIC_CACHE_DIR="$h/.cache/restic" "${restic[@]}" init --repository-version 2 &&
			timed first.restic "restic-r$r" "$w" "$h" "${restic[@]}" backup --host bench .; then
			rok=1
		else
			FAILED[first.restic]=1 bad=1
		fi
	fi
	if has rclone; then
		log "run $r: rclone copy"
		timed first.rclone "rclone-r$r" "$w" "$h" "${RCLONE[@]}" copy . "bench:rclone-r$r/docs" && cok=1
	fi
	change "$w"
	if ((rok)); then
		log "run $r: restic backup after the change"
		timed change.restic "restic-r$r" "$w" "$h" "${restic[@]}" backup --host bench . || rok=0
	fi
	if ((cok)); then
		log "run $r: rclone sync after the change"
		timed change.rclone "rclone-r$r" "$w" "$h" "${RCLONE[@]}" sync . "bench:rclone-r$r/docs" || cok=0
	fi
	if ((r == 1 && rok)); then
		log "run $r: restic restore (read back)"
		quiet env HOME="$h" RESTIC_CACHE_DIR="$tmp/hj-restic" "${restic[@]}" restore latest --target "$tmp/j-restic" ||
			{ FAILED[change.restic]=1; bad=1; log "FAIL restic restore"; }
		readback change.restic "$tmp/j-restic" "$w"
	fi
	if ((r == 1 && cok)); then
		log "run $r: rclone copy back (read back)"
		quiet "${RCLONE[@]}" copy "bench:rclone-r$r/docs" "$tmp/j-rclone" ||
			{ FAILED[change.rclone]=1; bad=1; log "FAIL rclone copy back"; }
		readback change.rclone "$tmp/j-rclone" "$w"
	fi
	rm -rf "$w" "$h" "$tmp/hj-restic"
}

groups=()
has dsync && groups+=(dsync)
{ has restic || has rclone; } && groups+=(peers)
for ((r = 1; r <= runs; r++)); do
	for ((i = 0; i < ${#groups[@]}; i++)); do
		# the order turns from run to run, so that drift hits every tool
		case ${groups[(i + r - 1) % ${#groups[@]}]} in
		dsync) run_dsync "$r" ;;
		peers) run_peers "$r" ;;
		esac
	done
done

# ---------------------------------------------------------------- report
median() { # VALUES...
	printf '%s\n' "$@" | sort -g | awk 'NF { a[++n] = $1 }
		END { if (n == 0) print ""; else print (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }'
}
# shellcheck disable=SC2086
med() { local -n arr=$1; median ${arr[$2]:-}; }
row() { # LABEL KEY BYTES-IN (for MB/s)
	local key=$2 t
	if [[ -n ${FAILED[$key]:-} ]]; then
		printf '  %-30s %9s\n' "$1" FAIL
		return
	fi
	t=$(med T "$key")
	[[ -n $t ]] || return 0
	printf '  %-30s %9.2f %8s %9.1f %9.1f %9.0f %8.0f\n' "$1" "$t" \
		"$(awk -v b="$3" -v t="$t" 'BEGIN { if (b > 0 && t > 0) printf "%.1f", b / t / 1e6; else printf "-" }')" \
		"$(awk -v b="$(med S "$key")" 'BEGIN { print b / 1e6 }')" \
		"$(awk -v b="$(med U "$key")" 'BEGIN { print b / 1e6 }')" "$(med Q "$key")" \
		"$(awk -v k="$(med M "$key")" 'BEGIN { print k / 1024 }')"
}
ratio() { # FIG A B
	local a b
	[[ -z ${FAILED[$2]:-} && -z ${FAILED[$3]:-} ]] || { echo -; return; }
	a=$(med "$1" "$2") b=$(med "$1" "$3")
	awk -v a="$a" -v b="$b" 'BEGIN { if (a == "" || b <= 0) printf "-"; else if (a / b < 0.1) printf "%.3f", a / b; else printf "%.2f", a / b }'
}
echo
echo "s3:// bench: $S3_BACKEND on 127.0.0.1; $("$DSYNC" version 2> /dev/null | head -n 1), $(restic version 2> /dev/null |
	cut -d' ' -f1-2), $(rclone version 2> /dev/null | head -n 1)"
printf 'documents corpus: %d files, %.1f MB; after 1%%: %.1f MB changed (%s)\n' "$(find "$tmp/pristine" -type f | wc -l)" \
	"$(awk -v b="$corpus" 'BEGIN { print b / 1e6 }')" "$(awk -v b="$CHANGED" 'BEGIN { print b / 1e6 }')" "$CHANGE_WHAT"
echo "medians of $runs run(s); MB sent: the bodies of the step's PUTs and POSTs (the RGW's log);"
echo "MB kept: the objects it added or changed in its bucket; requests: the RGW's access lines"
echo "for the bucket; peak MB: RSS (GNU time)"
printf '  %-30s %9s %8s %9s %9s %9s %8s\n' step seconds MB/s "MB sent" "MB kept" requests "peak MB"
echo "first upload"
row "dsync init + push" first.dsync "$corpus"
row "  dsync init (snapshot)" first.init "$corpus"
row "  dsync push" first.push "$corpus"
row "restic backup" first.restic "$corpus"
row "rclone copy" first.rclone "$corpus"
echo "after the 1% change"
row "dsync snapshot + push" change.dsync "$CHANGED"
row "  dsync snapshot" change.snap "$CHANGED"
row "  dsync push" change.push "$CHANGED"
row "restic backup" change.restic "$CHANGED"
row "rclone sync" change.rclone "$CHANGED"
if has dsync; then
	for p in restic rclone; do
		has $p || continue
		printf 'dsync/%s: first upload %s x the time (push alone %s), %s x the bytes sent; after 1%%: %s x the time (push alone %s), %s x the bytes sent, %s x the requests\n' \
			"$p" "$(ratio T first.dsync first.$p)" "$(ratio T first.push first.$p)" "$(ratio S first.dsync first.$p)" \
			"$(ratio T change.dsync change.$p)" "$(ratio T change.push change.$p)" "$(ratio S change.dsync change.$p)" \
			"$(ratio Q change.dsync change.$p)"
	done
fi
echo
echo "all runs (seconds):"
for k in first.dsync first.init first.push first.restic first.rclone change.dsync change.snap change.push change.restic change.rclone; do
	[[ -n ${T[$k]:-} ]] && printf '  %-14s %s\n' "$k" "${T[$k]}"
done
((bad == 0)) || { log "some tool failed or gave a wrong result: see FAIL above"; exit 1; }
exit 0
