#!/usr/bin/env bash
# local-s3.sh (a copy of ../shared/s3/start-local-s3.sh): a throwaway, REAL S3 server on 127.0.0.1 for tests.
#
# Backend: Ceph radosgw from Debian 12 (Ceph 16.2.x "pacific"): one mon, one
# OSD (memstore = objects in RAM, or bluestore on a sparse file), one radosgw
# (beast frontend), no mgr, no cephx; everything binds to 127.0.0.1 and lives
# in one temp dir, with a private ceph.conf (-c): /etc/ceph, /var/lib/ceph and
# /var/log/ceph are not used.
#
#   start-local-s3.sh install      apt-get install the packages (needs root)
#   start-local-s3.sh [start]      start; on success prints on stdout:
#                                    S3_ENDPOINT=http://127.0.0.1:PORT
#                                    S3_REGION=us-east-1
#                                    S3_ACCESS_KEY=...   S3_SECRET_KEY=...
#                                    S3_DIR=/tmp/local-s3.XXXXXX
#                                    S3_BACKEND=ceph-radosgw-16.2.15-memstore
#                                  (the same lines are in $S3_DIR/env)
#   start-local-s3.sh stop [DIR]   stop every process that start made, by pid
#                                  (SIGTERM, SIGKILL after 10 s), then delete
#                                  DIR (default: $S3_DIR)
#
# Typical use in a test run:
#   out=$(tests/tools/local-s3.sh) || exit 1
#   set -a; eval "$out"; set +a        # exports S3_*
#   ... tests use $S3_ENDPOINT $S3_ACCESS_KEY $S3_SECRET_KEY ...
#   tests/tools/local-s3.sh stop "$S3_DIR"
#
# Knobs (environment, all optional; named LOCAL_S3_* so that exported S3_*
# output of one run does not feed the next):
#   LOCAL_S3_BASE_DIR    parent of the temp dir     (default ${TMPDIR:-/tmp})
#   LOCAL_S3_PORT        radosgw port               (default: a free port)
#   LOCAL_S3_ACCESS_KEY  access key to create       (default: random)
#   LOCAL_S3_SECRET_KEY  secret key to create       (default: random)
#   LOCAL_S3_REGION      zonegroup api_name, i.e. the LocationConstraint that
#                        CreateBucket accepts       (default us-east-1)
#   LOCAL_S3_STORE       memstore | bluestore       (default memstore)
#                        memstore: fastest start, works on tmpfs, but RAM
#                        grows with the data stored; bluestore: +3 s start,
#                        bounded RAM, needs a dir that allows O_DIRECT (not
#                        tmpfs)
#   LOCAL_S3_STORE_SIZE  bytes: memstore capacity / bluestore sparse file
#                        size                       (default 8 GiB)
#   LOCAL_S3_START_TIMEOUT seconds per readiness wait (default 120)
#   LOCAL_S3_KEEP_DIR=1  `stop` keeps the temp dir (logs, data)
#   LOCAL_S3_WATCH_PID   a pid (e.g. the test runner's $$): a watchdog runs
#                        `stop` within ~1 s of that process exiting, so a
#                        crashed run leaves no daemons behind
#
# Progress and errors go to stderr; stdout carries only the KEY=VALUE lines.
# Exit status: 0 ok; 1 start failed (what had started is stopped, the dir is
# kept and its log tails are printed on stderr); 2 packages missing.

set -euo pipefail

PROG=start-local-s3
SELF=$(readlink -f "$0")
MARK=.start-local-s3          # marker file: `stop` deletes only dirs that have it
log() { printf '[%s] %s\n' "$PROG" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

PKGS="radosgw ceph-mon ceph-osd ceph-common"
BINS="ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph-authtool uuidgen python3 curl"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }

free_ports() { # N -> N distinct free TCP ports on 127.0.0.1
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

rand_str() { # LEN ALPHABET
  local s
  s=$(LC_ALL=C tr -dc "$2" </dev/urandom | head -c "$1") || true
  printf '%s' "$s"
}

do_install() {
  [ "$(id -u)" = 0 ] || die "install needs root"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  # --no-install-recommends: ceph-mgr (and its python stack) is not needed for S3.
  # shellcheck disable=SC2086
  apt-get install -y --no-install-recommends $PKGS >&2
}

check_bins() {
  local b missing=""
  for b in $BINS; do command -v "$b" >/dev/null 2>&1 || missing="$missing $b"; done
  if [ -n "$missing" ]; then
    log "missing:$missing"
    log "install with: $0 install   (apt-get install --no-install-recommends $PKGS)"
    exit 2
  fi
}

# ---------------------------------------------------------------- stop
pid_is_ours() { # PID DIR: the process runs with our private ceph.conf
  local cmd
  [ -r "/proc/$1/cmdline" ] || return 1
  cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  case "$cmd" in *"$2/ceph.conf"*) return 0 ;; esac
  return 1
}

stop_one() { # NAME PID DIR
  local name=$1 pid=$2 dir=$3
  if ! pid_is_ours "$pid" "$dir"; then return 0; fi
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do           # 10 s grace
    pid_is_ours "$pid" "$dir" || { log "stopped $name (pid $pid)"; return 0; }
    sleep 0.1
  done
  log "$name (pid $pid) ignored SIGTERM for 10 s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do pid_is_ours "$pid" "$dir" || return 0; sleep 0.1; done
  log "WARNING: $name (pid $pid) still alive"
}

do_stop() {
  local dir=${1:-${S3_DIR:-}} name pid
  [ -n "$dir" ] || die "stop: give the dir (S3_DIR) that start printed"
  dir=$(cd "$dir" 2>/dev/null && pwd) || die "stop: no such dir: ${1:-${S3_DIR:-}}"
  [ -f "$dir/$MARK" ] || die "stop: $dir was not made by $PROG"
  if [ -f "$dir/pids" ]; then
    # newest first: watchdog, radosgw, osd, mon
    while read -r name pid; do
      [ -n "$pid" ] && stop_one "$name" "$pid" "$dir"
    done < <(tac "$dir/pids")
  fi
  if [ "${LOCAL_S3_KEEP_DIR:-0}" = 1 ]; then
    log "kept $dir"
  else
    rm -rf -- "$dir"
    log "removed $dir"
  fi
}

# ---------------------------------------------------------------- start
D=""
started_ok=0
on_exit() {
  local rc=$?
  if [ "$started_ok" != 1 ] && [ -n "$D" ] && [ -f "$D/$MARK" ]; then
    log "start failed (rc=$rc); logs kept in $D/log:"
    local f
    for f in "$D"/log/*.log "$D"/log/*.out; do
      [ -s "$f" ] || continue
      log "---- tail $f"; tail -n 15 "$f" >&2 || true
    done
    LOCAL_S3_KEEP_DIR=1 do_stop "$D" || true
  fi
}

spawn() { # NAME CMD... : run in background, record pid
  local name=$1; shift
  # the daemon gets no fd of the caller's but 0-2, which go to /dev/null and
  # a log: an inherited pipe (bats' fd 3, a $(...) capture) would otherwise
  # stay open as long as the daemon runs, and the caller would hang on it
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec "$@"
  ) </dev/null >>"$D/log/$name.out" 2>&1 &
  echo "$name $!" >>"$D/pids"
  log "started $name (pid $!)"
}

alive() { # NAME
  local pid
  pid=$(awk -v n="$1" '$1==n{print $2}' "$D/pids" | tail -n 1)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

wait_until() { # DESC DAEMON CMD... : poll CMD every 0.2 s; 1 on death/timeout
  local desc=$1 daemon=$2; shift 2
  local t0; t0=$(now)
  while ! "$@" >/dev/null 2>&1; do
    if [ -n "$daemon" ] && ! alive "$daemon"; then
      log "$daemon died while waiting for $desc"; return 1
    fi
    if awk -v a="$t0" -v b="$(now)" -v t="$TIMEOUT" 'BEGIN{exit !(b-a>t)}'; then
      log "timeout (${TIMEOUT}s) waiting for $desc"; return 1
    fi
    sleep 0.2
  done
}

cephc() { timeout 30 ceph -c "$D/ceph.conf" --connect-timeout 10 "$@"; }

osd_up() { cephc osd dump 2>/dev/null | grep -q '^osd\.0 up'; }
rgw_up() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$RGW_PORT/")" = 200 ]; }

do_start() {
  check_bins
  TIMEOUT=${LOCAL_S3_START_TIMEOUT:-120}
  local store=${LOCAL_S3_STORE:-memstore}
  local size=${LOCAL_S3_STORE_SIZE:-$((8 * 1024 * 1024 * 1024))}
  case "$store" in memstore|bluestore) ;; *) die "LOCAL_S3_STORE must be memstore or bluestore" ;; esac

  local T0; T0=$(now)
  local base=${LOCAL_S3_BASE_DIR:-${TMPDIR:-/tmp}}
  D=$(mktemp -d "$base/local-s3.XXXXXX")
  D=$(cd "$D" && pwd)
  : >"$D/$MARK"
  trap on_exit EXIT
  mkdir -p "$D"/{run,log,mon,osd,mgr,rgw,crash,tmp}
  log "dir $D"

  local ports MON_PORT
  if [ -n "${LOCAL_S3_PORT:-}" ]; then
    MON_PORT=$(free_ports 1); RGW_PORT=$LOCAL_S3_PORT
  else
    ports=$(free_ports 2); MON_PORT=${ports% *}; RGW_PORT=${ports#* }
  fi
  local FSID; FSID=$(uuidgen)
  local REGION=${LOCAL_S3_REGION:-us-east-1}
  local AK=${LOCAL_S3_ACCESS_KEY:-$(rand_str 20 'A-Z0-9')}
  local SK=${LOCAL_S3_SECRET_KEY:-$(rand_str 40 'A-Za-z0-9')}

  # '$name' and '$cluster' are expanded by Ceph, not by the shell.
  cat >"$D/ceph.conf" <<EOF
# written by $PROG; private to this dir
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
cluster network = 127.0.0.0/8
ms bind ipv4 = true
ms bind ipv6 = false
ms bind msgr1 = false
ms bind msgr2 = true

# no cephx; daemons' default mon client mode is "secure" only, which needs
# cephx, so allow crc too (else radosgw fails with -13 in AUTH_CONNECTING)
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
ms client mode = crc secure
ms service mode = crc secure
ms cluster mode = crc secure
client mount timeout = 30
mon warn on insecure global id reclaim allowed = false
mon warn on insecure global id reclaim = false

run dir = $D/run
admin socket = $D/run/\$name.asok
pid file = $D/run/\$name.pid
log file = $D/log/\$name.log
keyring = $D/keyring
crash dir = $D/crash
mon data = $D/mon/\$cluster-\$id
mgr data = $D/mgr/\$cluster-\$id
osd data = $D/osd/\$cluster-\$id
rgw data = $D/rgw
rgw luarocks location = $D/tmp/luarocks
mon cluster log file = $D/log/cluster.log
mon debug dump location = $D/log/\$name.tdump
log to syslog = false
err to syslog = false

# one OSD, no replication, small fixed PG counts, no mgr needed
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
# faster osdmap/pool-creation rounds (default 1 s each)
paxos propose interval = 0.05

[osd]
osd objectstore = $store
osd max object size = 134217728
memstore device bytes = $size
bluestore block path = $D/osd/\$cluster-\$id/block.file
bluestore block create = true
bluestore block size = $size
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mkfs = false
osd memory target = 939524096
bluestore cache autotune = false
bluestore cache size = 134217728

[client.rgw.local]
# rgw frontends: given on the command line (beast endpoint=127.0.0.1:PORT)
rgw dns name = localhost
rgw enable usage log = false
rgw thread pool size = 64
rgw gc obj min wait = 60
rgw gc processor period = 60
EOF
  export CEPH_CONF="$D/ceph.conf"

  # --- mon
  local t; t=$(now)
  ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$D/keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" \
    --set-min-mon-release pacific --enable-all-features "$D/run/monmap" >>"$D/log/setup.log" 2>&1
  ceph-mon -c "$D/ceph.conf" --mkfs -i a --monmap "$D/run/monmap" --keyring "$D/keyring" \
    >>"$D/log/setup.log" 2>&1 || die "ceph-mon --mkfs failed"
  spawn mon.a ceph-mon -c "$D/ceph.conf" -i a -f
  wait_until "mon" mon.a cephc mon stat || die "mon did not come up"
  log "mon ready in $(since "$t")s (port $MON_PORT)"

  # --- osd
  t=$(now)
  local OSD_UUID; OSD_UUID=$(uuidgen)
  local id; id=$(cephc osd new "$OSD_UUID") || die "ceph osd new failed"
  [ "$id" = 0 ] || die "unexpected osd id $id"
  mkdir -p "$D/osd/ceph-0"
  ceph-osd -c "$D/ceph.conf" -i 0 --mkfs --osd-uuid "$OSD_UUID" \
    >>"$D/log/setup.log" 2>&1 || die "ceph-osd --mkfs failed"
  spawn osd.0 ceph-osd -c "$D/ceph.conf" -i 0 -f
  wait_until "osd.0 up" osd.0 osd_up || die "osd did not come up"
  log "osd ($store) up in $(since "$t")s"

  # --- rgw realm-less default zonegroup, with api_name = region, so that a
  # CreateBucket carrying <LocationConstraint>$REGION</...> is accepted (it
  # is "default" otherwise: InvalidLocationConstraint). radosgw reads it at
  # start, so this comes before radosgw.
  t=$(now)
  local rgwa=(radosgw-admin -c "$D/ceph.conf" -n client.admin)
  # the first "user create" also creates the default zone and zonegroup
  # ("zonegroup get" before that fails: "failed to init zonegroup")
  "${rgwa[@]}" user create --uid=tester --display-name="local s3 tester" \
    --access-key="$AK" --secret-key="$SK" >>"$D/log/setup.log" 2>&1 \
    || die "radosgw-admin user create failed"
  "${rgwa[@]}" zonegroup get >"$D/tmp/zonegroup.json" 2>>"$D/log/setup.log" \
    || die "radosgw-admin zonegroup get failed"
  sed -i "s/\"api_name\": \"[^\"]*\"/\"api_name\": \"$REGION\"/" "$D/tmp/zonegroup.json"
  "${rgwa[@]}" zonegroup set --infile "$D/tmp/zonegroup.json" >>"$D/log/setup.log" 2>&1 \
    || die "radosgw-admin zonegroup set failed"
  log "zonegroup + user in $(since "$t")s"

  # --- radosgw (the port is chosen before it binds: if something took it
  # meanwhile, radosgw exits with "Address already in use"; then try another)
  t=$(now)
  local try
  for try in 1 2 3; do
    spawn client.rgw.local radosgw -c "$D/ceph.conf" -n client.rgw.local -f \
      --rgw-frontends "beast endpoint=127.0.0.1:$RGW_PORT"
    if wait_until "radosgw on 127.0.0.1:$RGW_PORT" client.rgw.local rgw_up; then
      break
    fi
    if [ -n "${LOCAL_S3_PORT:-}" ] || [ "$try" = 3 ] ||
       ! grep -q 'Address already in use' "$D/log/client.rgw.local.log" 2>/dev/null; then
      die "radosgw did not come up"
    fi
    log "port $RGW_PORT taken, retrying"
    : >"$D/log/client.rgw.local.log"
    RGW_PORT=$(free_ports 1)
  done
  log "radosgw answering after $(since "$t")s (port $RGW_PORT)"

  # --- optional watchdog: stop everything when the test run's process dies
  if [ -n "${LOCAL_S3_WATCH_PID:-}" ]; then
    kill -0 "$LOCAL_S3_WATCH_PID" 2>/dev/null || die "LOCAL_S3_WATCH_PID $LOCAL_S3_WATCH_PID: no such process"
    # its command line names $D/ceph.conf, so that `stop` knows it as ours
    # shellcheck disable=SC2016
    spawn watchdog bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
      exec "$2" stop "${3%/ceph.conf}"' watchdog "$LOCAL_S3_WATCH_PID" "$SELF" "$D/ceph.conf"
  fi

  cat >"$D/env" <<EOF
S3_ENDPOINT=http://127.0.0.1:$RGW_PORT
S3_REGION=$REGION
S3_ACCESS_KEY=$AK
S3_SECRET_KEY=$SK
S3_DIR=$D
S3_BACKEND=ceph-radosgw-$(ceph --version | awk '{print $3}')-$store
EOF
  started_ok=1
  log "ready in $(since "$T0")s total; stop with: $0 stop $D"
  cat "$D/env"
}

case "${1:-start}" in
  start) do_start ;;
  stop) do_stop "${2:-}" ;;
  install) do_install ;;
  -h|--help|help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) log "usage: $0 [start|stop DIR|install]"; exit 64 ;;
esac
