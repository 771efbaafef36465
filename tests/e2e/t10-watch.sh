#!/bin/bash
# dsync watch: a change is recorded a moment after it settles, as one
# snapshot per save however the program saves (in place, vim's rename and
# backup, LibreOffice's lock and temporary file); folders created, moved in
# and moved out; a file being written is not recorded half-written; a mass
# delete pauses the watcher until the files come back or the user allows it;
# a burst of 5,000 files makes few snapshots; ignored files make none;
# SIGTERM stops it cleanly.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/watchlib.sh"

F=$(cd "$TMP" && pwd -P)/docs
LOG=$TMP/watch.log
G=(git --git-dir="$F/.dsync")
# ever_stored: every name any snapshot has held
ever_stored() {
	local c
	for c in $("${G[@]}" rev-list refs/heads/main); do stored "$F" "$c"; done | LC_ALL=C sort -u
}
# at PATH [REV]: the file's content in a snapshot (default: the newest)
at() { "${G[@]}" show "${2:-refs/heads/main}:$1" 2>/dev/null; }
# since REV: how many snapshots came after REV
since() { "${G[@]}" rev-list --count "$1..refs/heads/main"; }
# settle: long enough past the watcher's delay (0.5 s) for a snapshot that
# is coming to have been made
settle() { sleep 3; }
# one_snapshot WHAT BEFORE: the watcher snapshots after BEFORE, exactly once
one_snapshot() {
	local n
	if wait_commit "$F" "$2" 30; then
		pass "$1: a snapshot follows"
	else
		fail "$1: no snapshot within 30 s"
		show_log "$LOG"
	fi
	settle
	n=$(since "$2")
	check "$1: exactly one new snapshot (got $n)" "$n" = 1
}
# no_snapshot WHAT BEFORE: nothing recorded after BEFORE, a while later
no_snapshot() {
	settle
	local n
	n=$(since "$2")
	check "$1: no snapshot (got $n)" "$n" = 0
}

mkdir -p "$F/dir2/sub/deeper" "$F/many"
cd "$F"
echo one > a.txt
printf 'notes v1\n' > notes.txt
printf 'odt v1\n' > doc.odt
echo 'slow v0' > slow.txt
echo x > dir2/sub/x.txt
echo y > dir2/sub/deeper/y.txt
echo z > dir2/z.txt
for i in $(seq -w 0 99); do echo "many $i" > "many/f0$i.txt"; done
printf '*.log\n' > .dsyncignore
echo 'build 1' > build.log
ok "init" dsync init --device-name box
check "init: one snapshot" "$(commit_count "$F")" = 1

# --- start: a change made while nothing watched is recorded by the start
echo two > a.txt
start_watch "$LOG" watch "$F" --delay 0.5 --max-delay 30 --verbose
if wait_log "$LOG" "$WATCHING" 1 120; then
	pass "the watcher says it is watching"
else
	fail "no 'watching' line within 120 s (watcher running: $(running "$WPID" && echo yes || echo no))"
	show_log "$LOG"
	cat "$LOG.out" | head -5
	finish
fi
check "the 'watching' line names the folder" -n "$(grep -E "$WATCHING" "$LOG" | grep -F " $F: ")"
check "start: the change made before is recorded" "$(at a.txt)" = two
check "start: one snapshot for it" "$(commit_count "$F")" = 2
B=$(tip "$F")
no_snapshot "idle" "$B"

# --- a single save in place
B=$(tip "$F")
echo three > a.txt
one_snapshot "save in place" "$B"
check "save in place: content" "$(at a.txt)" = three
H=$(tip "$F")
check "a 'snapshot ID: message' line for it" \
	-n "$(grep -E "^[^ ]+ info /.*: .*snapshot ${H:0:7}[0-9a-f]*: " "$LOG")"

# --- vim: swap file while editing; on :w (one process, as vim) the write
# test file 4913, the file renamed to file~, the new file written, the
# backup deleted
B=$(tip "$F")
printf 'b0VIM swap\n' > .notes.txt.swp
perl -e 'open(my $t, ">", "4913") or die; close($t); unlink("4913") or die;
	rename("notes.txt", "notes.txt~") or die; open(my $f, ">", "notes.txt") or die;
	print $f "notes v2\n"; close($f) or die; unlink("notes.txt~") or die'
wait_commit "$F" "$B" 30
rm .notes.txt.swp   # :q
one_snapshot "vim save" "$B"
check "vim save: content" "$(at notes.txt)" = "notes v2"
ever_stored > "$TMP/ever"
check "vim save: notes.txt~ never stored" -z "$(grep -xF 'notes.txt~' "$TMP/ever")"
check "vim save: 4913 never stored" -z "$(grep -xF '4913' "$TMP/ever")"
check "vim save: the swap file never stored" -z "$(grep -F '.swp' "$TMP/ever")"
check "vim save: no snapshot without notes.txt" \
	"$(for c in $("${G[@]}" rev-list refs/heads/main); do at notes.txt "$c" >/dev/null || echo "$c"; done)" = ""

# --- LibreOffice: lock file while the document is open; a save writes
# lu*.tmp and renames it over the document; closing removes the lock
B=$(tip "$F")
printf 'box,root,box,01.01.2026 12:00,file:///root/.config/libreoffice/4;\n' > '.~lock.doc.odt#'
perl -e 'open(my $f, ">", "lu12345.tmp") or die; print $f "odt v2 part 1\n";
	print $f "odt v2 part 2\n"; close($f) or die; rename("lu12345.tmp", "doc.odt") or die'
wait_commit "$F" "$B" 30
rm '.~lock.doc.odt#'   # closed
one_snapshot "LibreOffice save" "$B"
check "LibreOffice save: content" "$(at doc.odt)" = "$(printf 'odt v2 part 1\nodt v2 part 2')"
ever_stored > "$TMP/ever"
check "LibreOffice save: the lock file never stored" -z "$(grep -F '.~lock' "$TMP/ever")"
check "LibreOffice save: the temporary file never stored" -z "$(grep -F 'lu12345' "$TMP/ever")"

# --- a new folder tree, files written into it at once
B=$(tip "$F")
perl -e 'for my $d ("d", "d/e", "d/e/f") { mkdir $d or die }
	for my $i (1 .. 8) {
		open(my $f, ">", "d/e/f/n$i.txt") or die; print $f "n$i\n"; close($f) or die;
		open($f, ">", "d/e/m$i.txt") or die; print $f "m$i\n"; close($f) or die;
	}
	open(my $f, ">", "d/top.txt") or die; print $f "top\n"; close($f) or die'
one_snapshot "new folders" "$B"
FIRST=$("${G[@]}" rev-list --reverse "$B..refs/heads/main" | sed -n 1p)
check "new folders: all 17 files in the next snapshot (got $(stored "$F" "$FIRST" | grep -c '^d/'))" \
	"$(stored "$F" "$FIRST" | grep -c '^d/')" = 17
check "new folders: deepest file's content" "$(at d/e/f/n8.txt "$FIRST")" = n8
B=$(tip "$F")
echo edited > d/e/f/n1.txt
one_snapshot "edit in the new deepest folder" "$B"
check "edit in the new deepest folder: content" "$(at d/e/f/n1.txt)" = edited

# --- a folder moved in from outside, then edited deep inside
mkdir -p "$TMP/outside/mv1/b/c"
echo a > "$TMP/outside/mv1/a.txt"
echo b > "$TMP/outside/mv1/b/b.txt"
echo deep > "$TMP/outside/mv1/b/c/deep.txt"
B=$(tip "$F")
mv "$TMP/outside/mv1" "$F/"
one_snapshot "folder moved in" "$B"
check "folder moved in: its files stored" \
	"$(stored "$F" | grep '^mv1/' | tr '\n' ' ')" = "mv1/a.txt mv1/b/b.txt mv1/b/c/deep.txt "
check "folder moved in: content" "$(at mv1/b/c/deep.txt)" = deep
B=$(tip "$F")
echo changed > mv1/b/c/deep.txt
one_snapshot "edit deep in the moved-in folder" "$B"
check "edit deep in the moved-in folder: content" "$(at mv1/b/c/deep.txt)" = changed

# --- a folder moved out: its files leave; changes out there are not ours
B=$(tip "$F")
mv "$F/dir2" "$TMP/dir2-out"
one_snapshot "folder moved out" "$B"
check "folder moved out: its files are gone from the snapshot" -z "$(stored "$F" | grep '^dir2/')"
check "folder moved out: they were in the one before" "$(stored "$F" "$B" | grep -c '^dir2/')" = 3
B=$(tip "$F")
echo late > "$TMP/dir2-out/sub/x.txt"
echo new > "$TMP/dir2-out/sub/deeper/new.txt"
no_snapshot "writes in the moved-out folder" "$B"

# --- a file rewritten in place slowly while held open: a line every 0.2 s,
# twice a pause of 1.5 s (three times the delay): never recorded
# half-written (a snapshot meanwhile keeps the previous version)
B=$(tip "$F")
perl -e 'open(my $f, ">", $ARGV[0]) or die "$!\n"; select((select($f), $| = 1)[0]);
	for my $i (1 .. 15) {
		print $f "line $i of 15\n";
		select(undef, undef, undef, $i == 5 || $i == 10 ? 1.5 : 0.2);
	}
	close($f) or die "$!\n"' "$F/slow.txt" &
WRITER=$!
STARTED_PIDS+=("$WRITER")
wait "$WRITER"
check "slow writer: finished" "$?" = 0
FINAL=$(seq -f 'line %g of 15' 15)
if wait_commit "$F" "$B" 30; then pass "slow writer: a snapshot follows"; else fail "slow writer: no snapshot"; fi
settle
check "slow writer: final content" "$(at slow.txt)" = "$FINAL"
partial=
for c in $("${G[@]}" rev-list "$B..refs/heads/main"); do
	v=$(at slow.txt "$c")
	if [ "$v" != "$FINAL" ] && [ "$v" != "slow v0" ]; then
		partial="$partial ${c:0:8}($(at slow.txt "$c" | wc -l) lines)"
	fi
done
check "slow writer: no snapshot holds a partial version:$partial" -z "$partial"

# --- ignored files: defaults and .dsyncignore rules
B=$(tip "$F")
echo swap > notes.swp
echo 'build 2' >> build.log
echo partial > film.part
mkdir -p .Trash-1000/files && echo t > .Trash-1000/files/t.txt
no_snapshot "changes to ignored files only" "$B"

# --- a mass delete pauses the watcher
cp -a many "$TMP/many-copy"
B=$(tip "$F")
rm many/f0[0-8]?.txt
PAUSED='^[^ ]+ warning /.*: .*paused'
if wait_log "$LOG" "$PAUSED" 1 30; then
	pass "mass delete: a 'paused' warning"
else
	fail "mass delete: no 'paused' warning within 30 s"
	show_log "$LOG"
fi
grep -E "$PAUSED" "$LOG" > "$TMP/paused"
contains "mass delete: the warning names --allow-mass-delete" "$TMP/paused" "--allow-mass-delete"
no_snapshot "mass delete" "$B"
check "mass delete: all 100 files still in the snapshot" "$(stored "$F" | grep -c '^many/')" = 100

# the files come back: the watcher resumes
cp -a "$TMP/many-copy/." many/
settle
B=$(tip "$F")
echo four > a.txt
if wait_commit "$F" "$B" 30; then pass "after the files came back, a save is recorded"
else fail "after the files came back, no snapshot of a save"; show_log "$LOG"; fi
check "that save's content" "$(at a.txt)" = four
check "still 100 files" "$(stored "$F" | grep -c '^many/')" = 100
RESUMED='^[^ ]+ info /.*: .*resumed'
if wait_log "$LOG" "$RESUMED" 1 10; then pass "a 'resumed' line"; else fail "no 'resumed' line"; fi
last_resumed=$(grep -nE "$RESUMED" "$LOG" | tail -1 | cut -d: -f1)
first_paused=$(grep -nE "$PAUSED" "$LOG" | head -1 | cut -d: -f1)
check "'resumed' comes after 'paused'" "${last_resumed:-0}" -gt "${first_paused:-0}"

# a second mass delete: recorded when the user allows it
settle
npaused=$(grep -cE "$PAUSED" "$LOG")
B=$(tip "$F")
rm many/f0[0-8]?.txt
if wait_log "$LOG" "$PAUSED" $((npaused + 1)) 30; then
	pass "second mass delete: paused again"
else
	fail "second mass delete: no new 'paused' warning"
	show_log "$LOG"
fi
no_snapshot "second mass delete" "$B"
ok "the user allows it: snapshot --allow-mass-delete" dsync snapshot --allow-mass-delete
check "the delete is recorded: 10 files left" "$(stored "$F" | grep -c '^many/')" = 10
check "one snapshot for it" "$(since "$B")" = 1
USER_SNAP=$(tip "$F")

# --- a burst of 5,000 files in 50 new folders
settle
B=$(tip "$F")
perl -e 'mkdir "burst" or die "$!\n";
	for my $d (0 .. 49) {
		mkdir sprintf("burst/d%02d", $d) or die "$!\n";
		for my $i (0 .. 99) {
			open(my $f, ">", sprintf("burst/d%02d/f%03d.txt", $d, $i)) or die "$!\n";
			print $f "burst file $d/$i\n";
			close($f) or die "$!\n";
		}
	}'
end=$((SECONDS + 120))
while [ "$(stored "$F" | grep -c '^burst/')" != 5000 ] && [ "$SECONDS" -lt "$end" ]; do sleep 0.5; done
check "burst: all 5,000 files stored (got $(stored "$F" | grep -c '^burst/'))" \
	"$(stored "$F" | grep -c '^burst/')" = 5000
settle
n=$(since "$B")
check "burst: at most 10 snapshots (got $n)" "$n" -le 10
mkdir "$TMP/r-burst"
"${G[@]}" archive refs/heads/main burst | tar -x -C "$TMP/r-burst"
ok "burst: every file's content" diff -r "$F/burst" "$TMP/r-burst/burst"

# --- SIGTERM: "stopping", exit 0
stop_watch TERM
check "SIGTERM: the watcher exits 0 (got $WRC)" "$WRC" = 0
if grep -qE "$STOPPING" "$LOG"; then pass "SIGTERM: a 'stopping' line"
else fail "SIGTERM: no 'stopping' line"; show_log "$LOG"; fi

# --- the log and the history as a whole
bad=$(grep -vcE "$LOG_LINE" "$LOG")
check "every log line is 'TIME LEVEL message' ($bad are not)" "$bad" = 0
grep -vE "$LOG_LINE" "$LOG" | head -3 | sed 's/^/#   /'
check "the folder's lines (snapshot, paused, resumed) name it" \
	-z "$(grep -E ' info .*snapshot [0-9a-f]{7,}: |paused|resumed' "$LOG" | grep -vF " $F: " | head -3)"
check "one 'watching' line" "$(grep -cE "$WATCHING" "$LOG")" = 1
# every snapshot but init's and the user's was the watcher's, each logged
nsnap=$(grep -cE '^[^ ]+ info /.*: .*snapshot [0-9a-f]{7,}: ' "$LOG")
check "one 'snapshot' line per snapshot the watcher made ($nsnap lines, $(( $(commit_count "$F") - 2 )) snapshots)" \
	"$nsnap" = $(( $(commit_count "$F") - 2 ))
ever_stored > "$TMP/ever"
check "no ignored or temporary name was ever stored" \
	-z "$(grep -E '~$|(^|/)4913$|\.swp$|\.~lock|lu12345|\.log$|\.part$|Trash' "$TMP/ever")"
check "the user's snapshot is in history" -n "$("${G[@]}" rev-list refs/heads/main | grep -x "$USER_SNAP")"
ok "git fsck is clean" "${G[@]}" fsck --full --no-dangling
finish
