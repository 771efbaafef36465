#!/bin/sh
# Installs the Debian packages dsync needs, when missing.
# Usage: contrib/install-deps.sh           what building and running dsync needs
#        contrib/install-deps.sh --tests   that, and what the tests need
# (as root, or with sudo available)
#
# The tests of s3:// remotes run a real S3 server, Ceph's RADOS Gateway, on
# 127.0.0.1 (tests/tools/local-s3.sh): radosgw, ceph-mon, ceph-osd and
# ceph-common, about 67 MB to download (ceph-mgr is not needed; everything is
# installed without recommends). zsh and fish: the completion test checks
# theirs too (tests/e2e/t74-completion.sh). dbus-daemon, dbus-bin and
# libglib2.0-bin (gdbus): the notifications test runs a private session bus
# (tests/e2e/t76-notify.sh). desktop-file-utils: the file-manager test
# validates Dolphin's service menus (tests/e2e/t82-file-manager.sh).
# chromium and chromium-driver: the dashboard's browser test drives a
# headless Chromium (tests/e2e/t79-ui-browser.sh). None of that is installed
# without --tests.
set -eu

PKGS="build-essential cmake pkg-config git libgit2-dev libsodium-dev zlib1g-dev libdeflate-dev libssh2-1-dev
libinotifytools0-dev libcurl4-openssl-dev libmicrohttpd-dev libzxcvbn-dev openssh-client"
TEST_PKGS="libcmocka-dev openssh-server dropbear-bin strace util-linux python3 time openssl curl zsh fish
dbus-daemon dbus-bin libglib2.0-bin desktop-file-utils chromium chromium-driver
radosgw ceph-mon ceph-osd ceph-common"

case "${1:-}" in
--tests) PKGS="$PKGS $TEST_PKGS" ;;
"") ;;
*)
	echo "usage: contrib/install-deps.sh [--tests]" >&2
	exit 2
	;;
esac

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all dependencies present"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
