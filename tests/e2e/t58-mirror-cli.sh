#!/bin/bash
# dsync mirror's command line (no SSH server needed): usage errors are exit 2
# and name the mistake; a mirror that doesn't exist is exit 1 with one clear
# line; a folder without mirrors lists "no mirrors"; a host that can't be
# reached adds nothing; a mirror whose host is down fails its own round only:
# 'dsync sync' and 'dsync mirror sync' say so (exit 1), 'mirror list' and
# 'status' show its last error, and 'remove' forgets it; the watcher of a
# folder without remotes runs the rounds of a mirror added while it watches
# at once and then on their interval (the same error again is no new
# warning).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/watchlib.sh"
unset DSYNC_PASSPHRASE DSYNC_SSH DSYNC_SSH_COMMAND
export DSYNC_SSH=builtin   # no ssh program needed; nothing listens on port 1 anyway

F=$TMP/f
mkdir -p "$F"
cd "$F" || exit 1
printf 'one\n' > a.txt
ok "init" dsync init --device-name alpha
# a TCP port on 127.0.0.1 where nothing listens
DOWN="sftp://nobody@127.0.0.1:1/phone"

# one error line, then where to read more
usage_said() { contains "$1: says where to read more" "$TMP/err" "see 'dsync help mirror'"; }

# 1. no mirrors
ok "mirror list with none" dsync mirror list
check "says there are none and how to add one" "$(cat "$TMP/out")" = "no mirrors (add one: dsync mirror add NAME URL)"
ok "mirror alone lists" dsync mirror
contains "mirror alone: the same line" "$TMP/out" "no mirrors"
ok "mirror list --json with none" dsync mirror list --json
check "--json: an empty list" "$(cat "$TMP/out")" = '{"mirrors":[]}'
ok "status with no mirror" dsync status
check "status: no mirror line" "$(grep -c '^mirror ' "$TMP/out")" = 0
fails 1 "mirror sync with none" dsync mirror sync
contains "mirror sync: says there is none" "$TMP/err" "no mirrors to sync"
fails 1 "sync with no remote and no mirror" dsync sync
fails 1 "sync NAME that is neither" dsync sync nope
contains "sync NAME: says no remote or mirror has it" "$TMP/err" "no remote or mirror 'nope'"

# 2. usage errors: 2, before anything is reached
while IFS='|' read -r what args; do
	# shellcheck disable=SC2086
	fails 2 "$what" dsync mirror $args
	usage_said "$what"
done <<'EOF'
an unknown subcommand|bogus
add without a name|add
add without a URL|add phone
add with one argument too many|add phone sftp://h/x extra
remove without a name|remove
set without a value|set phone interval
set with an unknown setting|set phone colour blue
set interval 0|set phone interval 0
set interval not a number|set phone interval soon
unset without a setting|unset phone
unset with an unknown setting|unset phone colour
sync with two names|sync a b
list with a name|list phone
add --interval 0|add phone sftp://h/x --interval 0
add --interval 1.5|add phone sftp://h/x --interval 1.5
add --ssh bogus|add phone sftp://h/x --ssh bogus
add --limit-rate bogus|add phone sftp://h/x --limit-rate fast
list --allow-mass-delete|list --allow-mass-delete
remove --json|remove phone --json
sync --create|sync --create
set --path-in-folder|set phone interval 30 --path-in-folder x
an unknown option|list --bogus
EOF
fails 2 "set with an unknown setting" dsync mirror set phone colour blue
contains "unknown setting: names the ones there are" "$TMP/err" "unknown setting 'colour' (interval, ssh, sshCommand, limitRate)"
fails 2 "add with a bad name" dsync mirror add 'no/slash' "$DOWN"
fails 2 "add with an empty argument" dsync mirror add phone ''
ok "mirror --help" dsync mirror --help
contains "--help: the usage" "$TMP/out" "usage: dsync mirror"
ok "help mirror" dsync help mirror
contains "help lists the subcommands" "$TMP/out" "dsync mirror sync [NAME]"
ok "help: mirror among the commands" dsync help
contains "help: the mirror line" "$TMP/out" "  mirror "

# 3. a mirror that doesn't exist: 1, one clear line
for args in "remove nope" "set nope interval 30" "unset nope ssh" "sync nope"; do
	# shellcheck disable=SC2086
	fails 1 "$args: no such mirror" dsync mirror $args
	contains "$args: says so" "$TMP/err" "no mirror 'nope'"
	check "$args: one line" "$(wc -l < "$TMP/err")" = 1
done

# 4. a host that can't be reached: nothing is added
fails 1 "add: a host that can't be reached" dsync mirror add phone "$DOWN"
check "add: nothing kept in the config" "$(git config -f .dsync/config --get-regexp '^mirror\.' | wc -l)" = 0
ok "list after the failed add" dsync mirror list
contains "still no mirrors" "$TMP/out" "no mirrors"

# 5. a mirror whose host is down (as 'mirror add' would have kept it, when
# the phone was on)
git config -f .dsync/config mirror.phone.url "$DOWN"
git config -f .dsync/config mirror.phone.path "Phone"
git config -f .dsync/config mirror.phone.deviceId 0123456789abcdef0123456789abcdef
ok "list the mirror" dsync mirror list
contains "list: its name, URL and subfolder" "$TMP/out" "phone  $DOWN  -> Phone"
contains "list: no round yet" "$TMP/out" "every 60 s; no round yet; device 01234567"
ok "list --json" dsync mirror list --json
contains "--json: its fields" "$TMP/out" \
	"{\"name\":\"phone\",\"url\":\"$DOWN\",\"path\":\"Phone\",\"device_id\":\"0123456789abcdef0123456789abcdef\",\"interval\":60,\"last_round\":null,\"last_round_timestamp\":null,\"paused\":null,\"last_error\":null,\"kept\":[]}"
fails 2 "remote add with a mirror's name" dsync remote add phone "$TMP/store"
contains "remote add: says the name is a mirror's" "$TMP/err" "'phone' is already a mirror of"
check "remote add: no store made" ! -e "$TMP/store"
ok "set interval" dsync mirror set phone interval 300
contains "set: says so" "$TMP/out" "mirror 'phone': interval = 300"
check "set: kept" "$(git config -f .dsync/config mirror.phone.interval)" = 300
ok "set ssh-command (the option's spelling)" dsync mirror set phone ssh-command "ssh -F /dev/null"
check "kept as sshCommand" "$(git config -f .dsync/config mirror.phone.sshCommand)" = "ssh -F /dev/null"
ok "unset sshCommand" dsync mirror unset phone sshCommand
check "unset: gone" "$(git config -f .dsync/config mirror.phone.sshCommand || echo none)" = none
ok "status names the mirror" dsync status
contains "status: no round yet" "$TMP/out" "mirror phone: no round yet"

printf 'two\n' > a.txt
fails 1 "mirror sync: the host is down" dsync mirror sync phone
contains "mirror sync: the error names the mirror" "$TMP/err" "mirror 'phone'"
fails 1 "sync: only the mirror, which fails" dsync sync
contains "sync: the mirror's error" "$TMP/err" "mirror 'phone'"
check "sync: the round's snapshot was taken all the same" "$(git --git-dir=.dsync show HEAD:a.txt)" = two
fails 1 "sync phone: the mirror's round alone" dsync sync phone
ok "list shows the last error" dsync mirror list
contains "list: last error" "$TMP/out" "  last error: "
ok "status shows the last error" dsync status
contains "status: last error" "$TMP/out" "mirror phone: no round yet, last error: "
ok "list --json: the last error" dsync mirror list --json
check "--json: last_error is a string" "$(grep -c '"last_error":"' "$TMP/out")" = 1

# the watcher: a folder with no remote is watched; a mirror added to it
# meanwhile gets its rounds at once, then every interval (1 s here); an
# error is a warning the first time only
G=$TMP/g
mkdir -p "$G"
ok "init a second folder" dsync init "$G" --device-name beta
start_watch "$TMP/watch.log" watch --verbose "$G"
wait_text "$TMP/watch.log" "watching (" || fail "watch: started"
cp "$G/.dsync/config" "$TMP/config"
git config -f "$TMP/config" mirror.tablet.url "sftp://nobody@127.0.0.1:1/tablet"
git config -f "$TMP/config" mirror.tablet.path ""
git config -f "$TMP/config" mirror.tablet.deviceId fedcba9876543210fedcba9876543210
git config -f "$TMP/config" mirror.tablet.interval 1
mv "$TMP/config" "$G/.dsync/config"   # one change, as 'dsync mirror add' makes it
if wait_log "$TMP/watch.log" "mirror 'tablet': " 3 30; then
	pass "watch: the mirror added meanwhile gets its rounds, every interval"
else
	fail "watch: the mirror added meanwhile gets its rounds, every interval"
	sed 's/^/#   /' "$TMP/watch.log" | tail -20
fi
stop_watch INT
check "watch: stopped cleanly" "$WRC" = 0
contains "watch: says the folder has mirrors now" "$TMP/watch.log" "mirrors: rounds every 1 s"
check "watch: the tablet's error warned once" "$(grep -c "warning .*mirror 'tablet': " "$TMP/watch.log")" = 1
check "watch: ... then logged quietly" "$(grep -c "debug .*mirror 'tablet': " "$TMP/watch.log")" -ge 2

ok "remove" dsync mirror remove phone
contains "remove: says the host was not touched" "$TMP/out" "nothing on the host was touched"
check "remove: no mirror key left" "$(git config -f .dsync/config --get-regexp '^mirror\.' | wc -l)" = 0
ok "list after remove" dsync mirror list
contains "none left" "$TMP/out" "no mirrors"

finish
