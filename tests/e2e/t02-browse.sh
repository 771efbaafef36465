#!/bin/bash
# Browsing history: log (with --since/--until/--json and a path), versions
# (across a rename, of a deleted file), show REV and REV:PATH, diff, status;
# REV and WHEN forms: ids, short ids, HEAD~N, @EPOCH, ISO times, human forms.
. "$(dirname "$0")/lib.sh"

F=$TMP/notes
mkdir -p "$F/dir"
cd "$F"
printf 'one\ntwo\nthree\n' > draft.md
echo keep > dir/keep.txt
ok "init" dsync init --device-name desk
S1=$(head_id "$F")
sleep 1.1; T1=$(date +%s); sleep 1.1

printf 'one\nTWO\nthree\n' > draft.md
ok "snapshot 2" dsync snapshot -m "edit draft"
S2=$(head_id "$F")
sleep 1.1; T2=$(date +%s); sleep 1.1

mv draft.md final.md
ok "snapshot 3 (rename)" dsync snapshot
S3=$(head_id "$F")
printf 'one\nTWO\nthree\nfour\n' > final.md
rm dir/keep.txt
ok "snapshot 4" dsync snapshot -m "finish"
S4=$(head_id "$F")

# log
ok "log" dsync log
check "log lists 4 snapshots" "$(grep -c '^[0-9a-f]\{8\}  ' "$TMP/out")" = 4
contains "log: newest first" <(head -1 "$TMP/out") "finish"
ok "log PATH" dsync log dir/keep.txt
check "log PATH: only snapshots that touched it" "$(grep -c '^[0-9a-f]\{8\}  ' "$TMP/out")" = 2
ok "log --since" dsync log --since "@$T2"
check "log --since: 2 newest" "$(grep -c '^[0-9a-f]\{8\}  ' "$TMP/out")" = 2
ok "log --until" dsync log --until "@$T1"
check "log --until: the first only" "$(grep -c '^[0-9a-f]\{8\}  ' "$TMP/out")" = 1
ok "log --since '1 hour ago'" dsync log --since "1 hour ago"
check "all within the hour" "$(grep -c '^[0-9a-f]\{8\}  ' "$TMP/out")" = 4
ok "log --until yesterday" dsync log --until yesterday
check "none before yesterday" "$(grep -c '^[0-9a-f]\{8\}  ' "$TMP/out")" = 0
fails 2 "log --since garbage is a usage error" dsync log --since "someday maybe"
contains "bad time: clear message" "$TMP/err" "dsync: error: --since: cannot read time 'someday maybe'"
ok "log --json" dsync log --json
cp "$TMP/out" "$TMP/log.json"
ok "log --json parses" python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))["snapshots"]
assert len(d)==4, d
assert d[0]["message"]=="finish" and d[0]["device"]=="desk", d[0]
assert {"status":"D","path":"dir/keep.txt"} in d[0]["files"], d[0]["files"]
assert d[1]["files"]==[{"status":"R","path":"final.md","from":"draft.md"}], d[1]["files"]
assert len(d[0]["device_id"])==32
' "$TMP/log.json"

# versions: across the rename; of a deleted file
ok "versions follows a rename" dsync versions final.md
check "versions: 4 entries" "$(wc -l < "$TMP/out")" = 4
contains "versions: renamed from" "$TMP/out" "renamed from draft.md"
contains "versions: the first version" "$TMP/out" "${S1:0:8}"
ok "versions of a deleted file" dsync versions dir/keep.txt
contains "versions: deletion listed" "$TMP/out" "deleted"
ok "versions --json" dsync versions --json final.md
cp "$TMP/out" "$TMP/versions.json"
ok "versions --json parses" python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))["versions"]
assert [v["change"] for v in d]==["modified","renamed","modified","added"], d
assert d[-1]["path"]=="draft.md" and d[-1]["size"]==14, d[-1]
' "$TMP/versions.json"
fails 1 "versions of a path never in history" dsync versions nope.md
contains "never in history: message" "$TMP/err" "'nope.md' was never in the history"

# show: REV forms
ok "show REV:PATH (full id)" dsync show "$S1:draft.md"
check "show gives old bytes" "$(cat "$TMP/out")" = "$(printf 'one\ntwo\nthree')"
ok "show short id" dsync show "${S2:0:7}:draft.md"
contains "short id" "$TMP/out" "TWO"
ok "show HEAD~3" dsync show "HEAD~3:draft.md"
check "HEAD~3 is the first" "$(cat "$TMP/out")" = "$(printf 'one\ntwo\nthree')"
ok "show @EPOCH" dsync show "@$T1:draft.md"
check "@T1 is the first" "$(cat "$TMP/out")" = "$(printf 'one\ntwo\nthree')"
ISO=$(date -u -d "@$T2" '+%Y-%m-%d %H:%M:%S')
ok "show ISO time with ':' in it" dsync show "$ISO:draft.md"
contains "ISO time resolves" "$TMP/out" "TWO"
echo colon > "c:d.txt"
ok "snapshot a name with ':'" dsync snapshot
ok "show REV:PATH where PATH holds ':'" dsync show "HEAD:c:d.txt"
check "colon path" "$(cat "$TMP/out")" = colon
ok "show TIME-with-seconds:PATH" dsync show "$(date -u -d "@$(date +%s)" '+%Y-%m-%d %H:%M:%S'):c:d.txt"
check "time with seconds and a colon path" "$(cat "$TMP/out")" = colon
rm "c:d.txt"
ok "snapshot without it" dsync snapshot
S4=$(head_id "$F")
ok "show a folder listing" dsync show "$S1:dir"
contains "listing names the file" "$TMP/out" "keep.txt"
ok "show REV alone" dsync show "$S2"
contains "show: message" "$TMP/out" "edit draft"
contains "show: file" "$TMP/out" "M draft.md"
fails 1 "show unknown revision" dsync show "deadbeefdead:draft.md"
contains "unknown revision: clear" "$TMP/err" "no snapshot has the id 'deadbeefdead'"
fails 1 "show a path not in that version" dsync show "$S4:draft.md"
contains "not in version: clear" "$TMP/err" "'draft.md' is not in the version"
(cd dir && dsync show "$S1:keep.txt") > "$TMP/out" 2>&1
check "show PATH is relative to the current folder" "$(cat "$TMP/out")" = keep

# diff
echo "five" >> final.md
ok "diff (last snapshot vs working files)" dsync diff
contains "diff: added line" "$TMP/out" "+five"
ok "diff REV REV" dsync diff "$S1" "$S2"
contains "diff REV REV: removed" "$TMP/out" "-two"
contains "diff REV REV: added" "$TMP/out" "+TWO"
ok "diff REV (vs working files)" dsync diff "$S1" -- final.md
contains "diff REV: new file" "$TMP/out" "+five"
ok "diff limited to a path" dsync diff "$S3" "$S4" -- dir
contains "diff path: deleted file" "$TMP/out" "-keep"
check "diff path: other files left out" -z "$(grep final.md "$TMP/out")"

# status
ok "status" dsync status
check "status: one modified" "$(cat "$TMP/out")" = "M final.md"
ok "status --json" dsync status --json
check "status json" "$(cat "$TMP/out")" = '{"changes":[{"status":"M","path":"final.md"}],"relays":[],"mirrors":[]}'

# restore --at with a time
ok "restore --at @T1 --to" dsync restore draft.md --at "@$T1" --to "$TMP/old.md"
check "restore by time" "$(cat "$TMP/old.md")" = "$(printf 'one\ntwo\nthree')"

# versions across a rename with an edit (similar content)
seq 1 200 > long.txt
ok "snapshot a long file" dsync snapshot
mv long.txt moved.txt; echo 201 >> moved.txt
ok "snapshot a rename with an edit" dsync snapshot
ok "versions follows a rename with an edit" dsync versions moved.txt
contains "rename with edit: followed" "$TMP/out" "renamed from long.txt"
check "rename with edit: both versions" "$(wc -l < "$TMP/out")" = 2

# help and usage
ok "help" dsync help
contains "help lists restore" "$TMP/out" "restore"
ok "help COMMAND" dsync help versions
contains "help versions" "$TMP/out" "usage: dsync versions PATH"
ok "COMMAND --help" dsync log --help
fails 2 "unknown command" dsync frobnicate
contains "unknown command: message" "$TMP/err" "dsync: error: unknown command 'frobnicate'"
fails 2 "unknown option" dsync log --bogus
contains "unknown option: message" "$TMP/err" "unknown option '--bogus'"
cd "$TMP"
fails 1 "outside a folder" dsync log
contains "outside a folder: message" "$TMP/err" "is not in a dsync folder"
finish
