# Helpers for the tests of sync and join between devices (sourced after
# lib.sh). Device D has its folder in $TMP/D and its own user, HOME
# $TMP/home-D: its own key cache and list of folders.
#
#   on D ARGS...   dsync ARGS in D's folder, as D's user
#   as D ARGS...   dsync ARGS in $TMP, as D's user (a device not joined yet)
#   ok03 "what" CMD...  CMD is done, conflicts may wait (exit 0 or 3)
#
# Both run dsync in a new session with no input, as a service would: no
# terminal to ask a passphrase on.
on() { local d=$1; shift; (cd "$TMP/$d" && HOME="$TMP/home-$d" setsid -w "$DSYNC" "$@" < /dev/null); }
as() { local d=$1; shift; mkdir -p "$TMP/home-$d"; (cd "$TMP" && HOME="$TMP/home-$d" setsid -w "$DSYNC" "$@" < /dev/null); }

# git_of D GIT-ARGS...: git on D's history
git_of() { local d=$1; shift; git --git-dir="$TMP/$d/.dsync" "$@"; }

# has_commit D ID: D's head has snapshot ID in its history
has_commit() { git_of "$1" merge-base --is-ancestor "$2" refs/heads/main 2> /dev/null; }

# cached_keys D: how many store keys D's user keeps
cached_keys() { ls "$TMP/home-$1/.config/dsync/keys" 2> /dev/null | wc -l; }

# ok03 "what" CMD...: done, conflicts may wait (exit 0 or 3); output as ok's
ok03() {
	local what=$1; shift
	local rc=0
	"$@" > "$TMP/out" 2> "$TMP/err" || rc=$?
	if [ "$rc" = 0 ] || [ "$rc" = 3 ]; then
		pass "$what (exit $rc)"
	else
		fail "$what (exit $rc)"
		sed 's/^/#   /' "$TMP/out" "$TMP/err" | head -20
	fi
}
