# Shared by the bench scripts: sourced after `set -euo pipefail`.
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
