#!/bin/bash
# Merge benchmark: `dsync merge` against `git merge` on the same histories.
#
#   bench/merge.sh [--quick]
#
# A folder of N small text files (default 20,000; --quick 2,000) is kept by
# dsync and, separately, by a plain git repository. Two devices start from
# it; each edits a different 5% of the files (one line), both edit another 5%
# in different places (clean line merges), and one side adds 1% new files and
# deletes 1%. Then the first merges the second, timed:
#
#   dsync merge REF     snapshot, merge, write the changed files, index, ref
#   git merge REF       the same for git (merge-ort, checkout, index), with
#                       core.fsync=all so it is as durable as dsync
#
# Prints both times and their ratio, and checks both folders end equal.
# DSYNC=/path/to/dsync picks the binary (default: build/dsync).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
bench_args 17 "$@"
DSYNC=${DSYNC:-$here/../build/dsync}
[ -x "$DSYNC" ] || { echo "no dsync at $DSYNC; build first" >&2; exit 1; }
n=20000
[ "$quick" = 1 ] && n=2000
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dsync-bench-merge.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config GIT_CONFIG_NOSYSTEM=1 LC_ALL=C
mkdir -p "$HOME"
git config --global user.name bench
git config --global user.email bench@example.org
git config --global init.defaultBranch main

# the starting folder: N files of 40 lines in folders of 100
mkdir "$tmp/base"
perl -e '
	my ($dir, $n) = @ARGV;
	for my $i (0 .. $n - 1) {
		my $d = sprintf("%s/d%03d", $dir, int($i / 100));
		mkdir $d;
		open(my $fh, ">", sprintf("%s/f%05d.txt", $d, $i)) or die;
		print $fh "file $i line $_ some words to make it a line\n" for 1 .. 40;
		close $fh;
	}' "$tmp/base" "$n"

# edits: SIDE (a or b) changes every file whose number % 20 == K at line L
edit() {
	perl -e '
		my ($dir, $n, $k, $line, $tag) = @ARGV;
		for (my $i = $k; $i < $n; $i += 20) {
			my $f = sprintf("%s/d%03d/f%05d.txt", $dir, int($i / 100), $i);
			open(my $fh, "<", $f) or die; my @l = <$fh>; close $fh;
			$l[$line] = "changed by $tag\n";
			open($fh, ">", $f) or die; print $fh @l; close $fh;
		}' "$@"
}
side_b_extra() { # adds 1% new files, deletes 1%
	perl -e '
		my ($dir, $n) = @ARGV;
		for (my $i = 7; $i < $n; $i += 100) {
			unlink sprintf("%s/d%03d/f%05d.txt", $dir, int($i / 100), $i);
			open(my $fh, ">", sprintf("%s/d%03d/new%05d.txt", $dir, int($i / 100), $i)) or die;
			print $fh "new file $i\n"; close $fh;
		}' "$@"
}

# dsync: alpha and beta, beta's history fetched into alpha
cp -a "$tmp/base" "$tmp/alpha"
"$DSYNC" init --device-name alpha "$tmp/alpha" > /dev/null
cp -a "$tmp/alpha" "$tmp/beta"
git --git-dir="$tmp/beta/.dsync" config dsync.deviceId bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
git --git-dir="$tmp/beta/.dsync" config dsync.deviceName beta
edit "$tmp/alpha" "$n" 1 5 alpha
edit "$tmp/alpha" "$n" 3 10 alpha
edit "$tmp/beta" "$n" 2 5 beta
edit "$tmp/beta" "$n" 3 30 beta
side_b_extra "$tmp/beta" "$n"
(cd "$tmp/alpha" && "$DSYNC" snapshot -q)
(cd "$tmp/beta" && "$DSYNC" snapshot -q)
git --git-dir="$tmp/alpha/.dsync" fetch -q "$tmp/beta/.dsync" main:refs/remotes/beta/main

# git: the same, in plain repositories
cp -a "$tmp/base" "$tmp/galpha"
(cd "$tmp/galpha" && git init -q && git config core.fsync all && git config core.fsyncMethod fsync &&
	git add -A && git commit -qm base)
cp -a "$tmp/galpha" "$tmp/gbeta"
edit "$tmp/galpha" "$n" 1 5 alpha
edit "$tmp/galpha" "$n" 3 10 alpha
edit "$tmp/gbeta" "$n" 2 5 beta
edit "$tmp/gbeta" "$n" 3 30 beta
side_b_extra "$tmp/gbeta" "$n"
(cd "$tmp/galpha" && git add -A && git commit -qm alpha)
(cd "$tmp/gbeta" && git add -A && git commit -qm beta)
git -C "$tmp/galpha" fetch -q "$tmp/gbeta" main:refs/remotes/beta/main

now() { date +%s.%N; }
sync
t0=$(now)
(cd "$tmp/alpha" && "$DSYNC" merge -q refs/remotes/beta/main)
t1=$(now)
sync
t2=$(now)
git -C "$tmp/galpha" merge -q --no-edit refs/remotes/beta/main > /dev/null
t3=$(now)

d=$(echo "$t1 - $t0" | bc)
g=$(echo "$t3 - $t2" | bc)
if ! diff -r -q -x .dsync -x .git "$tmp/alpha" "$tmp/galpha" > /dev/null; then
	echo "the merged folders differ" >&2
	exit 1
fi
printf 'files %d, changed on each side %d, merged lines in %d files\n' "$n" $((n / 10)) $((n / 20))
printf 'dsync merge  %6.2f s\ngit merge    %6.2f s\nratio        %6.2f (dsync / git)\n' "$d" "$g" \
	"$(echo "scale=4; $d / $g" | bc)"
