#!/bin/bash
# dsync mirror against OpenSSH's sshd with its sftp-server, as Termux runs it
# on a phone: an unprivileged user owning the phone's folder, on 127.0.0.1
# (mirrorlib.sh). Acceptance 1 of the mirror (mirror_basics): a photo added
# on the phone reaches the folder and history names the phone; an edit in
# the folder reaches the phone; deletions travel both ways; a conflicting
# edit leaves both versions on both sides; a rename on the phone is recorded
# as one; after every round the phone holds the user's files and nothing
# else. One round goes through the built-in SSH client (libssh2).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
. "$(dirname "$0")/sshlib.sh"
. "$(dirname "$0")/mirrorlib.sh"

mirror_test_start openssh
mirror_basics openssh

finish
