# Shared by the bench scripts: sourced after `set -euo pipefail`; also log,
# die, random_bytes and bench_git_home (below).
#   bench_args LAST_HELP_LINE "$@"   --quick sets quick=1; --help prints the
#                                    script's header comment (lines 2..N)
bench_args() {
	local last=$1 arg name
	shift
	name=$(basename "$0")
	quick=0
	for arg in "$@"; do
		case $arg in
		--quick) quick=1 ;;
		-h | --help)
			sed -n "2,${last}p" "$0" | sed 's/^# \{0,1\}//'
			exit 0
			;;
		*)
			echo "$name: unknown argument '$arg' (try --help)" >&2
			exit 2
			;;
		esac
	done
}

# log MSG...: a timestamped progress line on stderr
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# die MSG...: the script's name and MSG on stderr, then exit 1
die() {
	printf '%s: %s\n' "$(basename "$0")" "$*" >&2
	exit 1
}

# bench_git_home VARIANT DIR: DIR becomes a HOME for git (git or gitfsync:
# core.fsync=all); no background auto-gc or maintenance (dsync sets gc.auto=0
# too): after many loose objects it would run detached during later steps
bench_git_home() {
	mkdir -p "$2"
	{
		printf '[user]\n\tname = Bench\n\temail = bench@example.invalid\n'
		printf '[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n'
		if [[ $1 == gitfsync ]]; then
			printf '[core]\n\tfsync = all\n\tfsyncMethod = fsync\n'
		fi
	} >"$2/.gitconfig"
}

# random_bytes BYTES KEY: deterministic bytes (AES-CTR of zeros under KEY)
# with openssl, else from /dev/urandom
random_bytes() {
	if command -v openssl >/dev/null; then
		{ openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$2")" \
			-iv 00000000000000000000000000000001 </dev/zero 2>/dev/null || true; } | head -c "$1"
	else
		head -c "$1" /dev/urandom
	fi
}

# bench_ssh_env DIR SUB: what tests/e2e/sshlib.sh (and mirrorlib.sh) want of
# the tests' lib.sh, for a bench that runs their servers: TMP (DIR/SUB), a
# HOME of its own in DIR, STARTED_PIDS, and a cleanup that stops every pid
# started and removes DIR (sshlib.sh calls it on exit)
bench_ssh_env() {
	BENCH_SSH_DIR=$1
	TMP=$1/$2
	mkdir -p "$TMP"
	export HOME=$1/home XDG_CONFIG_HOME=$1/home/.config LC_ALL=C
	mkdir -p "$HOME"
	STARTED_PIDS=()
	cleanup() {
		local pid
		for pid in "${STARTED_PIDS[@]+"${STARTED_PIDS[@]}"}"; do
			kill "$pid" 2> /dev/null || true
		done
		rm -rf "$BENCH_SSH_DIR"
	}
}
