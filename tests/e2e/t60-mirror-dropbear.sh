#!/bin/bash
# dsync mirror against Dropbear running OpenSSH's sftp-server, as SimpleSSHD
# does on a phone: an unprivileged user owning the phone's folder (Dropbear
# reads ~USER/.ssh/authorized_keys), on 127.0.0.1 (mirrorlib.sh). Acceptance
# 1 of the mirror (mirror_basics): a photo added on the phone reaches the
# folder and history names the phone; an edit in the folder reaches the
# phone; deletions travel both ways; a conflicting edit leaves both versions
# on both sides; a rename on the phone is recorded as one; after every round
# the phone holds the user's files and nothing else. One round goes through
# the built-in SSH client (libssh2: aes-ctr against Dropbear, no atomic
# replace).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/mirrorlib.sh"

mirror_test_start dropbear
mirror_basics dropbear

finish
