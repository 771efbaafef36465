#!/bin/bash
# A big first push to an s3+http:// remote on a real S3 server (issue 18,
# acceptance 2): Ceph's RADOS Gateway on bluestore (s3lib.sh), 200 MB of
# incompressible files in folders (T70_MB sets the size).
#
# Part 1: the whole push in one go. Its packs (32 MiB) go up as multipart
# uploads (the RGW's log has the `?uploads=` and `partNumber=` requests, and
# each pack over one part has a multipart ETag, "MD5-N"), none is left open,
# and dsync's peak RSS (GNU time) stays under 64 MB.
#
# Part 2: the same folder to another prefix, through tests/tools/delayproxy.py
# (25 MB/s, counting bytes), killed (kill -9, by pid) once half the packs are
# in the bucket and the next one's multipart upload is open. No manifest is
# there then. The push run again reuses every pack that was there: the RGW
# logged no PUT or POST of their keys, their ETags are unchanged, it says it
# reused them, and it sent (by the proxy's count) at most one pack's worth
# more than the packs that were missing. `check --read-data` passes, and a
# new device joins and gets every file bit for bit.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/s3lib.sh"
. "$(dirname "$0")/synclib.sh"
export DSYNC_TEST_KDF=min DSYNC_PASSPHRASE="s3 resume pass"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
unset DSYNC_TEST_SLOW DSYNC_TEST_PACK_MAX DSYNC_TEST_S3_PART DSYNC_TEST_S3_STALL DSYNC_NEW_PASSPHRASE

MB=${T70_MB:-200}
MIB=$((1024 * 1024))
PART=$((16 * MIB))
PACK_MAX=$((32 * MIB))
# one pack's worth: 32 MiB of objects, encrypted and padded (padmé: < 12%)
ONE_PACK=$((PACK_MAX * 113 / 100))
PROXY="$DSYNC_SRC/tests/tools/delayproxy.py"
# the bound: 64 MB (as t17: under AddressSanitizer a small quarantine and
# twice the bound, for the sanitizer's own memory)
LIMIT=65536
if ldd "$DSYNC" 2> /dev/null | grep libasan > /dev/null; then
	export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=4"
	LIMIT=131072
fi
# peak WHO ARGS...: dsync ARGS in WHO's folder under GNU time: peak RSS (KiB)
# in $TMP/rss, output in $TMP/out and $TMP/err
peak() {
	local who=$1; shift
	(cd "$TMP/$who" && HOME="$TMP/home-$who" exec /usr/bin/time -f %M -o "$TMP/rss" "$DSYNC" "$@" \
		< /dev/null > "$TMP/out" 2> "$TMP/err")
}

LOCAL_S3_STORE=bluestore s3_start
echo "# $S3_BACKEND at $S3_ENDPOINT"

# ---- the folder: MB of random files of 1 to 8 MB in 8 folders, and notes
mkdir -p "$TMP/A"
left=$((MB * 1000000)) i=0
while [ "$left" -gt 0 ]; do
	i=$((i + 1))
	size=$(( (RANDOM % 7000 + 1000) * 1000 ))
	[ "$size" -le "$left" ] || size=$left
	mkdir -p "$TMP/A/folder-$((i % 8))"
	head -c "$size" /dev/urandom > "$TMP/A/folder-$((i % 8))/photo-$i.jpg"
	left=$((left - size))
done
for d in "$TMP"/A/folder-*; do printf 'notes on %s\n' "$(seq 1 500)" > "$d/notes.txt"; done
echo "# $i random files, $(($(du -sb --apparent-size "$TMP/A" | cut -f1) / 1000000)) MB"
ok "A: init" as A init "$TMP/A" --device-name alpha
WHOLE=$(s3_url t70 whole)
ok "A: remote add $WHOLE (makes the bucket)" on A remote add whole "$WHOLE"

# ---------------------------------------------------------------- part 1
off=$(s3_log_size)
ok "A: the first push, in one go" peak A push whole
rss=$(cat "$TMP/rss")
check "its peak RSS is under $((LIMIT / 1024)) MB ($rss KiB)" "$rss" -lt "$LIMIT"
s3_list t70 whole/packs/ > "$TMP/whole.packs"
npacks=$(wc -l < "$TMP/whole.packs")
big=$(awk -v p="$PART" '$2 > p' "$TMP/whole.packs" | wc -l)
bytes=$(awk '{ s += $2 } END { print s + 0 }' "$TMP/whole.packs")
echo "# $npacks packs, $((bytes / MIB)) MiB; $big over one part ($((PART / MIB)) MiB)"
check "the bucket holds the packs (at least $((MB * 1000000 / PACK_MAX)))" "$npacks" -ge $((MB * 1000000 / PACK_MAX))
check "the packs are bounded (none over 32 MiB + padding)" \
	"$(awk -v m="$ONE_PACK" '$2 > m' "$TMP/whole.packs" | wc -l)" = 0
sleep 1   # (the RGW's log thread writes the last lines a moment after the reply)
s3_requests "$off" > "$TMP/whole.requests"
inits=$(grep -c '^POST /t70/whole/packs/[^ ]*[?&]uploads' "$TMP/whole.requests")
parts=$(grep -c '^PUT /t70/whole/packs/[^ ]*[?&]partNumber=' "$TMP/whole.requests")
dones=$(grep -E -c '^POST /t70/whole/packs/[^ ]*[?&]uploadId=[^ ]* 200( |$)' "$TMP/whole.requests")
echo "# the RGW logged $(wc -l < "$TMP/whole.requests") requests: $inits multipart uploads begun, $parts parts, $dones completed"
check "every pack over one part went up as a multipart upload ($inits begun, $dones completed, $big such packs)" \
	"$big" -ge 1 -a "$inits" -ge "$big" -a "$dones" -ge "$big"
check "... of two parts or more each ($parts parts)" "$parts" -ge $((2 * big))
check "... and the bucket says so: a multipart ETag (MD5-N) on each" \
	"$(awk -v p="$PART" '$2 > p && $3 !~ /^[0-9a-f]+-[0-9]+$/' "$TMP/whole.packs" | wc -l)" = 0
s3_uploads t70 whole/ > "$TMP/whole.open"
check "no multipart upload is left open ($(wc -l < "$TMP/whole.open"))" ! -s "$TMP/whole.open"
check "the manifest is there" -n "$(s3_keys t70 whole/devices/)"

# ---------------------------------------------------------------- part 2
rm -f "$TMP/proxy.port"
python3 "$PROXY" --target "$S3_PORT" --port-file "$TMP/proxy.port" --rate 25000000 \
	--stats "$TMP/proxy.stats" &
PROXY_PID=$!
STARTED_PIDS+=("$PROXY_PID")
for _ in $(seq 50); do [ -s "$TMP/proxy.port" ] && break; sleep 0.1; done
check "a proxy of 25 MB/s that counts bytes, in front of the RGW" -s "$TMP/proxy.port"
# proxy_up: the bytes the proxy has passed up so far
proxy_up() {
	rm -f "$TMP/proxy.stats"
	kill -USR1 "$PROXY_PID"
	for _ in $(seq 50); do [ -s "$TMP/proxy.stats" ] && break; sleep 0.1; done
	awk '$1 == "bytes_up" { print $2 }' "$TMP/proxy.stats"
}
RESUMED="s3+http://127.0.0.1:$(cat "$TMP/proxy.port")/t70/resumed"
ok "A: remote add $RESUMED" on A remote add resumed "$RESUMED"

HALF=$(( (npacks + 1) / 2 ))
packs_now() { s3_list t70 resumed/packs/ | wc -l; }
# half the packs in, and the next one's multipart upload open
half_there() { [ "$(packs_now)" -ge "$HALF" ] && [ -n "$(s3_uploads t70 resumed/packs/)" ]; }
up0=$(proxy_up)
(cd "$TMP/A" && HOME="$TMP/home-A" exec "$DSYNC" push resumed) < /dev/null > "$TMP/out.killed" 2>&1 &
pid=$!
STARTED_PIDS+=("$pid")
killed=0
for _ in $(seq 1500); do
	if half_there; then
		kill -9 "$pid"
		killed=1
		break
	fi
	kill -0 "$pid" 2> /dev/null || break
	sleep 0.1
done
wait "$pid" 2> /dev/null
check "the push was killed (-9) with $HALF packs in the bucket and the next one going up" "$killed" = 1
[ "$killed" = 1 ] || sed 's/^/#   /' "$TMP/out.killed" | tail -5
up1=$(proxy_up)
s3_list t70 resumed/packs/ | LC_ALL=C sort > "$TMP/packs.before"
PRESENT=$(wc -l < "$TMP/packs.before")
PRESENT_BYTES=$(awk '{ s += $2 } END { print s + 0 }' "$TMP/packs.before")
s3_uploads t70 resumed/ > "$TMP/open.before"
echo "# killed with $PRESENT packs ($((PRESENT_BYTES / MIB)) MiB) in the bucket, $(wc -l < "$TMP/open.before") upload(s) open; $(( (up1 - up0) / MIB )) MiB went up"
check "no manifest was written" -z "$(s3_keys t70 resumed/devices/)"

off=$(s3_log_size)
rc=0
peak A push resumed || rc=$?
check "the push run again succeeds ($rc)" "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/#   /' "$TMP/out" "$TMP/err" | head -10
rss=$(cat "$TMP/rss")
check "its peak RSS is under $((LIMIT / 1024)) MB ($rss KiB)" "$rss" -lt "$LIMIT"
up2=$(proxy_up)
SENT=$((up2 - up1))
REUSED=$(sed -n 's/^reused \([0-9]*\) pack.*/\1/p' "$TMP/out")
check "it says it reused the $PRESENT packs there (${REUSED:-none})" "${REUSED:-0}" = "$PRESENT"
s3_list t70 resumed/packs/ | LC_ALL=C sort > "$TMP/packs.after"
TOTAL_BYTES=$(awk '{ s += $2 } END { print s + 0 }' "$TMP/packs.after")
NEW_BYTES=$((TOTAL_BYTES - PRESENT_BYTES))
echo "# the re-run: $((SENT / MIB)) MiB up at the proxy; $(wc -l < "$TMP/packs.after") packs now ($((TOTAL_BYTES / MIB)) MiB), $((NEW_BYTES / MIB)) MiB of them new"
check "every pack that was there is still there, unchanged (key, size, ETag)" \
	-z "$(LC_ALL=C comm -23 "$TMP/packs.before" "$TMP/packs.after")"
sleep 1
s3_requests "$off" > "$TMP/resumed.requests"
resent=0
while read -r key _; do
	grep -E "^(PUT|POST) /t70/$key([? ])" "$TMP/resumed.requests" > /dev/null && resent=$((resent + 1))
done < "$TMP/packs.before"
check "the RGW logged no PUT or POST of those packs since ($resent)" "$resent" = 0
check "the RGW logged this push's requests ($(wc -l < "$TMP/resumed.requests"))" -s "$TMP/resumed.requests"
check "the re-run sent at most one pack's worth more than the missing packs ($SENT <= $NEW_BYTES + $ONE_PACK)" \
	"$SENT" -le $((NEW_BYTES + ONE_PACK))
check "... and less than the whole push ($SENT < $TOTAL_BYTES)" "$SENT" -lt "$TOTAL_BYTES"
s3_uploads t70 resumed/ > "$TMP/open.after"
if [ -s "$TMP/open.after" ]; then
	echo "# note: $(wc -l < "$TMP/open.after") multipart upload(s) the kill left are still open (a put aborts them once over an hour old)"
fi
ok "A: check --read-data on the resumed remote" on A check --read-data resumed
ok "C: joins from the resumed prefix" as C join "$(s3_url t70 resumed)" "$TMP/C" --device-name gamma
check "C has every file, bit for bit" "$(files_digest "$TMP/C")" = "$(files_digest "$TMP/A")"
check "C has every version" "$(commit_count "$TMP/C")" = "$(commit_count "$TMP/A")"
kill "$PROXY_PID" 2> /dev/null
finish
