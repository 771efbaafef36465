#!/bin/bash
# Counts the tests and their checks, to compare two trees (a change to the
# tests must not lower them):
#   tests   the tests ctest knows (ctest -N) in BUILD (default: build)
#   unit    assert_*/fail_msg/fail() calls in the source of tests/unit
#   e2e     check calls in the source of the e2e scripts: ok, ok03, fails,
#           check, contains, pass, fail, refused, sync_ok, names
# With --run, also the checks executed: each unit test program is run with
# count-asserts.c preloaded (cmocka checks called), and when BUILD holds a
# finished ctest run (Testing/Temporary/LastTest.log), the e2e checks it
# passed ("N passed" at the end of each script).
#
#   tests/count.sh [--run] [BUILD]     (BUILD relative to the source tree)
set -euo pipefail
cd "$(dirname "$0")/.."
run=
if [ "${1:-}" = --run ]; then run=1; shift; fi
build=${1:-build}

# (read first: ctest -N writes a new LastTest.log)
log=$build/Testing/Temporary/LastTest.log
passed=
if [ -f "$log" ] && grep -qE '^[0-9]+/[0-9]+ Test: e2e/' "$log"; then
	passed="$(grep -oE '^[0-9]+ passed, [0-9]+ failed$' "$log" | awk '{ n += $1 } END { print n + 0 }') (of $(grep -cE '^[0-9]+/[0-9]+ Test: e2e/' "$log") e2e tests run)"
fi
list=$(ctest --test-dir "$build" -N)
echo "tests: $(sed -n 's/^Total Tests: //p' <<< "$list")"
echo "unit checks in the source: $(cat tests/unit/*.c tests/unit/*.h |
	grep -oE '\b(assert_[a-z_]+|fail_msg|fail)[[:space:]]*\(' | wc -l)"
echo "e2e checks in the source: $(cat tests/e2e/t[0-9]*.sh |
	grep -oE '(^|[^a-z_0-9$-])(ok|ok03|fails|check|contains|pass|fail|refused|sync_ok|names)[[:space:]]+("|[0-9]|\$)' |
	wc -l)"
[ -n "$run" ] || exit 0

shim=$(mktemp -d)
trap 'rm -rf "$shim"' EXIT
cc -shared -fPIC -o "$shim/count-asserts.so" tests/count-asserts.c -ldl
total=0
for t in $(sed -n 's|.*Test *#[0-9]*: unit/||p' <<< "$list"); do
	# the last line is the program's own (a forked child prints its copy first)
	n=$(cd "$build/tests" && TZ=UTC LD_PRELOAD="$shim/count-asserts.so" "./$t" 2>&1 >/dev/null |
		sed -n 's/^asserts: //p' | tail -1)
	echo "  $t: $n"
	total=$((total + ${n:-0}))
done
echo "unit checks executed: $total"
[ -z "$passed" ] || echo "e2e checks passed in the last ctest run: $passed"
