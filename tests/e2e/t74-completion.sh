#!/bin/bash
# Shell completion (issue 19, acceptance 3): the bash completion function is
# called for partial command lines, COMP_WORDS, COMP_CWORD, COMP_LINE and
# COMP_POINT set as bash sets them (words split at ':' too, bash's default
# COMP_WORDBREAKS), in a real folder with a real remote and a real mirror
# (a phone's sshd), and its candidates are checked: a command prefix, an
# option prefix, an option's values, a remote name after sync and push, a
# mirror name, REVs (HEAD~N, short ids from 'dsync log'), and paths inside a
# version for 'show REV:PATH' and 'restore PATH --at REV' (a file deleted
# since too). Every option in cmd/*.c's tables is offered by some command
# and every command of 'dsync help' at the first word: completion takes both
# from 'dsync help', so it can't drift from the program. Then the same
# through fish ('complete -C') and TAB in a real zsh (compinit, _dsync),
# when they are installed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/mirrorlib.sh"
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_SSH DSYNC_SSH_COMMAND

COMPLETION=$DSYNC_SRC/contrib/dsync.bash-completion
# the completion runs 'dsync' as a user's shell would: from PATH
mkdir -p "$TMP/bin"
ln -s "$DSYNC" "$TMP/bin/dsync"
export PATH=$TMP/bin:$PATH

# a phone for the mirror (root makes its user; under CI it must start)
mirror_test_start openssh

mkdir -p "$PC/sub/deep"
printf 'one\n' > "$PC/a.txt"
printf 'b\n' > "$PC/sub/b.txt"
printf 'gone\n' > "$PC/sub/gone.txt"
printf 'c\n' > "$PC/sub/deep/c.txt"
printf 'spaced\n' > "$PC/sub/with space.txt"
ok "init" on pc init --device-name pc
rm "$PC/sub/gone.txt"
printf 'two\n' > "$PC/a.txt"
ok "a second snapshot (sub/gone.txt deleted)" on pc snapshot -m two
printf 'pass-for-the-completion-test\n' > "$TMP/pass"
ok "remote add usb" on pc remote add usb "$TMP/store" --passphrase-file "$TMP/pass"
ok "mirror add phone" on pc mirror add phone "$PHONE_URL" --path-in-folder Phone
HEAD_ID=$(head_id "$PC" | cut -c1-8)
OLD_ID=$(git --git-dir="$PC/.dsync" rev-parse refs/heads/main~1 | cut -c1-8)

cd "$PC" || exit 1
export HOME=$TMP/home-pc
unset -f dsync
# shellcheck source=../../contrib/dsync.bash-completion
. "$COMPLETION"

# comp LINE: calls _dsync as bash does for LINE (the cursor at its end),
# the words split at blanks and at ':'; the candidates one a line in $TMP/c
comp() {
	COMP_LINE=$1
	COMP_POINT=${#COMP_LINE}
	local s=${COMP_LINE//:/ : }
	read -ra COMP_WORDS <<< "$s"
	[[ $COMP_LINE == *[\ :] ]] && [[ $COMP_LINE != *: ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_dsync
	printf '%s\n' "${COMPREPLY[@]+"${COMPREPLY[@]}"}" | LC_ALL=C sort > "$TMP/c"
}
# has "what" CANDIDATE...: each is a candidate; only "what" =CANDIDATE...:
# exactly those
has() {
	local what=$1 c miss=""; shift
	for c in "$@"; do grep -qxF -- "$c" "$TMP/c" || miss="$miss '$c'"; done
	if [ -z "$miss" ]; then pass "$what"; else fail "$what: missing$miss"; sed 's/^/#   got: /' "$TMP/c"; fi
}
only() {
	local what=$1; shift
	if [ "$(printf '%s\n' "$@" | LC_ALL=C sort)" = "$(cat "$TMP/c")" ]; then
		pass "$what"
	else
		fail "$what: wanted $*"
		sed 's/^/#   got: /' "$TMP/c"
	fi
}

# 1. commands and options
comp "dsync sy";                only "a command prefix: sync" sync
comp "dsync re";                only "re: restore, remote, relay, resume" relay remote restore resume
mapfile -t COMMANDS < <(dsync help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
comp "dsync ";                  has "every command of 'dsync help' (${#COMMANDS[@]})" "${COMMANDS[@]}"
comp "dsync log --s";           only "an option prefix: log --s" --since
comp "dsync snapshot --m";      only "snapshot --m: --message (long form of -m)" --message
comp "dsync mirror add ph sftp://x --pa"; only "mirror add --pa" --path-in-folder
comp "dsync watch --";          only "watch's options" --delay --help --max-delay --quiet --rescan-interval --verbose
comp "dsync conflicts resolve a.txt --keep "; only "--keep's values" both copy file
comp "dsync remote add x y --ssh "; only "--ssh's values" auto builtin openssh
comp "dsync help mi";           only "help COMMAND" mirror

# every long option of cmd/*.c's tables is offered by some command
for c in "${COMMANDS[@]}"; do
	comp "dsync $c --"
	cat "$TMP/c"
done | LC_ALL=C sort -u > "$TMP/offered"
grep -ho '{ "[a-z0-9-]*", \(no\|required\)_argument' "$DSYNC_SRC"/cmd/*.c | cut -d'"' -f2 | sed 's/^/--/' |
	LC_ALL=C sort -u > "$TMP/tables"
missing=$(LC_ALL=C comm -23 "$TMP/tables" "$TMP/offered" | tr '\n' ' ')
check "every option in cmd/*.c's tables is completed ($(wc -l < "$TMP/tables") options; missing: ${missing:-none})" -z "$missing"

# 2. remote and mirror names, from dsync itself
comp "dsync sync ";             only "sync: remotes and mirrors" phone usb
comp "dsync push ";             only "push: remotes only" usb
comp "dsync fetch u";           only "fetch u" usb
comp "dsync mirror sync ";      only "mirror sync: the mirror" phone
comp "dsync mirror set p";      only "mirror set: the mirror" phone
comp "dsync mirror set phone "; only "mirror set NAME: its keys" interval limitRate ssh sshCommand
comp "dsync remote remove ";    only "remote remove: the remote" usb
comp "dsync remote ";           only "remote's subcommands" add list passphrase remove set unset

# 3. REVs
comp "dsync show ";             has "show: HEAD, HEAD~1, the snapshots' short ids" HEAD HEAD~1 "$HEAD_ID" "$OLD_ID"
comp "dsync diff HEAD~";        has "diff HEAD~" HEAD~1 HEAD~2
comp "dsync restore a.txt --at "; has "restore --at: REVs and time words" HEAD~1 "$OLD_ID" yesterday
comp "dsync log --since y";     only "log --since y" yesterday

# 4. paths inside a version (bash splits REV:PATH at ':': the candidates
# replace what follows it)
comp "dsync show HEAD~1:";      only "show HEAD~1: the top of that version" a.txt sub/
comp "dsync show HEAD~1:sub/";  only "show HEAD~1:sub/: the deleted file too" sub/b.txt sub/deep/ sub/gone.txt 'sub/with\ space.txt'
comp "dsync show HEAD:sub/g";   only "show HEAD:sub/g: not in the newest version" ""
comp "dsync show $OLD_ID:sub/de"; only "show SHORTID:sub/de" sub/deep/
comp "dsync show HEAD~1:a.txt ";  only "show REV:PATH takes nothing after it" ""
comp "dsync restore --at HEAD~1 sub/g"; only "restore --at HEAD~1: a file deleted since" sub/gone.txt
comp "dsync restore sub/d";     only "restore: folders on disk and in HEAD" sub/deep/

# 5. TAB typed into a real interactive bash on a pty: readline's own word
# breaks and quoting; each line's words as completion left them
python3 "$DSYNC_SRC/tests/tools/tabcomplete.py" bash ". '$COMPLETION'" "dsync sn" "dsync mirror sync p" \
	"dsync show HEAD~1:sub/g" "dsync show HEAD~1:sub/w" "dsync restore --at $OLD_ID sub/go" > "$TMP/tty" 2>&1
want="LINE 1: <dsync><snapshot>
LINE 2: <dsync><mirror><sync><phone>
LINE 3: <dsync><show><HEAD~1:sub/gone.txt>
LINE 4: <dsync><show><HEAD~1:sub/with space.txt>
LINE 5: <dsync><restore><--at><$OLD_ID><sub/gone.txt>"
if [ "$(cat "$TMP/tty")" = "$want" ]; then
	pass "TAB in a real bash: a command, a mirror, paths in a version (a space in a name quoted)"
else
	fail "TAB in a real bash"
	sed 's/^/#   got: /' "$TMP/tty"
fi

# 6. the same from fish and zsh, through the one bash completion
export DSYNC_BASH_COMPLETION=$COMPLETION
if command -v fish > /dev/null; then
	sed "s|@DSYNC_BASH_COMPLETION@|$COMPLETION|" "$DSYNC_SRC/contrib/dsync.fish.in" > "$TMP/dsync.fish"
	fishc() { fish -c "source $TMP/dsync.fish; complete -C '$1'" | cut -f1 | LC_ALL=C sort > "$TMP/c"; }
	fishc "dsync sy";            only "fish: a command prefix" sync
	fishc "dsync log --s";       only "fish: an option prefix" --since
	fishc "dsync sync ";         only "fish: remotes and mirrors" phone usb
	fishc "dsync mirror sync ";  only "fish: the mirror" phone
	fishc "dsync show HEAD~1:sub/g"; only "fish: a path inside a version" HEAD~1:sub/gone.txt
else
	echo "# no fish here: its completion is not checked"
fi
if command -v zsh > /dev/null; then
	mkdir -p "$TMP/zfunc"
	sed "s|@DSYNC_BASH_COMPLETION@|$COMPLETION|" "$DSYNC_SRC/contrib/_dsync.in" > "$TMP/zfunc/_dsync"
	# TAB in a real zsh (compinit, _dsync found in fpath)
	python3 "$DSYNC_SRC/tests/tools/tabcomplete.py" zsh \
		"fpath=('$TMP/zfunc' \$fpath); autoload -U compinit; compinit -u -D" \
		"dsync sn" "dsync push u" "dsync mirror remove p" "dsync show HEAD~1:sub/g" \
		"dsync show HEAD~1:sub/w" "dsync log --si" > "$TMP/tty" 2>&1
	want="LINE 1: <dsync><snapshot>
LINE 2: <dsync><push><usb>
LINE 3: <dsync><mirror><remove><phone>
LINE 4: <dsync><show><HEAD~1:sub/gone.txt>
LINE 5: <dsync><show><HEAD~1:sub/with space.txt>
LINE 6: <dsync><log><--since>"
	if [ "$(cat "$TMP/tty")" = "$want" ]; then
		pass "zsh: TAB completes a command, a remote, a mirror, paths in a version, an option"
	else
		fail "zsh: TAB"
		sed 's/^/#   got: /' "$TMP/tty"
	fi
else
	echo "# no zsh here: its completion is not checked"
fi

cd "$TMP" || exit 1
phone_stop
finish
