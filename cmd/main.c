/*
 * The dsync program: the one table of commands (name, function, whether it
 * needs a folder, summary, usage), dispatch, and help.  The commands live
 * in files by family (cmd/README.md); everything they do is a call into
 * libdsync.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "cmd.h"
#include "options.h"
#include "output.h"

/* project(dsync VERSION ...) in CMakeLists.txt is the one place the
 * version is written; the build passes it in. */
#ifndef DSYNC_VERSION
#error "DSYNC_VERSION comes from CMakeLists.txt: build with CMake"
#endif

typedef struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	bool needs_folder;
	const char *summary;
	const char *usage;
} command;

static const command *find_command(const char *name);
static int cmd_help(int argc, char **argv);

int cmd_print_usage(const char *name)
{
	const command *c = find_command(name);

	if (!c)
		return 2;
	printf("%s", c->usage);
	return 0;
}

int cmd_open_folder(dsync_folder **f)
{
	int error = dsync_folder_open(f, NULL);

	return error < 0 ? out_fail(error) : 0;
}

/* ---------------------------------------------------------------- help */

static int cmd_version(int argc, char **argv)
{
	static const struct option opts[] = { CMD_HELP_OPTION, { 0 } };
	int rc;

	while (cmd_getopt(&rc, "version", argc, argv, "h", opts) != -1)
		;
	if (rc >= 0 || (rc = cmd_args("version", argc, argv, 0, 0, NULL)) >= 0)
		return rc;
	printf("dsync %s\n", DSYNC_VERSION);
	return 0;
}

static const command commands[] = {
	{ "init", cmd_init, false, "start keeping the history of a folder",
	  "usage: dsync init [DIR] [--device-name NAME]\n"
	  "       dsync init [DIR] --relay URL --group NAME [--device-name NAME]\n"
	  "                  [--ca-file FILE] [--passphrase-file FILE]\n\n"
	  "Makes DIR (default: the current folder; created if missing) a dsync folder:\n"
	  "its history lives in DIR/.dsync. The device is named NAME, else\n"
	  "$DSYNC_DEVICE_NAME, else the host name (made safe): at most 64 bytes of\n"
	  "printable UTF-8 text without '/', '\\', '<', '>' or characters that reorder\n"
	  "text (U+202A..U+202E, U+2066..U+2069), not '.' or '..'. The folder is\n"
	  "registered in ~/.config/dsync/folders for 'dsync daemon', and a first\n"
	  "snapshot is taken.\n\n"
	  "--relay URL --group NAME also makes the group NAME on the relay at URL\n"
	  "('dsync relay'; http://HOST:PORT/ or https://...), its encrypted store, and\n"
	  "pushes the first snapshot there, as remote 'origin'. One passphrase admits\n"
	  "devices to the group and encrypts the store: on a terminal a generated one\n"
	  "of 6 random words (77 bits) is offered (Enter takes it: write it down), or\n"
	  "type your own (twice); from --passphrase-file or $DSYNC_PASSPHRASE it is\n"
	  "checked. One the relay could guess (under 50 bits) is refused with the\n"
	  "reason, before anything is made (exit 2). --ca-file FILE: the CA (or\n"
	  "self-signed certificate) an https relay is checked against. Other devices:\n"
	  "'dsync join --relay URL --group NAME DIR'.\n" },
	{ "snapshot", cmd_snapshot, true, "record every change as a new version",
	  "usage: dsync snapshot [-m|--message MSG] [--allow-mass-delete] [--quiet]\n\n"
	  "Records every change in the folder (adds, edits, deletes, renames, links,\n"
	  "the executable bit) as one version. Nothing changed: no version, exit 0.\n"
	  "A file that cannot be read keeps its previous version and is reported.\n"
	  "When more than half of the files (and more than 10) are gone, nothing is\n"
	  "recorded (an unmounted drive looks like that, and so does a .dsyncignore\n"
	  "that now leaves most files out: the message says which) unless\n"
	  "--allow-mass-delete.\n" },
	{ "status", cmd_status, true, "show what changed since the last snapshot, or who holds a file",
	  "usage: dsync status [PATH | --all] [--json]\n\n"
	  "Lists files added (A), modified (M), deleted (D) or changed type (T) since\n"
	  "the last snapshot. Then, for each relay remote, its group's usage, asked\n"
	  "of the relay: 'remote NAME: 1.2 GiB used of 2.0 GiB (60%)' (or '(no\n"
	  "quota)'). A round warns when a group is 90% full (once a day).\n"
	  "Then a line per mirror: 'mirror NAME: last round 14:02, up to date', or\n"
	  "why it is paused or its last error.\n"
	  "--json: one object {\"changes\":[{\"status\",\"path\"}],\"relays\":[{\"remote\",\n"
	  "\"used\",\"quota\"} or {\"remote\",\"error\"}],\"mirrors\":[as 'mirror list --json']}\n"
	  "(sizes in bytes, quota 0: none). See JSON OUTPUT in dsync(1).\n\n"
	  "With PATH (a file or folder): how many versions exist (newest, oldest),\n"
	  "and which devices, remotes and mirrors hold its latest version, as last\n"
	  "known here (no network call: 'dsync fetch' first for fresher news): 'on\n"
	  "3 devices, 1 remote', 'not yet on remote 'usb'', 'only here'. A holder\n"
	  "holds it when the newest head known for it has the same content at PATH;\n"
	  "since when: the first fetch or push that saw it there ('remote 'r1' has it\n"
	  "since 14:02').\n"
	  "--json: {\"path\",\"exists\",\"type\",\"latest\",\"versions\",\"newest\",\"oldest\",\n"
	  "\"devices\",\"remotes\",\"mirrors\":[{\"name\",\"id\",\"holds\",\"head\",\"head_time\",\"since\"}],\n"
	  "\"only_here\"}.\n\n"
	  "--all (anywhere): every registered folder at a glance, from what each keeps\n"
	  "(no network call): its last snapshot, per remote the last sync, whether\n"
	  "it has the latest snapshot and the space used as the last round saw it\n"
	  "('used 1.2 GiB (of 5.0 GiB quota, 24%) as of 14:02'), each mirror's last\n"
	  "round or why it is paused and the files kept only here, the files on this\n"
	  "device only, the conflicts waiting; whether a watcher (dsync daemon or\n"
	  "watch) watches it now, and whether it is paused: since when, why, by the\n"
	  "user ('dsync pause') or the watcher (a mass deletion).\n"
	  "--json: {\"folders\":[{\"root\",\"device\",\"watched\",\"watcher_pid\",\"paused\",\n"
	  "\"paused_by\",\"paused_why\",\"paused_until\",\"paused_since\",\"head\",\n"
	  "\"last_snapshot\",\"conflicts\",\n"
	  "\"remotes\":[{\"name\",\"last_sync\",\"has_latest\",\"used\":{\"bytes\",\"store_bytes\",\n"
	  "\"quota\",\"percent\",\"time\"}}],\"only_here\",\"only_here_paths\",\"mirrors\":[{\"name\",\n"
	  "\"last_round\",\"paused\",\"kept_here\"}]}]}.\n" },
	{ "log", cmd_log, true, "list snapshots",
	  "usage: dsync log [PATH] [--since WHEN] [--until WHEN] [-n|--max-count N] [--all-files] [--json]\n\n"
	  "Lists snapshots, newest first: id, time, device, message and the files\n"
	  "changed (first 10; --all-files for all). PATH limits it to snapshots that\n"
	  "changed that file or folder. WHEN: '2 hours ago', 'yesterday', 'last monday',\n"
	  "'2024-03-01', '2024-03-01 14:00', '@EPOCH', or a version (a snapshot id,\n"
	  "HEAD~3): the time its snapshot was taken.\n"
	  "--json: one object {\"snapshots\":[{\"id\",\"time\",\"timestamp\",\"tz_offset\",\n"
	  "\"device\",\"device_id\",\"message\",\"files\":[{\"status\",\"path\",\"from\"}]}]}, every\n"
	  "file changed (not the first 10). See JSON OUTPUT in dsync(1).\n" },
	{ "versions", cmd_versions, true, "list every version of one file",
	  "usage: dsync versions PATH [--json]\n\n"
	  "Lists every version of the file PATH, newest first, following it back\n"
	  "across renames; deleted files too.\n"
	  "--json: one object {\"path\",\"versions\":[{\"id\",\"time\",\"timestamp\",\"device\",\n"
	  "\"device_id\",\"message\",\"change\",\"path\",\"from\",\"blob\",\"size\",\"mode\"}]}.\n" },
	{ "show", cmd_show, true, "show a snapshot, or a file or folder as it was",
	  "usage: dsync show [REV] | dsync show REV:PATH\n\n"
	  "REV alone: the snapshot's details. REV:PATH: the file's bytes as they were\n"
	  "(to stdout), or the folder's listing. REV: a snapshot id (short too),\n"
	  "HEAD, HEAD~3, or a time ('yesterday', '2024-03-01 14:00'): the last\n"
	  "snapshot taken at or before it. PATH is relative to the current folder.\n" },
	{ "diff", cmd_diff, true, "show changes between versions",
	  "usage: dsync diff [REV [REV]] [-- PATH]\n\n"
	  "No REV: the last snapshot against the working files. One REV: that version\n"
	  "against the working files. Two: between the versions.\n" },
	{ "restore", cmd_restore, true, "bring back files or folders as they were",
	  "usage: dsync restore PATH... [--at WHEN|REV] [--to DEST] [--force]\n\n"
	  "Brings back each PATH as it was at WHEN or REV (default: the last snapshot),\n"
	  "including files deleted since. A folder comes back file by file; files\n"
	  "added to it since stay. The versions being replaced are snapshotted first,\n"
	  "so nothing is lost. --to DEST writes there instead (DEST an existing folder\n"
	  "or one ending in '/', made if missing: each PATH goes inside it); a DEST inside the folder is a restore in place,\n"
	  "snapshotted first too. Everything is checked first: a file no version holds\n"
	  "(elsewhere: any different file or link; in the folder: an ignored or\n"
	  "unreadable one) is not replaced, the restore writes nothing and names it;\n"
	  "--force replaces such files. Identical files are not in the way. A folder\n"
	  "where a file goes, or a file or link where a folder goes, is never replaced.\n" },
	{ "merge", cmd_merge, true, "merge another version's history into the folder",
	  "usage: dsync merge REV... [--quiet]\n\n"
	  "Snapshots the folder, then merges each REV (a commit id or ref, e.g. another\n"
	  "device's head) into it: text edited on both sides is merged line by line;\n"
	  "what cannot be merged keeps the later version at its path and the other as a\n"
	  "conflict copy NAME.sync-conflict-YYYYMMDD-HHMMSS-DEVICE.EXT beside it. Only\n"
	  "the files the merge changed are written; a file you change meanwhile is never\n"
	  "overwritten (it is snapshotted and merged too). Interrupted, the next dsync\n"
	  "command finishes the merge. Exit status 3 while conflicts wait.\n" },
	{ "conflicts", cmd_conflicts, true, "list conflict copies, or keep one version",
	  "usage: dsync conflicts [--json]\n"
	  "       dsync conflicts resolve PATH --keep file|copy|both\n\n"
	  "Lists the conflict copies a merge made that are still in the folder, each\n"
	  "with the path it is a copy of (a file merely named like a copy is none).\n"
	  "resolve PATH (the file, or one copy) keeps the version at the path (file),\n"
	  "the copy's (copy: it replaces the file), or both (the copy is renamed to\n"
	  "'NAME (DEVICE YYYY-MM-DD HHMMSS).EXT'), and records that as a new version;\n"
	  "what is removed stays in history. Deleting a copy by hand resolves it too.\n"
	  "--json: one object {\"conflicts\":[{\"path\",\"copy\",\"device\",\"time\",\"timestamp\",\n"
	  "\"path_exists\"}]}.\n" },
	{ "remote", cmd_remote, true, "add, list, change or remove encrypted remotes",
	  "usage: dsync remote [list] [--json]\n"
	  "       dsync remote add NAME URL [--passphrase-file FILE] [--limit-rate RATE]\n"
	  "                        [--ssh auto|openssh|builtin] [--ssh-command CMD]\n"
	  "       dsync remote add NAME RELAY-URL --group GROUP [--ca-file FILE]\n"
	  "       dsync remote set NAME ssh|sshCommand|limitRate|caFile VALUE\n"
	  "       dsync remote unset NAME ssh|sshCommand|limitRate|caFile\n"
	  "       dsync remote passphrase NAME [--passphrase-file FILE]\n"
	  "       dsync remote remove NAME\n\n"
	  "list: NAME, URL (and a relay's group), one remote a line; --json: one object\n"
	  "{\"remotes\":[{\"name\",\"url\",\"store_id\",\"group\"}]} (null: none).\n\n"
	  "add: URL is a folder (file:///media/usb/dsync, or a plain path: a USB disk,\n"
	  "a mounted share), or a folder on a host you reach over SSH:\n"
	  "sftp://[USER@]HOST[:PORT]/PATH, sftp://HOST/~/PATH (under the login folder),\n"
	  "ssh://... the same, or HOST:PATH as scp writes it (./a:b is a local name),\n"
	  "or a bucket on an S3 server: s3://HOST[:PORT]/BUCKET[/PREFIX] (https) or\n"
	  "s3+http://HOST:PORT/BUCKET[/PREFIX] (plain http, a trusted network); keys\n"
	  "from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or ~/.aws/credentials\n"
	  "(AWS_PROFILE), the region from AWS_REGION or ~/.aws/config; a missing\n"
	  "bucket is made when the keys may (docs/remotes-s3.md).\n"
	  "Nothing of dsync runs on the host: the store is plain files. A missing folder\n"
	  "is made. An empty folder gets a new encrypted store (you choose its\n"
	  "passphrase, asked twice); a folder holding a store is opened\n"
	  "with its passphrase, and the next 'dsync sync' merges its history with this\n"
	  "folder's (files on both sides are kept). The store's key is then kept in\n"
	  "~/.config/dsync/keys/ (0600) so later syncs don't ask. The passphrase comes\n"
	  "from --passphrase-file, $DSYNC_PASSPHRASE, or the terminal.\n\n"
	  "SSH: --ssh openssh runs your own ssh (everything in ~/.ssh/config works),\n"
	  "builtin uses the client inside dsync (libssh2: ssh-agent, ~/.ssh/id_ed25519\n"
	  "and id_ecdsa; no RSA keys), auto (the default) your ssh when it is installed.\n"
	  "--ssh-command CMD runs CMD instead of 'ssh' (e.g. 'ssh -F ~/dsync/config').\n"
	  "On a terminal, a key's passphrase, a password or an unknown host key is\n"
	  "asked; without one (cron, the daemon) nothing is, and such a host fails.\n"
	  "--limit-rate RATE caps this remote's transfers each way: KiB/s unless a unit\n"
	  "is given (500k, 2M, 1.5MB, 20mbit; 0: no limit). These three are kept as\n"
	  "remote.NAME.ssh, sshCommand and limitRate; set and unset change them later\n"
	  "($DSYNC_SSH and $DSYNC_SSH_COMMAND win over them). A refused login or host key\n"
	  "is exit 5; a host that can't be reached, exit 1. Your own ssh keeps the\n"
	  "connection for 120 s after a round, so the next one needs no new login\n"
	  "(DSYNC_SSH_SHARE=0 turns that off).\n\n"
	  "A relay ('dsync relay', for devices behind NAT): URL is http://HOST:PORT/ or\n"
	  "https://HOST[:PORT]/[PATH/] and --group GROUP names the group (required:\n"
	  "exit 2 without it). The passphrase admits this device to the group (the\n"
	  "relay keeps its signing key) and opens the group's store; a group or store\n"
	  "not there yet is made only with a passphrase strong enough (see 'dsync help\n"
	  "init'). The group's token and this device's signing key are then kept in\n"
	  "~/.config/dsync/relay/GROUP-ID/DEVICE-ID (0600): later rounds and the daemon\n"
	  "never need the passphrase. A wrong passphrase or no such group: exit 5.\n"
	  "--ca-file FILE (remote.NAME.caFile, an absolute path; 'remote set NAME\n"
	  "caFile FILE' later): the CA an https relay's certificate is checked against.\n"
	  "'remote list' shows a relay remote's group in a third column. See\n"
	  "docs/relays.md.\n\n"
	  "passphrase NAME: after the group's passphrase was changed on another device\n"
	  "('dsync passphrase'), this one is refused (exit 5) until it is given the new\n"
	  "one: asked (or from --passphrase-file, $DSYNC_PASSPHRASE), checked against the\n"
	  "relay, and its token kept in place of the old.\n\n"
	  "remove forgets the remote here (and a relay's kept token); the store is\n"
	  "untouched.\n" },
	{ "push", cmd_push, true, "send this folder's history to remotes",
	  "usage: dsync push [REMOTE] [--quiet] [--passphrase-file FILE]\n"
	  "                  [--limit-rate RATE]\n\n"
	  "Snapshots the folder, then uploads to REMOTE (default: every remote) the\n"
	  "history it does not hold yet, encrypted, and this device's new manifest.\n"
	  "On a terminal it shows the bytes sent, the speed and the time left.\n"
	  "--limit-rate RATE caps the upload (KiB/s unless a unit is given: 500k, 2M,\n"
	  "20mbit; for this run, over remote.NAME.limitRate; 0: no cap this run).\n" },
	{ "fetch", cmd_fetch, true, "get other devices' histories from remotes",
	  "usage: dsync fetch [REMOTE] [--quiet] [--passphrase-file FILE]\n"
	  "                   [--limit-rate RATE]\n\n"
	  "Downloads every other device's newest history from REMOTE (default: every\n"
	  "remote), checks it, and records each device's head as\n"
	  "refs/remotes/REMOTE/DEVICE-ID. Changes no file: 'dsync sync' merges.\n"
	  "--limit-rate RATE caps the download, as for push.\n" },
	{ "sync", cmd_sync, true, "snapshot, fetch, merge and push",
	  "usage: dsync sync [REMOTE | MIRROR] [--quiet] [--passphrase-file FILE]\n"
	  "                  [--limit-rate RATE]\n\n"
	  "One round with REMOTE (default: every remote and every mirror): snapshot,\n"
	  "fetch the other devices' histories, merge them into the folder (as 'dsync\n"
	  "merge' does; a file you change meanwhile is never overwritten), a round\n"
	  "with each mirror ('dsync mirror sync': what a phone holds is recorded and\n"
	  "merged, the result written back), then push, so a phone's new photos go\n"
	  "out in the same round. MIRROR: that mirror's round alone. A mirror that\n"
	  "fails (a phone out of reach) stops nothing else: its error comes last.\n"
	  "--limit-rate RATE caps each transfer (KiB/s unless a unit is given: 500k,\n"
	  "2M, 20mbit). Exit status 3 while conflicts wait; 5 for a wrong\n"
	  "passphrase, or an ssh login or host key refused; 1 for a host that can't\n"
	  "be reached or a paused mirror; 6 when data from the remote fails\n"
	  "verification (nothing is changed then).\n" },
	{ "mirror", cmd_mirror, true, "keep a phone's folder in step over SSH",
	  "usage: dsync mirror [list] [--json]\n"
	  "       dsync mirror add NAME URL [--path-in-folder SUBDIR] [--create]\n"
	  "                        [--interval SECONDS] [--ssh auto|openssh|builtin]\n"
	  "                        [--ssh-command CMD] [--limit-rate RATE]\n"
	  "       dsync mirror sync [NAME] [--allow-mass-delete] [-v|--verbose]\n"
	  "       dsync mirror set NAME interval|ssh|sshCommand|limitRate VALUE\n"
	  "       dsync mirror unset NAME interval|ssh|sshCommand|limitRate\n"
	  "       dsync mirror remove NAME\n\n"
	  "A mirror is a plain folder on a host you reach over SSH (a phone running\n"
	  "Termux's sshd or SimpleSSHD, a NAS) kept in step with this folder as a\n"
	  "device of its own: nothing of dsync runs or is kept there, its files stay\n"
	  "ordinary files the phone's apps see. Each round lists the folder there,\n"
	  "records what changed on it as a snapshot by the mirror (its name is the\n"
	  "device in 'dsync log'), merges that into this folder as another device's\n"
	  "history is merged, and writes the merged result back. Unchanged files are\n"
	  "told by size and time alone: a round with nothing new reads no file.\n\n"
	  "add: URL is sftp://[USER@]HOST[:PORT]/PATH, ssh://... the same, or\n"
	  "HOST:PATH. It connects once (on a terminal a key's passphrase, a password\n"
	  "or an unknown host key is asked, as for 'dsync remote add'); the folder\n"
	  "there must exist unless --create. --path-in-folder SUBDIR: the host's\n"
	  "folder is the part SUBDIR of this one (e.g. Phone/DCIM; made when missing),\n"
	  "else all of it; two mirrors may not share a part. The first round merges\n"
	  "both sides as two devices that started apart: identical files merge,\n"
	  "different ones become conflict copies, nothing is deleted. --interval\n"
	  "(default 60 s), --ssh, --ssh-command and --limit-rate are kept as\n"
	  "mirror.NAME.interval, ssh, sshCommand and limitRate; set and unset change\n"
	  "them later.\n\n"
	  "list: each mirror, its last round, and the files kept on the computer only:\n"
	  "names a phone's storage can't hold (':', '?', a trailing '.', names that\n"
	  "differ only in case, symbolic links) are never written there, and never\n"
	  "deleted here because the phone lacks them. --json: one object.\n\n"
	  "sync: a round now with NAME (default: every mirror), one line each. When\n"
	  "most of the phone's files vanish at once (its storage not mounted) the\n"
	  "mirror pauses: nothing is recorded or written, exit 1, until the files are\n"
	  "back or --allow-mass-delete. A file still being written there is left for\n"
	  "the next round. 'dsync daemon' runs rounds every interval and soon after a\n"
	  "snapshot that recorded something; 'dsync sync' runs them too.\n\n"
	  "remove: forgets the mirror here; its snapshots stay in the history and\n"
	  "nothing on the host is touched. A refused login or host key is exit 5, a\n"
	  "host that can't be reached exit 1. See docs/mirror.md.\n" },
	{ "join", cmd_join, false, "make this device a copy of a remote's folder",
	  "usage: dsync join URL [DIR] [--name REMOTE] [--device-name NAME]\n"
	  "                  [--passphrase-file FILE] [--limit-rate RATE]\n"
	  "                  [--ssh auto|openssh|builtin] [--ssh-command CMD] [--quiet]\n"
	  "       dsync join --relay URL --group GROUP [DIR] [--ca-file FILE] [...]\n"
	  "       dsync join URL [DIR] --group GROUP [--ca-file FILE] [...]\n\n"
	  "For a new or replaced device: opens the store at URL with its passphrase,\n"
	  "makes DIR (default: the current folder, when it is empty; created if\n"
	  "missing) a dsync folder with the remote as REMOTE (default 'origin'), and\n"
	  "brings every file and the whole history. URL as for 'dsync remote add'\n"
	  "(a folder, sftp://[USER@]HOST[:PORT]/PATH, HOST:PATH, s3://HOST/BUCKET/PREFIX);\n"
	  "--ssh and --ssh-command as there, kept for the remote; --limit-rate for this\n"
	  "join only.\n"
	  "Files already in a DIR you name are kept: identical ones merge, different\n"
	  "ones become conflict copies. A wrong passphrase or a refused ssh login or\n"
	  "host key (exit 5), or a store that fails verification (exit 6), leaves\n"
	  "nothing behind, no kept key either. A join cut off (killed, Ctrl-C)\n"
	  "is finished by the same 'dsync join' again, or by 'dsync sync' in DIR; the\n"
	  "files that were there are never lost. The passphrase is the first line of\n"
	  "FILE, or of $DSYNC_PASSPHRASE, or typed; empty or unreadable: exit 5.\n"
	  "A relay's group (made by 'dsync init --relay'): --group GROUP, required for\n"
	  "an http:// or https:// URL (exit 2 without it); the group's passphrase opens\n"
	  "its store too; a wrong one, or no such group, is exit 5 (the relay can't\n"
	  "tell which). --ca-file as for 'dsync remote add'.\n" },
	{ "passphrase", cmd_passphrase, true, "change a remote store's passphrase",
	  "usage: dsync passphrase [REMOTE] [--passphrase-file FILE]\n"
	  "                        [--new-passphrase-file FILE]\n\n"
	  "Asks for the current passphrase and a new one (twice), and seals the\n"
	  "store's key with the new one; nothing else in the store changes. A device\n"
	  "joining then needs the new one. The key itself stays the same: devices that\n"
	  "joined keep working with the key they hold, and a copy of the old key blob\n"
	  "(an old copy of the store) still opens with the old passphrase; to shut it\n"
	  "out for good, move to a new store (docs/sync.md). For scripts:\n"
	  "$DSYNC_PASSPHRASE and $DSYNC_NEW_PASSPHRASE (first line only).\n\n"
	  "A relay group: the group's token comes from the passphrase too. The current\n"
	  "one is checked against the token this device keeps (a wrong one: exit 5,\n"
	  "nothing changes), the new one must be strong enough (as for 'dsync init\n"
	  "--relay', a generated one is offered on a terminal; a weak one typed or from\n"
	  "$DSYNC_NEW_PASSPHRASE: exit 2); then the key is sealed with it, the relay's token\n"
	  "is replaced and the new one kept here. Every other device of the group is\n"
	  "then refused (exit 5) until it is given the new passphrase with 'dsync remote\n"
	  "passphrase NAME'; a device joining needs the new one (docs/relays.md).\n" },
	{ "check", cmd_check, true, "verify the history and the remote stores",
	  "usage: dsync check [--read-data] [REMOTE] [--quiet] [--limit-rate RATE] [--json]\n\n"
	  "Checks the folder's history as 'git fsck --full' does: every version\n"
	  "reachable from any ref, and every folder, file and chunk in each, read once\n"
	  "with its hash checked, and each pack's index. What is missing or damaged is\n"
	  "listed, one line each (exit status 6). Then REMOTE's store (default: every\n"
	  "remote; with none, it says only the local history was checked): its key\n"
	  "blobs and header verify, every device's manifest decrypts, every pack it\n"
	  "names is there at its size. --read-data also downloads, decrypts and\n"
	  "indexes every pack. Exit status 6 names the first damaged blob; a pack that\n"
	  "can't be read is not called missing. A store holding several key blobs is\n"
	  "explained: an old one still opens it with its old passphrase. --limit-rate\n"
	  "RATE caps the downloads (KiB/s unless a unit is given: 500k, 2M, 20mbit).\n"
	  "--json: one object {\"ok\",\"remote\",\"error\",\"history\":{\"walked\",\"versions\",\n"
	  "\"objects\",\"problems_total\",\"problems\"},\"stores\":{\"checked\",\"keys\",\"manifests\",\n"
	  "\"packs\",\"read_data\",\"packs_read\",\"bytes_read\",\"packs_unnamed\",\"bytes_unnamed\"}},\n"
	  "no progress; the exit status as without it. See JSON OUTPUT in dsync(1).\n" },
	{ "gc", cmd_gc, true, "compact the history's store",
	  "usage: dsync gc [--quiet]\n\n"
	  "Packs the loose objects and the smaller packs into one pack with deltas\n"
	  "(media, bytes that don't compress, into one of their own, as they are),\n"
	  "then removes the loose copies and packs it merged (each checked in a pack\n"
	  "first). Hundreds of one-line saves of a large text file then take little\n"
	  "more room than the file itself. A big pack stays as it is until what was\n"
	  "added after it reaches half its size, so gc takes time and room for what\n"
	  "is new, not for the whole history.\n" },
	{ "watch", cmd_watch, false, "record every save as it happens",
	  "usage: dsync watch [DIR...] [--delay SECONDS] [--max-delay SECONDS]\n"
	  "                   [--rescan-interval SECONDS] [--quiet | --verbose]\n\n"
	  "Watches the folders DIR (default: the current one) and records each change\n"
	  "as a snapshot once the folder has been quiet for the delay (default 1 s;\n"
	  "watch.delay in .dsync/config) and no file is still being written, and at\n"
	  "the latest after the maximum delay (default 30 s; watch.maxDelay) while\n"
	  "writes go on; files still being written then keep their previous version.\n"
	  "When most files vanish at once (an unmounted drive) or the folder itself\n"
	  "goes, it pauses until they return or 'dsync snapshot --allow-mass-delete';\n"
	  "when changed ignore rules would drop most files, until .dsyncignore no\n"
	  "longer does. 'dsync pause' pauses a folder's snapshots and syncs until\n"
	  "'dsync resume'.\n"
	  "When inotify watches run out, it rescans every --rescan-interval seconds\n"
	  "(default 60). Logs go to stderr; SIGTERM or Ctrl-C records what is pending\n"
	  "and stops; SIGHUP reloads the configuration and ignore rules.\n"
	  "A desktop notification tells, once each, of conflicts made, a pause and a\n"
	  "remote failing 3 rounds in a row, a relay past 90% of its quota\n"
	  "(DSYNC_NOTIFY=0 or watch.notify false: none).\n" },
	{ "daemon", cmd_daemon, false, "watch every registered folder",
	  "usage: dsync daemon [--delay SECONDS] [--max-delay SECONDS]\n"
	  "                    [--rescan-interval SECONDS] [--quiet | --verbose]\n\n"
	  "As 'dsync watch', for every folder registered by 'dsync init'\n"
	  "(~/.config/dsync/folders), picking up folders registered while it runs.\n"
	  "A registered folder that is missing (an unmounted drive) is watched for\n"
	  "until it returns. Run it as a systemd user service: see contrib/.\n" },
	{ "pause", cmd_pause, false, "pause a folder's automatic snapshots and syncs",
	  "usage: dsync pause [PATH | --all] [--why TEXT]\n\n"
	  "Pauses the watcher's work on the folder that holds PATH (default: the\n"
	  "current folder; --all: every registered folder): 'dsync watch' and 'dsync\n"
	  "daemon' take no snapshot and run no sync or mirror round of it until\n"
	  "'dsync resume', also across their restarts. Saves meanwhile are recorded\n"
	  "after the resume. dsync snapshot, dsync sync and the other commands still\n"
	  "work when run by hand. --why TEXT: the reason 'dsync status --all' shows\n"
	  "(one line, at most 300 bytes; default \"paused by the user\"). Paused\n"
	  "already: the reason is replaced. No desktop notification: it is your doing.\n" },
	{ "resume", cmd_resume, false, "resume a folder paused with dsync pause",
	  "usage: dsync resume [PATH | --all]\n\n"
	  "Ends the pause of 'dsync pause' on the folder that holds PATH (default:\n"
	  "the current folder; --all: every registered folder): a watcher records\n"
	  "what changed meanwhile and syncs within about a second. A pause the\n"
	  "watcher made itself (most files vanished at once, ignore rules that would\n"
	  "drop most files) stays, and is shown: it ends when the files return or\n"
	  "with 'dsync snapshot --allow-mass-delete', never with resume.\n" },
	{ "relay", cmd_relay, false, "run a relay for devices behind NAT",
	  "usage: dsync relay --listen ADDR:PORT (--data DIR | --s3 URL [--s3-spool DIR])\n"
	  "                   [--quota SIZE]\n"
	  "                   [--tls-cert FILE --tls-key FILE] [--max-blob SIZE]\n"
	  "                   [--max-groups N] [--threads N] [--trust-proxy]\n\n"
	  "Runs a relay: an HTTP server that keeps the encrypted stores of groups of\n"
	  "devices and tells them the moment one of them pushed, so devices that can't\n"
	  "reach each other stay in step ('dsync init --relay URL --group NAME' and\n"
	  "'dsync join' use it). It sees ciphertext only: no file name, content or key.\n"
	  "DIR is its whole state (made when missing); --listen 127.0.0.1:0 picks a free\n"
	  "port, [ADDR]:PORT listens on IPv6. Prints 'listening on ADDR:PORT' once it\n"
	  "accepts, and one line on stderr per refused request or event.\n\n"
	  "  --s3 URL             keep everything in a bucket instead of DIR\n"
	  "                       (s3://HOST[:PORT]/BUCKET/PREFIX, or s3+http:// on a\n"
	  "                       trusted network; credentials as for s3:// remotes):\n"
	  "                       several relays may serve one bucket behind a load\n"
	  "                       balancer (docs/relay-protocol.md section 14)\n"
	  "  --s3-spool DIR       uploads in progress with --s3 (default $TMPDIR or /tmp)\n"
	  "  --quota SIZE         space of each new group (e.g. 2G; default: none)\n"
	  "  --tls-cert, --tls-key  PEM files: serve https:// (clients trust the\n"
	  "                       certificate with 'dsync remote set NAME caFile F')\n"
	  "  --max-blob SIZE      the largest blob taken (default 256M)\n"
	  "  --max-groups N       groups the relay holds (default 1000)\n"
	  "  --threads N          threads answering requests (default: one per core)\n"
	  "  --trust-proxy        the client's address from X-Forwarded-For (behind a\n"
	  "                       reverse proxy), for the slow-down of repeated failures\n\n"
	  "Sizes: K, M, G, T are binary; a bare number is bytes. SIGTERM or Ctrl-C\n"
	  "stops it cleanly: waiting devices are answered and uploads get 10 s to end.\n"
	  "A systemd unit is in contrib/dsync-relay.service.\n" },
	{ "ui", cmd_ui, false, "open the local dashboard in a browser",
	  "usage: dsync ui [PATH] [--no-open] [--new] [--port N] [--idle-exit MINUTES] [--detach]\n\n"
	  "Serves a dashboard on 127.0.0.1 (a random port unless --port N): every\n"
	  "registered folder with its last snapshot, devices, remotes and conflicts;\n"
	  "a folder's snapshots; a file's versions to download, compare (text diffs)\n"
	  "or restore (after a preview); conflicts side by side, kept with a button.\n"
	  "Prints the URL, which holds a one-time token, and opens it with xdg-open\n"
	  "when there is a display (not with --no-open). The first visit swaps the\n"
	  "token for a cookie; the link does not work twice. A restore is the same as\n"
	  "'dsync restore': what it replaces is snapshotted first. Runs until Ctrl-C\n"
	  "or SIGTERM.\n\n"
	  "With PATH (a file or folder in a registered dsync folder; a deleted file's\n"
	  "path too), the URL opens that file's versions, or the timeline of the\n"
	  "folder (the whole dsync folder's, for a subfolder).\n\n"
	  "One dashboard per user: when one runs already, 'dsync ui' asks it for a\n"
	  "new one-time URL (through a socket in $XDG_RUNTIME_DIR/dsync), prints and\n"
	  "opens it, and exits. --new, or --port N, starts another server anyway.\n"
	  "--idle-exit MINUTES: a server stops after that long without a request.\n"
	  "--detach: a server started goes on in the background; this prints its URL\n"
	  "and pid and exits (what the file-manager actions use). See docs/ui.md.\n" },
	{ "help", cmd_help, false, "show help for dsync or a command",
	  "usage: dsync help [COMMAND]\n" },
	{ "version", cmd_version, false, "print dsync's version", "usage: dsync version\n" },
};

static const command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_overview(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: dsync COMMAND [ARGS]\n\n"
		    "dsync keeps the history of a folder: every snapshot is a version you can\n"
		    "browse and restore; remotes keep it, encrypted, in step with your other\n"
		    "devices.\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(fp, "\n'dsync help COMMAND' or 'dsync COMMAND --help' for more.\n"
		    "exit status: 0 done, 1 failed, 2 usage error, 3 conflicts wait,\n"
		    "4 folder locked by another dsync, 5 authentication failed (a passphrase,\n"
		    "or an ssh login or host key refused), 6 remote data failed verification;\n"
		    "a host that can't be reached is 1.\n");
}

static int cmd_help(int argc, char **argv)
{
	static const struct option opts[] = { CMD_HELP_OPTION, { 0 } };
	const command *c;
	int rc;

	while (cmd_getopt(&rc, "help", argc, argv, "h", opts) != -1)
		;
	if (rc >= 0 || (rc = cmd_args("help", argc, argv, 0, 1, NULL)) >= 0)
		return rc;
	if (optind == argc) {
		print_overview(stdout);
		return 0;
	}
	if ((c = find_command(argv[optind])) == NULL) {
		char q[DSYNC_QUOTE_SIZE];

		out_error("unknown command '%s'; see 'dsync help'", dsync_quote(q, argv[optind]));
		return 2;
	}
	printf("%s", c->usage);
	return 0;
}

int main(int argc, char **argv)
{
	const command *c;
	int error, rc;

	cmd_options_init(cmd_print_usage);
	if (argc < 2) {
		print_overview(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		print_overview(stdout);
		return 0;
	}
	opterr = 0;
	optind = 1;
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	if ((c = find_command(argv[1])) == NULL) {
		char q[DSYNC_QUOTE_SIZE];

		out_error("unknown command '%s'; see 'dsync help'", dsync_quote(q, argv[1]));
		return 2;
	}
	if ((error = dsync_lib_init()) < 0)
		return out_fail(error);
	rc = c->fn(argc - 1, argv + 1);
	dsync_lib_shutdown();
	if (fflush(stdout) != 0 && rc == 0) {
		out_error("cannot write the output");
		rc = 1;
	}
	return rc;
}
