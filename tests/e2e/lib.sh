# Shared setup for the end-to-end tests: each test runs in its own temp
# directory with its own HOME, so nothing reads the real user's config, and
# drives the real dsync binary ($DSYNC, set by ctest).
#
#   . "$(dirname "$0")/lib.sh"
#   ok "what"  CMD...      run CMD, expect success
#   fails N "what" CMD...  run CMD, expect exit status N
#   check "what" COND...   a test(1) condition
#   contains "what" FILE TEXT
#   finish                 prints "N passed, N failed" and exits
set -u
set -o pipefail
# (so a test reads a pipe to its end: `| grep -q` exits at the first match and
# its writer may die of SIGPIPE, failing the pipeline; use `grep ... > /dev/null`)

: "${DSYNC_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${DSYNC:=$DSYNC_SRC/build/dsync}"
if [ ! -x "$DSYNC" ]; then
	echo "dsync binary not found at '$DSYNC'; build first" >&2
	exit 1
fi

TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/dsync-$TEST_NAME.XXXXXX")
chmod 755 "$TMP"
export HOME="$TMP/home"
mkdir -p "$HOME"
# (and no dashboard shared with another test's or the desktop's `dsync ui`:
# its socket goes in ~/.cache/dsync)
unset XDG_CONFIG_HOME XDG_CACHE_HOME XDG_RUNTIME_DIR DSYNC_DEVICE_NAME GIT_DIR GIT_WORK_TREE
# no desktop notifications from a test's watcher on the desktop running it
# (t76-notify turns them on, on a bus of its own)
export DSYNC_NOTIFY=0
export GIT_CONFIG_NOSYSTEM=1
export TZ=UTC
export LC_ALL=C
PASSED=0
FAILED=0
STARTED_PIDS=()

cleanup() {
	local pid
	for pid in "${STARTED_PIDS[@]+"${STARTED_PIDS[@]}"}"; do
		kill -9 "$pid" 2>/dev/null || true
	done
	if [ "${KEEP_TMP:-}" = "" ]; then
		chmod -R u+rwX "$TMP" 2>/dev/null || true
		rm -rf "$TMP"
	else
		echo "# kept $TMP" >&2
	fi
}
trap cleanup EXIT

dsync() { "$DSYNC" "$@"; }

pass() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $1"; }

# ok "what" CMD...: CMD must exit 0; its output goes to $TMP/out, $TMP/err
ok() {
	local what=$1; shift
	if "$@" >"$TMP/out" 2>"$TMP/err"; then
		pass "$what"
	else
		local rc=$?
		fail "$what (exit $rc)"
		sed 's/^/#   /' "$TMP/out" "$TMP/err" | head -20
	fi
}

# fails N "what" CMD...: CMD must exit with status N
fails() {
	local want=$1 what=$2; shift 2
	local rc=0
	"$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	if [ "$rc" = "$want" ]; then
		pass "$what"
	else
		fail "$what (exit $rc, wanted $want)"
		sed 's/^/#   /' "$TMP/out" "$TMP/err" | head -20
	fi
}

# check "what" TEST-ARGS...
check() {
	local what=$1; shift
	if [ "$@" ]; then pass "$what"; else fail "$what"; fi
}

# contains "what" FILE TEXT: FILE contains TEXT (fixed string)
contains() {
	if grep -qF -- "$3" "$2"; then
		pass "$1"
	else
		fail "$1: '$3' not in $(basename "$2")"
		sed 's/^/#   /' "$2" | head -10
	fi
}

# tree_digest DIR: one line per entry (type, mode, size/target, content hash),
# sorted, without .dsync: equal digests mean equal trees, byte for byte.
tree_digest() {
	(cd "$1" && find . -path ./.dsync -prune -o ! -name . -print0 | LC_ALL=C sort -z |
		while IFS= read -r -d '' p; do
			if [ -L "$p" ]; then
				printf 'L %s -> %s\n' "$p" "$(readlink "$p")"
			elif [ -d "$p" ]; then
				printf 'D %s\n' "$p"
			else
				printf 'F %s %s %s\n' "$p" "$(stat -c %A "$p" | cut -c4)" \
					"$(sha256sum < "$p" | cut -c1-64)"
			fi
		done)
}

# files_digest DIR: as tree_digest, files and links only (git keeps no empty
# folders)
files_digest() { tree_digest "$1" | grep -v '^D '; }

# head_id DIR: the folder's current snapshot id
head_id() { git --git-dir="$1/.dsync" rev-parse refs/heads/main; }

# commit_count DIR
commit_count() { git --git-dir="$1/.dsync" rev-list --count refs/heads/main; }

# stored DIR [REV]: the file names of a snapshot of DIR (default: the
# newest), one a line
stored() { git --git-dir="$1/.dsync" ls-tree -r --name-only --full-tree "${2:-refs/heads/main}"; }

# sha FILE: the file's SHA-256, in hex
sha() { sha256sum < "$1" | cut -c1-64; }

# now_ms: the time in milliseconds (for durations)
now_ms() { date +%s%3N; }

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}
