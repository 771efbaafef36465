#!/bin/bash
# Durability order of a snapshot, seen with strace: every object and the
# index are in place and flushed (syncfs) before the ref moves, and the ref
# move is flushed too.  A power cut's wrecks of loose objects (empty, cut
# short) are moved aside before the next snapshot takes them for objects.
#
# libgit2 publishes a file with link() (then unlinks the temporary), or with
# rename() when link() finds the old file in the way: both count as "moving
# into place" here.  The folder's name has a space, a double quote and a
# non-ASCII character so that the parsing of strace's quoted, escaped paths
# is exercised.
. "$(dirname "$0")/lib.sh"
# LeakSanitizer cannot run under ptrace: in a sanitizer build, leave leak
# checking to the other tests
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

if ! command -v strace > /dev/null; then
	fail "strace is missing: install it (contrib/install-deps.sh --tests) to run this test"
	finish
fi

# shellcheck disable=SC2089  # the quotes are part of the name
F="$TMP/my \"docs\" ✓"
G=$F/.dsync
export G F
mkdir -p "$F/sub/deep"
cd "$F"

# trace DSYNC-ARGS...: runs dsync under strace, the log in $TMP/strace.log
trace() {
	strace -f -y -s 32 -o "$TMP/strace.log" \
		-e trace=syncfs,fsync,fdatasync,rename,renameat,renameat2,link,linkat,openat,write \
		"$DSYNC" "$@"
}

# events LOG: one line per syscall of interest, tab-separated:
#   ENTRY EXIT KIND OK PATH1 PATH2
# ENTRY/EXIT: line numbers of the call's start and end (they differ when -f
# splits a call into "<unfinished ...>" and "<... resumed>"); KIND: move
# (link/rename family: PATH1 -> PATH2), flush (syncfs/fsync/fdatasync of
# the fd PATH1; PATH2 is the call's name), write (to the fd PATH1), create (openat with O_CREAT of
# PATH1); OK: 1 when the call returned >= 0.  Paths are decoded from
# strace's escapes and made relative to $G ("." for $G itself); paths
# outside $G are "-".
events() {
	LC_ALL=C awk '
	function oct(s,   i, n) { n = 0; for (i = 1; i <= length(s); i++) n = n * 8 + substr(s, i, 1); return n }
	function hex(s,   i, n, c) {
		n = 0
		for (i = 1; i <= length(s); i++) {
			c = index("0123456789abcdef", tolower(substr(s, i, 1))) - 1
			n = n * 16 + c
		}
		return n
	}
	# decode: strace escapes (\" \\ \n \t \r \v \f \ooo \xhh) to bytes
	function decode(s,   out, i, c, d, j) {
		out = ""
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c != "\\") { out = out c; continue }
			c = substr(s, ++i, 1)
			if (c ~ /[0-7]/) {
				d = c
				for (j = 0; j < 2 && substr(s, i + 1, 1) ~ /[0-7]/; j++) d = d substr(s, ++i, 1)
				out = out sprintf("%c", oct(d))
			} else if (c == "x") {
				d = substr(s, i + 1, 2); i += 2
				out = out sprintf("%c", hex(d))
			} else if (c == "n") out = out "\n"
			else if (c == "t") out = out "\t"
			else if (c == "r") out = out "\r"
			else if (c == "v") out = out "\v"
			else if (c == "f") out = out "\f"
			else out = out c
		}
		return out
	}
	# scan TEXT (a whole call): its quoted strings into STR[1..NSTR] and
	# its -y fd annotations ("3</path>") into ANN[1..NANN], decoded, up to
	# the ")" that closes the arguments; what follows " = " there is RES.
	# A backslash escapes the next character inside and outside quotes.
	function scan(text,   i, c, state, cur, n, m) {
		n = 0; m = 0; state = 0; cur = ""; RES = "?"
		delete STR; delete ANN
		for (i = 1; i <= length(text); i++) {
			c = substr(text, i, 1)
			if (state == 0) {
				if (c == "\"") { state = 1; cur = "" }
				else if (c == "<" && substr(text, i - 1, 1) ~ /[0-9D]/) { state = 2; cur = "" }
				else if (c == "\\") i++
				else if (c == ")" && substr(text, i) ~ /^\) += /) {
					RES = substr(text, i); sub(/^\) += /, "", RES)
					break
				}
			} else if (c == "\\") {
				cur = cur c substr(text, ++i, 1)
			} else if ((state == 1 && c == "\"") || (state == 2 && c == ">")) {
				if (state == 1) STR[++n] = decode(cur); else ANN[++m] = decode(cur)
				state = 0
			} else cur = cur c
		}
		NSTR = n; NANN = m
	}
	function rel(p) {
		if (p == "") return "-"
		if (substr(p, 1, 1) != "/") p = ENVIRON["F"] "/" p
		if (p == G) return "."
		if (substr(p, 1, length(G) + 1) == G "/") return substr(p, length(G) + 2)
		return "-"
	}
	function emit(name, entry, ex, text,   ok) {
		scan(text)
		ok = (RES ~ /^[0-9]/) ? 1 : 0
		if (name ~ /^(rename|renameat|renameat2|link|linkat)$/ && NSTR >= 2)
			print entry "\t" ex "\tmove\t" ok "\t" rel(STR[1]) "\t" rel(STR[2])
		else if (name ~ /^(syncfs|fsync|fdatasync)$/)
			print entry "\t" ex "\tflush\t" ok "\t" (NANN ? rel(ANN[1]) : "?") "\t" name
		else if (name == "write")
			print entry "\t" ex "\twrite\t" ok "\t" (NANN ? rel(ANN[1]) : "?") "\t-"
		else if (name == "openat" && NSTR >= 1 && text ~ /O_CREAT/)
			print entry "\t" ex "\tcreate\t" ok "\t" rel(STR[1]) "\t-"
	}
	BEGIN { G = ENVIRON["G"] }
	{
		line = $0; pid = "-"
		if (match(line, /^[0-9]+ +/)) { pid = substr(line, 1, RLENGTH); sub(/ +$/, "", pid); line = substr(line, RLENGTH + 1) }
		if (match(line, /^<\.\.\. [a-z0-9_]+ resumed>/)) {
			name = substr(line, 6, RLENGTH - 5 - 9)
			if (pid in pend) {
				emit(name, pendno[pid], NR, pend[pid] substr(line, RLENGTH + 1))
				delete pend[pid]
			}
		} else if (match(line, /^[a-z0-9_]+\(/)) {
			name = substr(line, 1, RLENGTH - 1)
			if (line ~ /<unfinished \.\.\.>$/) {
				sub(/ *<unfinished \.\.\.>$/, "", line)
				pend[pid] = line; pendno[pid] = NR
			} else emit(name, NR, NR, line)
		}
	}' "$1"
}

# verdicts EVENTS COMMIT: "PASS what" / "FAIL what" lines, one per rule
verdicts() {
	LC_ALL=C awk -F '\t' -v commit="$2" '
	function say(good, what) { print (good ? "PASS " : "FAIL ") what }
	{ e[NR] = $1; x[NR] = $2; k[NR] = $3; ok[NR] = $4; p1[NR] = $5; p2[NR] = $6 }
	END {
		n = NR
		obj = "^objects/[0-9a-f][0-9a-f]/[0-9a-f]+$"
		cobj = "objects/" substr(commit, 1, 2) "/" substr(commit, 3)
		idx = 0; ref = 0
		for (i = 1; i <= n; i++) {
			if (k[i] == "move" && ok[i] == 1 && p1[i] == "index.lock" && p2[i] == "index") idx = i
			if (k[i] == "move" && ok[i] == 1 && p1[i] == "refs/heads/main.lock" && p2[i] == "refs/heads/main") ref = i
		}
		say(idx, "the index moves into place (index.lock -> index)")
		say(ref, "the ref moves into place (refs/heads/main.lock -> refs/heads/main)")
		if (!idx || !ref) exit
		say(x[idx] < e[ref], "the index is in place before the ref moves")
		# the first flush of the whole file system holding .dsync after the
		# index is in place (an fsync of one file would not cover the objects)
		s = 0
		for (i = 1; i <= n && !s; i++)
			if (k[i] == "flush" && p2[i] == "syncfs" && ok[i] == 1 && p1[i] != "-" && e[i] > x[idx]) s = i
		say(s, "a flush (syncfs) of .dsync follows the index move")
		if (!s) exit
		say(x[s] < e[ref], "that flush is done before the ref moves")
		# and the ref move flushed too: syncfs, or fsync of its folder
		after = 0
		for (i = 1; i <= n; i++)
			if (k[i] == "flush" && ok[i] == 1 && e[i] > x[ref] &&
			    ((p2[i] == "syncfs" && p1[i] != "-") || p1[i] == "refs/heads")) after = i
		say(after, "a flush (syncfs) follows the ref move")
		# objects: every one moved (or created) into objects/xx/ before the flush
		moved = 0; late = ""; cseen = 0
		for (i = 1; i <= n; i++) {
			if ((k[i] == "move" && ok[i] == 1 && p2[i] ~ obj) || (k[i] == "create" && p1[i] ~ obj)) {
				o = (k[i] == "move") ? p2[i] : p1[i]
				moved++
				if (x[i] >= e[s]) late = late " " o
				if (o == cobj) cseen = i
			}
		}
		say(moved > 0, "objects are written (" moved " moved into objects/xx/)")
		say(late == "", "every object is in place before the flush" (late == "" ? "" : ":" late))
		say(cseen && x[cseen] < e[s], "the new snapshot (commit " substr(commit, 1, 8) ") is in place before the flush")
		# data: every write to an object file or to the index before the flush
		w = 0; wlate = ""; iw = 0
		for (i = 1; i <= n; i++) {
			if (k[i] != "write") continue
			if (p1[i] == "index.lock") iw++
			if (p1[i] ~ /^objects\// || p1[i] == "index.lock" || p1[i] == "index") {
				w++
				if (x[i] >= e[s]) wlate = wlate " " p1[i]
			}
		}
		say(iw > 0, "the index is written (" iw " writes to index.lock)")
		say(w > 0 && wlate == "", "every write to objects and index is before the flush (" w " writes)" (wlate == "" ? "" : ": late:" wlate))
		unk = 0
		for (i = 1; i <= n; i++) if (k[i] == "write" && p1[i] == "?") unk++
		say(unk == 0, "every write names its file (strace -y)")
	}' "$1"
}

# check_trace WHAT: the rules for the last traced command
check_trace() {
	local what=$1 line
	if ! events "$TMP/strace.log" > "$TMP/events" ||
		! verdicts "$TMP/events" "$(head_id "$F")" > "$TMP/verdicts"; then
		fail "$what: the strace log cannot be parsed"
		return
	fi
	while IFS= read -r line; do
		case $line in
		"PASS "*) pass "$what: ${line#PASS }" ;;
		*) fail "$what: ${line#FAIL }" ;;
		esac
	done < "$TMP/verdicts"
	if ! grep -q '^FAIL\|^PASS' "$TMP/verdicts"; then
		fail "$what: nothing parsed from the strace log"
	fi
	if grep -q '^FAIL' "$TMP/verdicts"; then
		grep -v ' O_RDONLY\| write(\|tmp_object' "$TMP/strace.log" | grep -F '.dsync' | tail -12 | cut -c1-300 | sed 's/^/#   /'
	fi
}

# ---------------------------------------------------------------- init
echo hello > a.txt
printf 'line1\nline2\n' > sub/deep/b.md
head -c 2000000 /dev/urandom > big.bin
for i in $(seq 1 50); do echo "note $i" > "sub/n$i.txt"; done
rc=0
trace init --device-name laptop > "$TMP/out" 2> "$TMP/err" || rc=$?
check "init under strace succeeds" "$rc" = 0
check "init took the first snapshot" "$(commit_count "$F")" = 1
check_trace "init (first snapshot, files linked into place)"

# ---------------------------------------------------------------- snapshot
echo more >> a.txt
echo new > "sub/new file ✓.txt"
rm sub/n1.txt
mv sub/n2.txt sub/deep/n2.txt
head -c 3000000 /dev/urandom > big.bin
for i in $(seq 10 30); do echo "edit" >> "sub/n$i.txt"; done
rc=0
trace snapshot -m "traced" > "$TMP/out" 2> "$TMP/err" || rc=$?
check "snapshot under strace succeeds" "$rc" = 0
contains "snapshot under strace records the changes" "$TMP/out" "modified"
check "one more snapshot" "$(commit_count "$F")" = 2
check_trace "snapshot with edits, adds, deletes"

# deletions only: no new file data, but a new tree and commit
rm sub/n40.txt sub/n41.txt
rc=0
trace snapshot > "$TMP/out" 2> "$TMP/err" || rc=$?
check "deletion-only snapshot under strace succeeds" "$rc" = 0
check "one more snapshot after deletions" "$(commit_count "$F")" = 3
check_trace "snapshot with deletions only"

# ---------------------------------------------------------------- the checker
# the rules catch a wrong order: the same trace with the flush moved after
# the ref move, and with an object written after the flush, must fail
echo again >> a.txt
rc=0
trace snapshot > "$TMP/out" 2> "$TMP/err" || rc=$?
check "another snapshot under strace succeeds" "$rc" = 0
events "$TMP/strace.log" > "$TMP/events"
verdicts "$TMP/events" "$(head_id "$F")" > "$TMP/verdicts"
check "the untouched trace passes every rule" "$(grep -c '^FAIL' "$TMP/verdicts")" = 0
# swap: flush after the ref move (no flush between index and ref)
ref_line=$(awk -F '\t' '$3 == "move" && $6 == "refs/heads/main" { print $2 }' "$TMP/events" | tail -1)
first_flush=$(awk -F '\t' '$3 == "flush" { print $1; exit }' "$TMP/events")
if [ -n "$ref_line" ] && [ -n "$first_flush" ]; then
	awk -v f="$first_flush" -v r="$ref_line" 'NR == f { held = $0; next } { print } NR == r { print held }' \
		"$TMP/strace.log" > "$TMP/strace.bad"
	events "$TMP/strace.bad" > "$TMP/events.bad"
	verdicts "$TMP/events.bad" "$(head_id "$F")" > "$TMP/verdicts.bad"
	contains "checker: a flush after the ref move only is caught" "$TMP/verdicts.bad" "FAIL that flush is done before the ref moves"
else
	fail "checker: no ref move or flush found to reorder"
fi
# an object moved into place after the flush (a move that worked: dsync's
# first rename of a loose object fails when its fan-out folder is new)
obj_line=$(awk -F '\t' '$3 == "move" && $4 == 1 && $6 ~ /^objects\// { print $2; exit }' "$TMP/events")
if [ -n "$obj_line" ] && [ -n "$first_flush" ]; then
	awk -v o="$obj_line" -v f="$first_flush" 'NR == o { held = $0; next } { print } NR == f { print held }' \
		"$TMP/strace.log" > "$TMP/strace.bad"
	events "$TMP/strace.bad" > "$TMP/events.bad"
	verdicts "$TMP/events.bad" "$(head_id "$F")" > "$TMP/verdicts.bad"
	contains "checker: an object moved in after the flush is caught" "$TMP/verdicts.bad" "FAIL every object is in place before the flush"
else
	fail "checker: no object move found to reorder"
fi
# -f splits calls of concurrent threads: an unfinished/resumed pair parses
# as one call
sed 's/^\([0-9]*\) \+\(syncfs(.*\)) \+= 0$/\1 \2 <unfinished ...>\n99999 write(1<\/dev\/null>, "x", 1) = 1\n\1 <... syncfs resumed>) = 0/' \
	"$TMP/strace.log" > "$TMP/strace.split"
check "checker: the split log has split calls" "$(grep -c 'syncfs resumed' "$TMP/strace.split")" -ge 1
events "$TMP/strace.split" > "$TMP/events.split"
verdicts "$TMP/events.split" "$(head_id "$F")" > "$TMP/verdicts.split"
check "checker: unfinished/resumed calls parse as one" "$(grep -c '^FAIL' "$TMP/verdicts.split")" = 0

# ------------------------------------------------------- nothing changed
# an unchanged folder: nothing is written, moved or flushed in .dsync (the
# lock file aside), and libgit2 is not started (it reads .dsync/config when
# it opens the store): the head commit is checked without it
rc=0
trace snapshot > "$TMP/out" 2> "$TMP/err" || rc=$?
check "an unchanged snapshot under strace succeeds" "$rc" = 0
contains "it says nothing changed" "$TMP/out" "nothing changed"
events "$TMP/strace.log" > "$TMP/events"
check "nothing moved or flushed" "$(awk -F '\t' '($3 == "move" || $3 == "flush") && $4 == 1' "$TMP/events" | wc -l)" = 0
check "nothing created or written but the lock" \
	"$(awk -F '\t' '($3 == "create" || $3 == "write") && $5 != "-" && $5 != "dsync.lock"' "$TMP/events" | wc -l)" = 0
check "libgit2 not started (.dsync/config not read)" "$(grep -c '/\.dsync/config"' "$TMP/strace.log")" = 0
# the same with the head commit in a pack
ok "gc packs the history" dsync gc
rc=0
trace snapshot > "$TMP/out" 2> "$TMP/err" || rc=$?
check "an unchanged snapshot of a packed history succeeds" "$rc" = 0
contains "it says nothing changed too" "$TMP/out" "nothing changed"
check "libgit2 not started for a packed head either" "$(grep -c '/\.dsync/config"' "$TMP/strace.log")" = 0

# a power cut after a snapshot wrote its loose objects, before its flush:
# their files may be left empty or cut short.  The next snapshot of the
# same content took such a wreck for the object ("already stored"), and
# that version of the file could never be restored.  The repair that begins
# every write reads each loose file written since the last flush (the
# stamp) and moves a wreck aside, so the object is written anew
check "a flush leaves its stamp" -f "$G/dsync-synced"
echo "my thesis, chapter one" > thesis.txt
printf 'chapter two, %s\n' "$$" > chapter2.txt
head -c 5000 /dev/urandom > figure.bin
empty=$(git hash-object thesis.txt)
cut=$(git hash-object chapter2.txt)
whole=$(git hash-object figure.bin)
mkdir -p "$G/objects/${empty:0:2}" "$G/objects/${cut:0:2}" "$G/objects/${whole:0:2}"
: > "$G/objects/${empty:0:2}/${empty:2}"
git --git-dir="$G" hash-object -w chapter2.txt > /dev/null
obj="$G/objects/${cut:0:2}/${cut:2}"
chmod u+w "$obj"
head -c 11 "$obj" > "$TMP/cut"
cat "$TMP/cut" > "$obj"
# a loose file older than the stamp was flushed: it is not read (this one
# is a copy of the stamp's age, whole: it stays where it is)
git --git-dir="$G" hash-object -w figure.bin > /dev/null
touch -d '-1 hour' "$G/objects/${whole:0:2}/${whole:2}"
ok "a snapshot after the power cut" timeout 60 "$DSYNC" snapshot
check "the empty wreck was moved aside" -f "$G/objects/damaged/$empty"
check "the cut one too" -f "$G/objects/damaged/$cut"
check "a whole file older than the stamp stays" -f "$G/objects/${whole:0:2}/${whole:2}"
rm -f thesis.txt chapter2.txt figure.bin
ok "restore the files of that snapshot" timeout 60 "$DSYNC" restore thesis.txt chapter2.txt figure.bin
check "thesis byte for byte" "$(cat thesis.txt)" = "my thesis, chapter one"
check "chapter two byte for byte" "$(cat chapter2.txt)" = "chapter two, $$"
check "the figure's id" "$(git hash-object figure.bin)" = "$whole"
ok "check finds nothing wrong" timeout 60 "$DSYNC" check

ok "git fsck --full is clean" git --git-dir="$G" fsck --full --no-dangling
finish
