#!/bin/bash
# How a remote is reached, as the program takes it: --limit-rate on every
# command that transfers (a rate rsync's --bwlimit takes, else exit 2 before
# anything is made), remote add's and join's --ssh and --ssh-command kept as
# remote.NAME.ssh, sshCommand (and remote add's --limit-rate as limitRate),
# 'remote set' and 'remote unset' to change them, DSYNC_SSH checked, and the
# help that tells of them.  file:// remotes: the settings are kept and a
# rate is harmless there (the sftp:// tests show the rate itself).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min
unset DSYNC_PASSPHRASE DSYNC_NEW_PASSPHRASE DSYNC_SSH DSYNC_SSH_COMMAND

R=$TMP/remote
PASS=$TMP/passphrase
echo "correct horse battery staple" > "$PASS"
cfg() { git_of "$1" config --get "$2"; }

mkdir -p "$TMP/A"
echo "a file" > "$TMP/A/a.txt"
ok "A: init" as A init "$TMP/A" --device-name alpha

# 1. a rate that is not taken: exit 2, nothing made
for rate in 2Q k -1 "1e3" 20mbps 1b; do
	fails 2 "remote add --limit-rate $rate: exit 2" on A remote add origin "file://$R" --passphrase-file "$PASS" \
		--limit-rate "$rate"
	contains "remote add --limit-rate $rate: says so" "$TMP/err" "invalid rate '$rate'"
	check "remote add --limit-rate $rate: one error line" "$(grep -c '^dsync: error: ' "$TMP/err")" = 1
done
contains "a rate below 512 bytes a second: says the least" "$TMP/err" "at least 512 bytes"
check "no store made" ! -e "$R"
check "no remote added" -z "$(on A remote list)"
fails 2 "remote add --ssh bogus: exit 2" on A remote add origin "file://$R" --passphrase-file "$PASS" --ssh bogus
contains "--ssh bogus: names the choices" "$TMP/err" "give auto, openssh or builtin"
check "--ssh bogus: no store made" ! -e "$R"

# 2. remote add keeps --ssh, --ssh-command and --limit-rate
ok "remote add --ssh builtin --ssh-command CMD --limit-rate 2M" on A remote add origin "file://$R" \
	--passphrase-file "$PASS" --ssh builtin --ssh-command "ssh -F '$TMP/my config'" --limit-rate 2M
check "remote.origin.ssh = builtin" "$(cfg A remote.origin.ssh)" = builtin
check "remote.origin.sshCommand kept as typed" "$(cfg A remote.origin.sshCommand)" = "ssh -F '$TMP/my config'"
check "remote.origin.limitRate = 2M" "$(cfg A remote.origin.limitRate)" = 2M
contains "remote list: the remote" <(on A remote list) "origin"

# 3. --limit-rate on the commands that transfer: taken (harmless on file://)
ok "push --limit-rate 20mbit" on A push --limit-rate 20mbit
contains "push: pushed" "$TMP/out" "pushed"
ok "fetch --limit-rate 500k" on A fetch --limit-rate 500k
ok "sync --limit-rate 1.5MB" on A sync --limit-rate=1.5MB
ok "check --read-data --limit-rate 0" on A check --read-data --limit-rate 0
for cmd in push fetch sync check; do
	fails 2 "$cmd --limit-rate fast: exit 2" on A "$cmd" --limit-rate fast
	contains "$cmd --limit-rate fast: says so" "$TMP/err" "invalid rate 'fast': give e.g. 500k, 2M or 20mbit"
	fails 2 "$cmd --limit-rate (no value): exit 2" on A "$cmd" --limit-rate
done
fails 2 "passphrase takes no --limit-rate" on A passphrase --limit-rate 1M
fails 2 "push takes no --ssh" on A push --ssh builtin
fails 2 "remote list takes no --ssh" on A remote list --ssh builtin
contains "remote list --ssh: says where it goes" "$TMP/err" "go with 'remote add'"
fails 2 "remote remove takes no --limit-rate" on A remote remove origin --limit-rate 1M
check "the remote is still there" "$(on A remote list | cut -f1)" = origin

# 4. remote set / unset
ok "remote set origin ssh openssh" on A remote set origin ssh openssh
contains "remote set: says what it set" "$TMP/out" "remote 'origin': ssh = openssh"
check "remote.origin.ssh = openssh" "$(cfg A remote.origin.ssh)" = openssh
ok "remote set origin limit-rate 500k (the option's spelling)" on A remote set origin limit-rate 500k
check "remote.origin.limitRate = 500k" "$(cfg A remote.origin.limitRate)" = 500k
ok "remote set origin SSHCOMMAND (any case)" on A remote set origin SSHCOMMAND "ssh -p 2222"
check "remote.origin.sshCommand replaced" "$(cfg A remote.origin.sshCommand)" = "ssh -p 2222"
fails 2 "remote set origin limitRate fast: exit 2" on A remote set origin limitRate fast
contains "remote set limitRate fast: says so" "$TMP/err" "invalid rate 'fast'"
check "limitRate unchanged" "$(cfg A remote.origin.limitRate)" = 500k
fails 2 "remote set origin ssh putty: exit 2" on A remote set origin ssh putty
contains "remote set ssh putty: names the choices" "$TMP/err" "give auto, openssh or builtin"
check "ssh unchanged" "$(cfg A remote.origin.ssh)" = openssh
fails 2 "remote set origin colour red: exit 2" on A remote set origin colour red
contains "an unknown setting: names the known ones" "$TMP/err" "ssh, sshCommand, limitRate"
fails 1 "remote set nope ssh auto: no such remote" on A remote set nope ssh auto
contains "no such remote: says so" "$TMP/err" "no remote 'nope'"
fails 2 "remote set origin ssh (no value): exit 2" on A remote set origin ssh
fails 2 "remote set origin ssh '': exit 2" on A remote set origin ssh ''
ok "remote unset origin sshCommand" on A remote unset origin sshCommand
check "sshCommand gone" -z "$(cfg A remote.origin.sshCommand)"
ok "remote unset origin sshCommand again: nothing to do" on A remote unset origin sshCommand
check "the url is kept" "$(cfg A remote.origin.url)" = "file://$R"
ok "sync after the changes" on A sync

# 5. what the library reads: a bad limitRate in the config, and DSYNC_SSH
git_of A config remote.origin.limitRate fast
fails 2 "a config limitRate not taken: exit 2" on A sync
contains "names the config key" "$TMP/err" "remote.origin.limitRate is 'fast'"
ok "--limit-rate wins over the config's" on A sync --limit-rate 1M
git_of A config remote.origin.limitRate 1M
DSYNC_SSH=putty fails 2 "DSYNC_SSH=putty: exit 2" on A sync
contains "DSYNC_SSH=putty: names it" "$TMP/err" "DSYNC_SSH is 'putty': give auto, openssh or builtin"
DSYNC_SSH=builtin ok "DSYNC_SSH=builtin: a file:// remote needs no ssh" on A sync

# 6. join keeps --ssh and --ssh-command; its --limit-rate is for the join
fails 2 "join --limit-rate fast: exit 2" as B join "file://$R" "$TMP/B" --passphrase-file "$PASS" --limit-rate fast
check "join --limit-rate fast: no folder made" ! -e "$TMP/B"
fails 2 "join --ssh bogus: exit 2" as B join "file://$R" "$TMP/B" --passphrase-file "$PASS" --ssh bogus
ok "join --ssh builtin --ssh-command CMD --limit-rate 1M" as B join "file://$R" "$TMP/B" --passphrase-file "$PASS" \
	--ssh builtin --ssh-command "ssh -4" --limit-rate 1M --name home
check "B: remote.home.ssh = builtin" "$(cfg B remote.home.ssh)" = builtin
check "B: remote.home.sshCommand kept" "$(cfg B remote.home.sshCommand)" = "ssh -4"
check "B: no limitRate kept" -z "$(cfg B remote.home.limitRate)"
check "B: the files came" "$(cat "$TMP/B/a.txt")" = "a file"

# 7. the help tells of it
ok "help remote" dsync help remote
for text in "remote set NAME ssh|sshCommand|limitRate|caFile VALUE" "remote unset NAME" "--limit-rate RATE" \
	"--ssh auto|openssh|builtin" "--ssh-command CMD" "sftp://[USER@]HOST[:PORT]/PATH" "DSYNC_SSH_COMMAND"; do
	contains "help remote: $text" "$TMP/out" "$text"
done
for cmd in push fetch sync join check; do
	ok "$cmd --help" dsync "$cmd" --help
	contains "$cmd --help: --limit-rate" "$TMP/out" "--limit-rate RATE"
done
ok "help" dsync help
contains "help: exit 5 for ssh" "$TMP/out" "ssh login or host key refused"

finish
