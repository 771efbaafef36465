#!/bin/bash
# Sync benchmark: what an encrypted `dsync push` writes after 1% of a folder
# changed, against what rsync sends and what restic adds for the same change,
# all in one run.
#
#   bench/sync.sh [--quick]
#
# A corpus of documents (bench/corpus.pl large: 2,000 files, 250 MB, mixed
# sizes, 60% incompressible, 40% hex text; --quick: 200 files, 20 MB) is
# pushed once by `dsync push` to a file:// remote, copied by rsync and backed
# up by restic. Then 1% of its bytes change: half in whole files rewritten,
# a quarter in 16 KiB regions overwritten inside files of 64 KiB and more, a
# quarter in new files (fresh random bytes or hex text; BENCH_CHANGE_MIX).
# Each tool then sends the change:
#   dsync push         bytes of the new blobs in the remote (packs, manifest)
#   rsync              "Total bytes sent" (--no-whole-file), without and with -z
#   restic backup      bytes of the new files in its repository
# Reported: the changed bytes, each tool's bytes and time, and dsync's bytes
# as a ratio of the changed bytes (target: about 1) and of rsync's and
# restic's; also the first upload of each and a push with nothing changed.
# A fresh device then joins the remote and must get the folder as it is.
# Settings: BENCH_FILES, BENCH_MB, BENCH_CHANGE_PCT (1), BENCH_CHANGE_MIX
# ("50 25 25": rewrite, edit, new), BENCH_SEED (1), BENCH_DIR (temp space).
# DSYNC=/path/to/dsync picks the binary (default: build/dsync). A missing
# rsync or restic (Debian: apt-get install rsync restic) is skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
bench_args 25 "$@"
DSYNC=${DSYNC:-$here/../build/dsync}
if ((quick)); then
	: "${BENCH_FILES:=200}" "${BENCH_MB:=20}"
fi
files=${BENCH_FILES:-2000}
mb=${BENCH_MB:-250}
pct=${BENCH_CHANGE_PCT:-1}
mix=${BENCH_CHANGE_MIX:-50 25 25}
seed=${BENCH_SEED:-1}
base=${BENCH_DIR:-${TMPDIR:-/tmp}}

for v in files mb seed; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
[[ $pct =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "BENCH_CHANGE_PCT must be a number, not '$pct'"
[[ $mix =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]] || die "BENCH_CHANGE_MIX must be three whole numbers, not '$mix'"
command -v perl > /dev/null || die "perl is not installed"

# which tools run; a missing one is skipped with a note
have_dsync=1 have_rsync=1 have_restic=1
if [[ ! -x $DSYNC ]]; then
	log "no dsync at $DSYNC (build first, or set DSYNC): skipping dsync"
	have_dsync=0
elif ! "$DSYNC" help 2>&1 | grep -qE '^ +push '; then
	log "$DSYNC has no push command: skipping dsync"
	have_dsync=0
fi
command -v rsync > /dev/null || { log "rsync is not installed (apt-get install rsync): skipping rsync"; have_rsync=0; }
command -v restic > /dev/null || { log "restic is not installed (apt-get install restic): skipping restic"; have_restic=0; }
((have_dsync + have_rsync + have_restic > 0)) || die "none of dsync, rsync, restic can run"

# temp space: pool (4x), corpus, two rsync copies, dsync store and remote,
# restic repository, the joined copy
mkdir -p "$base"
need_mb=$((mb * 11 + 200))
avail_mb=$(df -Pm "$base" | awk 'NR == 2 { print $4 }')
((avail_mb > need_mb)) || die "not enough free space in $base (need about $need_mb MB, $avail_mb MB free)"
tmp=$(mktemp -d "$base/dsync-bench-sync.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
log "temp data in $tmp (about $need_mb MB)"
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config LC_ALL=C
# DSYNC_TEST_KDF=min lowers the key derivation's cost only in a test build
# (-DDSYNC_TESTING=ON); any other derives at MODERATE cost (about 1 s, 256 MiB),
# once in the untimed remote add and once in the timed join
export DSYNC_TEST_KDF=min DSYNC_PASSPHRASE=bench-passphrase RESTIC_PASSWORD=bench-passphrase
export RESTIC_CACHE_DIR=$tmp/restic-cache
unset DSYNC_DEVICE_NAME DSYNC_TEST_SLOW RESTIC_REPOSITORY RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND
mkdir -p "$HOME" "$tmp/logs"

now() { date +%s.%N; }
# the blobs under a directory, "PATH SIZE" sorted; names starting with "."
# (a transport's temp files, restic's none) are not blobs
blobs() { find "$1" -type f -printf '%P %s\n' | awk '$1 !~ /(^|\/)\./' | sort; }
# bytes of the blobs in AFTER that BEFORE lacks (new, or same name and a new size)
added() { comm -13 "$1" "$2" | awk '{ s += $2 } END { print s + 0 }'; }
kib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1024 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# runs "$@" with output to logs/NAME; on failure shows the log's tail
run_logged() { # NAME CMD...
	local name=$1 rc=0
	shift
	"$@" > "$tmp/logs/$name" 2>&1 || rc=$?
	if ((rc != 0)); then
		log "$name failed (exit $rc):"
		tail -n 20 "$tmp/logs/$name" >&2
	fi
	return $rc
}
# "Total bytes sent: 1,234" from rsync --stats
rsync_sent() { awk -F': ' '/^Total bytes sent:/ { gsub(/[^0-9]/, "", $2); print $2 }' "$1"; }
rsync_literal() { awk -F': ' '/^Literal data:/ { gsub(/[^0-9]/, "", $2); print $2 }' "$1"; }

# ------------------------------------------------------------------ corpus
data=$tmp/data
pool=$tmp/pool
log "generating the corpus: $files files, $mb MB"
# a pool 4x the corpus keeps the random slices the files are cut from mostly
# distinct, so that deduplicating tools find little to share, as in real documents
random_bytes $((mb * 4 << 20)) "$seed" > "$pool"
mkdir -p "$data"
perl "$here/corpus.pl" large "$data" "$files" $((mb << 20)) "$seed" "$pool"
rm -f "$pool"
corpus_bytes=$(find "$data" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
corpus_files=$(find "$data" -type f | wc -l)
log "  $corpus_files files, $(mib "$corpus_bytes") MiB"
find "$data" -type f -print0 | xargs -0 -r cat > /dev/null

# ------------------------------------------------------- the first upload
declare -A T B
remote=$tmp/remote
dsync_ok=$have_dsync
if ((dsync_ok)); then
	log "dsync: init (first snapshot), remote add, push"
	sync
	t0=$(now)
	run_logged dsync-init "$DSYNC" init --device-name bench "$data" || dsync_ok=0
	t1=$(now)
	T[dsync_init]=$(secs "$t0" "$t1")
fi
if ((dsync_ok)); then
	(cd "$data" && run_logged dsync-remote-add "$DSYNC" remote add r "file://$remote") || dsync_ok=0
fi
if ((dsync_ok)); then
	blobs "$remote" > "$tmp/remote.0"
	sync
	t0=$(now)
	(cd "$data" && run_logged dsync-push-1 "$DSYNC" push r) || dsync_ok=0
	t1=$(now)
	T[dsync_1]=$(secs "$t0" "$t1")
	blobs "$remote" > "$tmp/remote.1"
	B[dsync_1]=$(added "$tmp/remote.0" "$tmp/remote.1")
	log "  dsync push: $(mib "${B[dsync_1]}") MiB in ${T[dsync_1]} s"
fi
# rsync and restic read the same folder, without dsync's .dsync
if ((have_rsync)); then
	log "rsync: first copy"
	sync
	t0=$(now)
	run_logged rsync-1 rsync -a --stats --exclude=/.dsync "$data/" "$tmp/rsync/" || die "rsync failed"
	t1=$(now)
	T[rsync_1]=$(secs "$t0" "$t1")
	B[rsync_1]=$(rsync_sent "$tmp/logs/rsync-1")
	cp -a "$tmp/rsync" "$tmp/rsync-z" # the same copy, for the run with -z
	log "  rsync: $(mib "${B[rsync_1]}") MiB sent in ${T[rsync_1]} s"
fi
restic_r=(restic -r "$tmp/restic")
if ((have_restic)); then
	log "restic: init, first backup"
	# format 2: compressed, as dsync's packs are
	run_logged restic-init "${restic_r[@]}" init --repository-version 2 || die "restic init failed"
	blobs "$tmp/restic" > "$tmp/restic.0"
	sync
	t0=$(now)
	run_logged restic-1 "${restic_r[@]}" backup --host bench --exclude "$data/.dsync" "$data" ||
		die "restic backup failed"
	t1=$(now)
	T[restic_1]=$(secs "$t0" "$t1")
	blobs "$tmp/restic" > "$tmp/restic.1"
	B[restic_1]=$(added "$tmp/restic.0" "$tmp/restic.1")
	log "  restic: $(mib "${B[restic_1]}") MiB added in ${T[restic_1]} s"
fi

# -------------------------------------------------------------- the change
budget=$(awk -v c="$corpus_bytes" -v p="$pct" 'BEGIN { printf "%d", c * p / 100 }')
log "changing $pct% of the corpus: $budget bytes"
# fresh bytes, never seen in the corpus, consumed in order: nothing in the
# change can be found elsewhere in the folder
random_bytes $((budget + (1 << 20))) $((seed + 1000)) > "$tmp/fresh"
cat > "$tmp/change.pl" << 'EOF'
use strict;
use warnings;
use File::Find;
my ($dir, $budget, $seed, $fresh, $mix, $list) = @ARGV;
my ($wr, $we, $wn) = split ' ', $mix;
my $wsum = $wr + $we + $wn or die "BENCH_CHANGE_MIX adds up to 0\n";
open(my $ph, '<:raw', $fresh) or die "$fresh: $!\n";
my $pool = do { local $/; <$ph> };
close($ph);
my $ppos = 0;
sub fresh {
	my ($n) = @_;
	die "fresh bytes exhausted\n" if $ppos + $n > length($pool);
	my $s = substr($pool, $ppos, $n);
	$ppos += $n;
	return $s;
}
sub is_text { return $_[0] =~ /\.(txt|md|csv|html|tex)$/; }
# LEN new bytes: random, or hex lines like corpus.pl's text
sub new_bytes {
	my ($len, $text) = @_;
	return fresh($len) unless $text;
	my $s = unpack('H*', fresh(($len + 1) >> 1));
	$s =~ s/(.{63})/$1\n/g;
	return substr($s, 0, $len);
}
my @files;
find({ no_chdir => 1, wanted => sub {
	if (-d $_ && $_ eq "$dir/.dsync") { $File::Find::prune = 1; return; }
	push @files, $_ if -f $_;
} }, $dir);
@files = sort @files;
srand($seed);
for (my $i = $#files; $i > 0; $i--) {
	my $j = int(rand($i + 1));
	@files[$i, $j] = @files[$j, $i];
}
my %size = map { $_ => -s $_ } @files;
my %used;
open(my $out, '>', $list) or die "$list: $!\n";
my ($rn, $rb, $en, $eb, $et, $nn, $nb) = (0) x 7;

# whole files rewritten (same size, new content): files up to 1 MiB
my $want = int($budget * $wr / $wsum);
for my $f (@files) {
	last if $rb >= $want - 64;
	my $s = $size{$f};
	next if $s > 1048576 || $rb + $s > $want;
	open(my $fh, '>:raw', $f) or die "$f: $!\n";
	print $fh new_bytes($s, is_text($f)) or die "$f: $!\n";
	close($fh) or die "$f: $!\n";
	print $out "rewrite $f $s $s\n";
	$used{$f} = 1;
	$rn++;
	$rb += $s;
}
# regions of 16 KiB overwritten inside files of 64 KiB and more
$want = $we ? int($budget * ($wr + $we) / $wsum) - $rb : 0;
for my $f (@files) {
	last if $eb >= $want;
	my $s = $size{$f};
	next if $used{$f} || $s < 65536;
	my $len = 16384;
	$len = $want - $eb if $len > $want - $eb;
	my $off = int($s / 8) + int(rand($s - int($s / 4) - $len));
	open(my $fh, '+<:raw', $f) or die "$f: $!\n";
	seek($fh, $off, 0) or die "$f: $!\n";
	print $fh new_bytes($len, is_text($f)) or die "$f: $!\n";
	close($fh) or die "$f: $!\n";
	print $out "edit $f $len $s\n";
	$used{$f} = 1;
	$en++;
	$eb += $len;
	$et += $s;
}
# new files (4 KiB to 256 KiB) in the corpus's folders, for the rest
my @dirs = sort keys %{{ map { (my $d = $_) =~ s{/[^/]*$}{}; $d => 1 } @files }};
my @ext = qw(pdf jpg docx txt md csv);
while ($rb + $eb + $nb < $budget) {
	my $left = $budget - $rb - $eb - $nb;
	my $s = int(exp(log(4096) + rand() * (log(262144) - log(4096))));
	$s = $left if $s > $left || $left - $s < 4096;
	my $f = sprintf('%s/new%05d.%s', $dirs[int(rand(@dirs))], $nn, $ext[int(rand(@ext))]);
	open(my $fh, '>:raw', $f) or die "$f: $!\n";
	print $fh new_bytes($s, is_text($f)) or die "$f: $!\n";
	close($fh) or die "$f: $!\n";
	print $out "new $f $s $s\n";
	$nn++;
	$nb += $s;
}
close($out);
print "$rn $rb $en $eb $et $nn $nb\n";
EOF
read -r rn rb en eb et nn nb < <(perl "$tmp/change.pl" "$data" "$budget" $((seed + 7)) "$tmp/fresh" "$mix" "$tmp/changes")
rm -f "$tmp/fresh"
changed=$((rb + eb + nb))
touched=$((rb + et + nb))
log "  rewritten $rn files ($rb bytes), $en regions edited ($eb bytes in files of $et), $nn new files ($nb bytes)"

# ------------------------------------------------------ the change, sent
if ((dsync_ok)); then
	log "dsync: push"
	sync
	t0=$(now)
	(cd "$data" && run_logged dsync-push-2 "$DSYNC" push r) || dsync_ok=0
	t1=$(now)
	T[dsync_2]=$(secs "$t0" "$t1")
	blobs "$remote" > "$tmp/remote.2"
	B[dsync_2]=$(added "$tmp/remote.1" "$tmp/remote.2")
	read -r np pb nm mb_ < <(comm -13 "$tmp/remote.1" "$tmp/remote.2" | awk '
		$1 ~ /^packs\// { np++; pb += $2 } $1 ~ /^devices\// { nm++; mb += $2 }
		END { print np + 0, pb + 0, nm + 0, mb + 0 }')
	removed=$(comm -23 "$tmp/remote.1" "$tmp/remote.2" | awk '{ printf "%s%s", sep, $1; sep = ", " }')
	other=$((B[dsync_2] - pb - mb_))
	log "  dsync push: ${B[dsync_2]} bytes in ${T[dsync_2]} s"
fi
if ((have_rsync)); then
	log "rsync: the change, without and with -z"
	sync
	t0=$(now)
	run_logged rsync-2 rsync -a --no-whole-file --stats --exclude=/.dsync "$data/" "$tmp/rsync/" ||
		die "rsync failed"
	t1=$(now)
	T[rsync_2]=$(secs "$t0" "$t1")
	B[rsync_2]=$(rsync_sent "$tmp/logs/rsync-2")
	sync
	t0=$(now)
	run_logged rsync-z rsync -a -z --no-whole-file --stats --exclude=/.dsync "$data/" "$tmp/rsync-z/" ||
		die "rsync -z failed"
	t1=$(now)
	T[rsync_z]=$(secs "$t0" "$t1")
	B[rsync_z]=$(rsync_sent "$tmp/logs/rsync-z")
	log "  rsync: ${B[rsync_2]} bytes sent (literal $(rsync_literal "$tmp/logs/rsync-2")), -z: ${B[rsync_z]}"
	diff -r -q -x .dsync "$data" "$tmp/rsync" > /dev/null || die "rsync's copy differs from the folder"
fi
if ((have_restic)); then
	log "restic: backup"
	sync
	t0=$(now)
	run_logged restic-2 "${restic_r[@]}" backup --host bench --exclude "$data/.dsync" "$data" ||
		die "restic backup failed"
	t1=$(now)
	T[restic_2]=$(secs "$t0" "$t1")
	blobs "$tmp/restic" > "$tmp/restic.2"
	B[restic_2]=$(added "$tmp/restic.1" "$tmp/restic.2")
	log "  restic: ${B[restic_2]} bytes added; it says: $(grep -h 'Added to the repo' "$tmp/logs/restic-2" || true)"
fi

# ------------------------------------ nothing changed; a new device joins
if ((dsync_ok)); then
	log "dsync: push with nothing changed"
	sync
	t0=$(now)
	(cd "$data" && run_logged dsync-push-3 "$DSYNC" push r) || dsync_ok=0
	t1=$(now)
	T[dsync_3]=$(secs "$t0" "$t1")
	blobs "$remote" > "$tmp/remote.3"
	B[dsync_3]=$(added "$tmp/remote.2" "$tmp/remote.3")
fi
joined=
if ((dsync_ok)); then
	log "dsync: a fresh device joins the remote"
	mkdir -p "$tmp/home2"
	sync
	t0=$(now)
	if HOME=$tmp/home2 XDG_CONFIG_HOME=$tmp/home2/.config \
		run_logged dsync-join "$DSYNC" join "file://$remote" "$tmp/joined" --device-name verify; then
		t1=$(now)
		T[dsync_join]=$(secs "$t0" "$t1")
		if diff -r -q -x .dsync "$data" "$tmp/joined" > "$tmp/logs/join-diff" 2>&1; then
			joined=same
		else
			joined=DIFFERENT
			log "the joined folder differs from the pushed one:"
			head -n 20 "$tmp/logs/join-diff" >&2
		fi
	else
		joined=failed
	fi
fi

# ------------------------------------------------------------------ report
printf '\ncorpus: %d files, %s MiB; changed %s%% = %d bytes (%s KiB):\n' "$corpus_files" \
	"$(mib "$corpus_bytes")" "$pct" "$changed" "$(kib "$changed")"
printf '  %4d files rewritten     %10d bytes\n' "$rn" "$rb"
printf '  %4d regions overwritten %10d bytes (in files of %d bytes)\n' "$en" "$eb" "$et"
printf '  %4d new files           %10d bytes\n' "$nn" "$nb"
printf '  the changed and new files hold %d bytes (%s KiB)\n' "$touched" "$(kib "$touched")"

printf '\n%-34s %12s %10s %9s\n' "first upload" "MiB" "/ corpus" "seconds"
if ((have_dsync)); then
	if [[ -n ${B[dsync_1]:-} ]]; then
		printf '%-34s %12s %10s %9s\n' "dsync init (first snapshot)" - - "${T[dsync_init]}"
		printf '%-34s %12s %10s %9s\n' "dsync push (remote growth)" "$(mib "${B[dsync_1]}")" \
			"$(ratio "${B[dsync_1]}" "$corpus_bytes")" "${T[dsync_1]}"
	else
		printf '%-34s %12s\n' "dsync" "failed"
	fi
fi
if ((have_restic)); then
	printf '%-34s %12s %10s %9s\n' "restic backup (repository growth)" "$(mib "${B[restic_1]}")" \
		"$(ratio "${B[restic_1]}" "$corpus_bytes")" "${T[restic_1]}"
fi
if ((have_rsync)); then
	printf '%-34s %12s %10s %9s\n' "rsync (bytes sent)" "$(mib "${B[rsync_1]}")" \
		"$(ratio "${B[rsync_1]}" "$corpus_bytes")" "${T[rsync_1]}"
fi

printf '\n%-34s %12s %10s %10s %9s\n' "after the change" "KiB" "/ changed" "/ files" "seconds"
row() { # LABEL BYTES SECONDS
	printf '%-34s %12s %10s %10s %9s\n' "$1" "$(kib "$2")" "$(ratio "$2" "$changed")" \
		"$(ratio "$2" "$touched")" "$3"
}
if [[ -n ${B[dsync_2]:-} ]]; then
	row "dsync push (remote growth)" "${B[dsync_2]}" "${T[dsync_2]}"
	printf '  %d new pack(s) %s KiB, %d manifest(s) %s KiB, other %d bytes; removed: %s\n' \
		"$np" "$(kib "$pb")" "$nm" "$(kib "$mb_")" "$other" "${removed:-nothing}"
elif ((have_dsync)); then
	printf '%-34s %12s\n' "dsync push" "failed"
fi
if ((have_rsync)); then
	row "rsync (bytes sent)" "${B[rsync_2]}" "${T[rsync_2]}"
	row "rsync -z (bytes sent)" "${B[rsync_z]}" "${T[rsync_z]}"
fi
if ((have_restic)); then
	row "restic backup (repository growth)" "${B[restic_2]}" "${T[restic_2]}"
fi
if [[ -n ${B[dsync_3]:-} ]]; then
	printf '%-34s %12s %10s %10s %9s\n' "dsync push, nothing changed" "$(kib "${B[dsync_3]}")" - - "${T[dsync_3]}"
fi
if [[ -n $joined ]]; then
	printf '%-34s %12s %10s %10s %9s\n' "dsync join (whole remote)" - - - "${T[dsync_join]:--}"
	printf '  the joined folder: %s\n' "$joined"
fi

if [[ -n ${B[dsync_2]:-} ]]; then
	printf '\ndsync push / changed bytes   %6s  (target: about 1, plus the manifest)\n' \
		"$(ratio "${B[dsync_2]}" "$changed")"
	printf 'dsync push / changed files   %6s\n' "$(ratio "${B[dsync_2]}" "$touched")"
	((have_rsync)) && printf 'dsync push / rsync sent      %6s\ndsync push / rsync -z sent   %6s\n' \
		"$(ratio "${B[dsync_2]}" "${B[rsync_2]}")" "$(ratio "${B[dsync_2]}" "${B[rsync_z]}")"
	((have_restic)) && printf 'dsync push / restic added    %6s\n' "$(ratio "${B[dsync_2]}" "${B[restic_2]}")"
fi
[[ $joined == same || -z $joined ]] || exit 1
((have_dsync == dsync_ok)) || exit 1
exit 0
