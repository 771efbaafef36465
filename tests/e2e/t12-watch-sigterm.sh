#!/bin/bash
# dsync watch stopped by SIGTERM (and once by SIGINT) in the middle of a
# burst of writes: it exits 0 saying "stopping", leaves a sound repository
# and no lock in the way; started again (from a subfolder, no DIR), it
# records the folder's last state: the newest snapshot equals the folder,
# file for file. A change not yet snapshotted when SIGTERM comes gets a last
# snapshot before the exit.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/watchlib.sh"

F=$(cd "$TMP" && pwd -P)/f
G=(git --git-dir="$F/.dsync")
at() { "${G[@]}" show "refs/heads/main:$1" 2>/dev/null; }
# digest DIR: every file's and link's content and executable bit, without
# .dsync (one process per kind, not per file: there are thousands)
digest() {
	(cd "$1" && {
		find . -path ./.dsync -prune -o -type f -print0 | xargs -0r sha256sum
		find . -path ./.dsync -prune -o -type f -perm -u+x -printf 'X %p\n'
		find . -path ./.dsync -prune -o -type l -printf 'L %p -> %l\n'
	} | LC_ALL=C sort)
}

mkdir -p "$F/sub"
cd "$F"
echo one > a.txt
echo sub > sub/b.txt
printf '#!/bin/sh\necho hi\n' > sub/run.sh
chmod +x sub/run.sh
ln -s sub/b.txt link
ok "init" dsync init --device-name box

# round SIGNAL FILES [ARGS...]: a writer makes FILES files (and keeps
# editing a few) over about 4 s; SIGNAL reaches the watcher (dsync watch F
# --delay 0.5 ARGS...) a third of the way in, or after its first snapshot
# of the burst when it makes some (--max-delay 1)
round() {
	local sig=$1 n=$2 log=$TMP/watch-$1.log wdir=w-$1 rc
	shift 2
	start_watch "$log" watch "$F" --delay 0.5 "$@"
	if wait_log "$log" "$WATCHING" 1 120; then pass "$sig: watching"
	else fail "$sig: no 'watching' line within 120 s"; show_log "$log"; return; fi
	perl -e 'my ($dir, $n) = @ARGV; mkdir $dir or die "$!\n";
		for my $i (0 .. $n - 1) {
			my $d = sprintf("%s/d%02d", $dir, $i % 20);
			-d $d or mkdir $d or die "$!\n";
			open(my $f, ">", sprintf("%s/f%05d.txt", $d, $i)) or die "$!\n";
			print $f "file $i\n"; close($f) or die "$!\n";
			if ($i % 10 == 0) {
				open(my $g, ">>", "a.txt") or die "$!\n";
				print $g "edit $i\n"; close($g) or die "$!\n";
				rename(sprintf("%s/f%05d.txt", $d, $i), sprintf("%s/r%05d.txt", $d, $i))
					if $i % 30 == 0;
				select(undef, undef, undef, 4 / ($n / 10));
			}
		}' "$wdir" "$n" &
	local writer=$!
	STARTED_PIDS+=("$writer")
	local end=$((SECONDS + 60))
	until [ -e "$wdir/d$(printf %02d $((n / 3 % 20)))/f$(printf %05d $((n / 3))).txt" ] ||
		[ "$SECONDS" -ge "$end" ]; do
		sleep 0.05
	done
	if [ "$*" = "--max-delay 1" ]; then
		# writes every 20 ms: no quiet, so a snapshot at most 1 s later
		if wait_log "$log" "$SNAPSHOT" 1 30; then pass "$sig: a snapshot during the burst (--max-delay 1)"
		else fail "$sig: no snapshot during the burst within 30 s (--max-delay 1)"; fi
	fi
	running "$writer" || echo "# $sig: the writer had finished before the signal (a loaded machine)"
	stop_watch "$sig"
	check "$sig mid-burst: the watcher exits 0 (got $WRC)" "$WRC" = 0
	if grep -qE "$STOPPING" "$log"; then pass "$sig mid-burst: a 'stopping' line"
	else fail "$sig mid-burst: no 'stopping' line"; show_log "$log"; fi
	wait "$writer"
	rc=$?
	check "$sig: the writer finished" "$rc" = 0
	ok "$sig: git fsck after the stop is clean" "${G[@]}" fsck --full --no-dangling

	# started again, from a subfolder without naming the folder: its start
	# snapshot records the folder's last state
	local log2=$TMP/watch-$sig-again.log
	cd "$F/sub"
	start_watch "$log2" watch --delay 0.5
	cd "$F"
	if wait_log "$log2" "$WATCHING" 1 120; then pass "$sig: started again (no DIR, from a subfolder)"
	else fail "$sig: started again: no 'watching' line"; show_log "$log2"; fi
	check "$sig: started again: the 'watching' line names the folder" \
		-n "$(grep -E "$WATCHING" "$log2" | grep -F " $F: ")"
	stop_watch TERM
	check "$sig: started again: exits 0 on SIGTERM (got $WRC)" "$WRC" = 0
	rm -rf "$TMP/restored"
	mkdir "$TMP/restored"
	"${G[@]}" archive refs/heads/main | tar -x -C "$TMP/restored"
	digest "$F" > "$TMP/digest-folder"
	digest "$TMP/restored" > "$TMP/digest-history"
	check "$sig: the newest snapshot equals the folder ($(wc -l < "$TMP/digest-folder") files)" \
		"$(cat "$TMP/digest-history")" = "$(cat "$TMP/digest-folder")"
	diff "$TMP/digest-folder" "$TMP/digest-history" | head -5 | sed 's/^/#   /'
	check "$sig: all $n files of the burst are in it" \
		"$("${G[@]}" ls-tree -r --name-only refs/heads/main "$wdir/" | wc -l)" = "$n"
	ok "$sig: status after the stop" dsync status
	contains "$sig: status: nothing left unrecorded" "$TMP/out" "nothing changed"
	ok "$sig: git fsck is clean" "${G[@]}" fsck --full --no-dangling
}

round TERM 2000 --max-delay 1
round INT 1000

# a change not yet snapshotted when SIGTERM comes: a last snapshot first
LOG=$TMP/watch-last.log
start_watch "$LOG" watch "$F" --delay 10 --max-delay 30
if wait_log "$LOG" "$WATCHING" 1 120; then pass "last: watching"
else fail "last: no 'watching' line"; show_log "$LOG"; fi
B=$(tip "$F")
echo "last words" > a.txt
echo gone > sub/new.txt
sleep 1   # the events reach the watcher; its 10 s delay is far from over
check "last: nothing recorded yet" "$(tip "$F")" = "$B"
stop_watch TERM
check "last: the watcher exits 0 (got $WRC)" "$WRC" = 0
check "last: 'stopping'" -n "$(grep -E "$STOPPING" "$LOG")"
check "last: one last snapshot" "$("${G[@]}" rev-list --count "$B..refs/heads/main")" = 1
check "last: the edit is in it" "$(at a.txt)" = "last words"
check "last: the new file is in it" "$(at sub/new.txt)" = gone
check "last: a 'snapshot' line for it" -n "$(grep -E "$SNAPSHOT" "$LOG")"
ok "git fsck is clean" "${G[@]}" fsck --full --no-dangling
finish
