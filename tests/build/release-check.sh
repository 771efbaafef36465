#!/bin/bash
# No test knob in what users run: checks a dsync binary built as the README
# builds it (no -DDSYNC_TESTING):
#   1. it holds no DSYNC_TEST* string (no test knob is compiled in), and
#   2. with DSYNC_TEST_KDF=min in the environment, a new store still records
#      the MODERATE Argon2id limits (libsodium 1.0.18: opslimit 3, memlimit
#      268435456 = 256 MiB) in its dsync-store header (docs/store-format.md).
# The key derivation runs once at MODERATE cost (about a second, 256 MiB).
# With --expect-test-build it checks the opposite on a -DDSYNC_TESTING=ON
# binary: both checks must fail there, so they can't pass for a wrong reason.
# Usage: tests/build/release-check.sh DSYNC_BINARY [--expect-test-build]
set -uo pipefail
bin=${1:?usage: $0 DSYNC_BINARY [--expect-test-build]}
expect_test=${2:-}
[ -x "$bin" ] || { echo "release-check: no dsync binary at '$bin'" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dsync-release-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# knobs: how many DSYNC_TEST strings the binary holds
knobs=$(strings -a "$bin" | grep -c DSYNC_TEST)

# kdf: the "kdf" line of a store made with DSYNC_TEST_KDF=min set
mkdir -p "$tmp/home"
kdf=$(cd "$tmp" &&
	export HOME="$tmp/home" DSYNC_TEST_KDF=min DSYNC_PASSPHRASE="correct horse battery staple" &&
	unset XDG_CONFIG_HOME DSYNC_NEW_PASSPHRASE &&
	"$bin" init "$tmp/folder" --device-name release-check > "$tmp/out" 2>&1 &&
	cd "$tmp/folder" &&
	"$bin" remote add origin "file://$tmp/remote" < /dev/null >> "$tmp/out" 2>&1 &&
	grep '^kdf ' "$tmp/remote/dsync-store")
if [ -z "$kdf" ]; then
	echo "not ok - could not create a store" >&2
	sed 's/^/#   /' "$tmp/out" >&2
	exit 2
fi
moderate="kdf argon2id13 3 268435456"

failed=0
report() { # report OK WHAT
	if [ "$1" = yes ]; then echo "ok - $2"; else echo "not ok - $2"; failed=$((failed + 1)); fi
}
if [ "$expect_test" = --expect-test-build ]; then
	report "$([ "$knobs" -gt 0 ] && echo yes)" "a test build holds DSYNC_TEST strings ($knobs)"
	report "$([ "$kdf" != "$moderate" ] && echo yes)" "DSYNC_TEST_KDF=min weakens a test build's new store ('$kdf')"
else
	report "$([ "$knobs" = 0 ] && echo yes)" "no DSYNC_TEST string in $bin ($knobs found)"
	report "$([ "$kdf" = "$moderate" ] && echo yes)" \
		"DSYNC_TEST_KDF=min leaves a new store at MODERATE ('$kdf', want '$moderate')"
fi
[ "$failed" = 0 ]
