#!/bin/bash
# Sets up and runs every test: installs the Debian packages dsync needs,
# builds, runs the unit and end-to-end tests, then does the same with
# AddressSanitizer and UndefinedBehaviorSanitizer (skip that part with
# DSYNC_SKIP_SANITIZE=1), and checks a Release build has no test knob. The tests run two at a time (ctest -j2): each has
# its own temp directory and HOME.
set -euo pipefail
cd "$(dirname "$0")/.."

contrib/install-deps.sh --tests

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDSYNC_TESTING=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j2

# What users run: a Release build (README's, no test knob in it); an
# environment variable must not weaken its stores' key derivation
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release
cmake --build build-release -j"$jobs" --target dsync-bin
tests/build/release-check.sh build-release/dsync

if [ "${DSYNC_SKIP_SANITIZE:-}" = "" ]; then
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDSYNC_SANITIZE=ON -DDSYNC_TESTING=ON
	cmake --build build-asan -j"$jobs"
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir build-asan --output-on-failure -j2
fi
