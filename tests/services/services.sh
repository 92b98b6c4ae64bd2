#!/usr/bin/env bash
# Real services for the tests, on 127.0.0.1 only, every file under one directory:
#   S3      a single-node Ceph cluster (mon + memstore OSD) with a RADOS Gateway, the estate's
#           buckets and an S3 user with EC2-style keys
#   Postgres  MLflow's backend store
#   MLflow    tracking server + registry, Postgres-backed, artifacts proxied to the RGW bucket
#             (the flags of components/platform/mlflowManifests.ts)
#   Redis     the online store
#
# Usage: services.sh start [ceph|postgres|mlflow|redis ...]   (default: all, in dependency order)
#        services.sh stop                                     stops everything this directory runs
#        services.sh env                                      prints `export NAME=value` lines
#        services.sh status
# Settings (environment): SSEPT_SERVICES_DIR (default /tmp/ssept-services), SSEPT_VENV (the venv
# with mlflow and boto3, default <repo>/.venv), the ports below, SSEPT_SERVICES_TIMEOUT (seconds
# per readiness wait, default 120).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${SSEPT_SERVICES_DIR:-/tmp/ssept-services}"
VENV="${SSEPT_VENV:-$repo/.venv}"
TIMEOUT="${SSEPT_SERVICES_TIMEOUT:-120}"
# Non-default ports, so that a developer's own services (or the defaults of other tools) do not clash.
CEPH_MON_V2_PORT="${SSEPT_CEPH_MON_V2_PORT:-13300}"
CEPH_MON_V1_PORT="${SSEPT_CEPH_MON_V1_PORT:-16789}"
RGW_PORT="${SSEPT_RGW_PORT:-17480}"
POSTGRES_PORT="${SSEPT_POSTGRES_PORT:-15432}"
MLFLOW_PORT="${SSEPT_MLFLOW_PORT:-15000}"
REDIS_PORT="${SSEPT_REDIS_PORT:-16379}"
PG_BIN="${SSEPT_PG_BIN:-/usr/lib/postgresql/15/bin}"
BUCKETS=(raw-data processed-data features models logs mlflow-artifacts ray-checkpoints)
RGW_POOLS=(.rgw.root default.rgw.log default.rgw.control default.rgw.meta default.rgw.buckets.index
  default.rgw.buckets.data default.rgw.buckets.non-ec)

CEPH_CONF_FILE="$DIR/ceph/ceph.conf"
STATE="$DIR/state.env"

log() { echo "services: $*" >&2; }
die() {
  echo "services: error: $*" >&2
  exit 1
}

# The named log's last lines, for an error message.
log_tail() {
  if [ -f "$1" ]; then
    echo "--- last lines of $1:" >&2
    tail -n 20 "$1" >&2
  fi
}

# wait_for NAME LOGFILE COMMAND...: retry COMMAND until it succeeds or TIMEOUT seconds pass.
wait_for() {
  local name="$1" logfile="$2"
  shift 2
  local start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS - start >= TIMEOUT)); then
      log_tail "$logfile"
      die "$name not ready after ${TIMEOUT}s (waited for: $*); log: $logfile"
    fi
    sleep 0.5
  done
  log "$name ready ($((SECONDS - start))s)"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(head -n 1 "$1")" 2>/dev/null; }

# stop_pidfile PIDFILE NAME [GROUP]: SIGTERM (to the process group with GROUP=group), then SIGKILL.
stop_pidfile() {
  local pidfile="$1" name="$2" pid target
  [ -f "$pidfile" ] || return 0
  pid="$(head -n 1 "$pidfile")"
  target="$pid"
  [ "${3:-}" != group ] || target="-$pid"
  if kill -0 "$pid" 2>/dev/null; then
    kill -- "$target" 2>/dev/null || true
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) ignored SIGTERM for 10s; killing it"
      kill -9 -- "$target" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

python_with_boto3() {
  local py
  for py in "$VENV/bin/python" /usr/bin/python3; do
    [ -x "$py" ] && "$py" -c "import boto3" 2>/dev/null && {
      echo "$py"
      return 0
    }
  done
  die "no Python with boto3 (tried $VENV/bin/python and /usr/bin/python3): run .ci/run or apt-get install python3-boto3"
}

# Postgres refuses to run as root: as root, its commands run as the `postgres` system user.
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

ceph_cli() { timeout 20 ceph --conf "$CEPH_CONF_FILE" "$@"; }

start_ceph() {
  for bin in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph; do
    command -v "$bin" >/dev/null || die "$bin not found: apt-get install ceph-mon ceph-osd radosgw ceph-common"
  done
  local c="$DIR/ceph" fsid osd_uuid
  rm -rf "$c"
  mkdir -p "$c/run" "$c/log" "$c/mon" "$c/osd" "$c/rgw"
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  cat >"$CEPH_CONF_FILE" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$CEPH_MON_V2_PORT,v1:127.0.0.1:$CEPH_MON_V1_PORT
mon initial members = a
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
keyring = /dev/null
run dir = $c/run
pid file = $c/run/\$name.pid
admin socket = $c/run/\$name.asok
log file = $c/log/\$name.log
mon data = $c/mon/\$name
osd data = $c/osd/\$name
osd objectstore = memstore
memstore device bytes = 1073741824
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon warn on pool no redundancy = false
mon allow pool size one = true
mon allow pool delete = true
client mount timeout = 30

[client.rgw.tests]
# With auth "none", radosgw still asks the monitor for secure mode and never authenticates.
ms mon client mode = crc
rgw data = $c/rgw
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw gc obj min wait = 60
rgw gc processor period = 60
EOF
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$CEPH_MON_V2_PORT,v1:127.0.0.1:$CEPH_MON_V1_PORT]" \
    "$c/monmap" >"$c/log/mkfs.log" 2>&1 || die "monmaptool failed; log: $c/log/mkfs.log"
  ceph-mon --conf "$CEPH_CONF_FILE" --mkfs -i a --monmap "$c/monmap" --keyring /dev/null >>"$c/log/mkfs.log" 2>&1 ||
    { log_tail "$c/log/mkfs.log"; die "ceph-mon --mkfs failed"; }
  ceph-mon --conf "$CEPH_CONF_FILE" -i a 2>>"$c/log/mon.a.stderr" || die "ceph-mon did not start; log: $c/log/mon.a.log"
  wait_for "ceph monitor" "$c/log/mon.a.log" ceph_cli -s

  osd_uuid="$(cat /proc/sys/kernel/random/uuid)"
  local osd_id
  osd_id="$(ceph_cli osd new "$osd_uuid")" || die "ceph osd new failed"
  [ "$osd_id" = 0 ] || die "expected OSD id 0, the monitor gave '$osd_id'"
  mkdir -p "$c/osd/osd.0"
  ceph-osd --conf "$CEPH_CONF_FILE" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$c/log/mkfs.log" 2>&1 ||
    { log_tail "$c/log/mkfs.log"; die "ceph-osd --mkfs failed"; }
  ceph-osd --conf "$CEPH_CONF_FILE" -i 0 2>>"$c/log/osd.0.stderr" || die "ceph-osd did not start; log: $c/log/osd.0.log"
  wait_for "ceph OSD" "$c/log/osd.0.log" bash -c "ceph --conf '$CEPH_CONF_FILE' osd dump 2>/dev/null | grep -q '^osd.0 up'"

  # RGW's pools up front: otherwise its first requests wait while it creates them.
  local pool
  for pool in "${RGW_POOLS[@]}"; do
    ceph_cli osd pool create "$pool" 8 8 >/dev/null 2>&1 || die "creating pool $pool failed"
    ceph_cli osd pool application enable "$pool" rgw >/dev/null 2>&1 || die "enabling rgw on pool $pool failed"
  done

  radosgw --conf "$CEPH_CONF_FILE" -n client.rgw.tests || die "radosgw did not start; log: $c/log/client.rgw.tests.log"
  wait_for "RADOS Gateway" "$c/log/client.rgw.tests.log" curl -fsS -o /dev/null "http://127.0.0.1:$RGW_PORT/"

  local access secret
  access="$(head -c 10 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr 'a-f' 'A-F')"
  secret="$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  radosgw-admin --conf "$CEPH_CONF_FILE" -n client.rgw.tests user create --uid=ssept-tests \
    --display-name="SSE-PT tests" --access-key="$access" --secret="$secret" >"$c/log/user.json" 2>&1 ||
    { log_tail "$c/log/user.json"; die "radosgw-admin user create failed"; }
  cat >"$DIR/s3.env" <<EOF
S3_ENDPOINT_URL=http://127.0.0.1:$RGW_PORT
AWS_ACCESS_KEY_ID=$access
AWS_SECRET_ACCESS_KEY=$secret
EOF

  # Buckets, then one write/read/delete round trip: it succeeds only once the PGs are active.
  local py
  py="$(python_with_boto3)"
  S3_ENDPOINT_URL="http://127.0.0.1:$RGW_PORT" AWS_ACCESS_KEY_ID="$access" AWS_SECRET_ACCESS_KEY="$secret" \
    timeout "$TIMEOUT" "$py" - "${BUCKETS[@]}" <<'EOF' || die "creating the buckets or the S3 round trip failed (see above)"
import os, sys, boto3
from botocore.config import Config
os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "WHEN_REQUIRED")
os.environ.setdefault("AWS_RESPONSE_CHECKSUM_VALIDATION", "WHEN_REQUIRED")
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"], region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 10}))
for bucket in sys.argv[1:]:
    s3.create_bucket(Bucket=bucket)
s3.put_object(Bucket="logs", Key="services-ready", Body=b"ok")
assert s3.get_object(Bucket="logs", Key="services-ready")["Body"].read() == b"ok"
s3.delete_object(Bucket="logs", Key="services-ready")
EOF
  log "S3 buckets: ${BUCKETS[*]}"
}

start_postgres() {
  [ -x "$PG_BIN/initdb" ] || die "$PG_BIN/initdb not found: apt-get install postgresql (or set SSEPT_PG_BIN)"
  local p="$DIR/postgres"
  rm -rf "$p"
  mkdir -p "$p/data" "$p/sock"
  printf 'mlflow\n' >"$p/pwfile"
  [ "$(id -u)" -ne 0 ] || chown -R postgres: "$p"
  # Local socket: trust (setup only); TCP: scram passwords, as a client in the cluster uses.
  as_postgres "$PG_BIN/initdb" -D "$p/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$p/initdb.log" 2>&1 || { log_tail "$p/initdb.log"; die "initdb failed"; }
  as_postgres "$PG_BIN/pg_ctl" -D "$p/data" -l "$p/postgres.log" -w -t "$TIMEOUT" \
    -o "-c listen_addresses=127.0.0.1 -p $POSTGRES_PORT -k $p/sock" start >/dev/null ||
    { log_tail "$p/postgres.log"; die "postgres did not start; log: $p/postgres.log"; }
  wait_for postgres "$p/postgres.log" "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$POSTGRES_PORT"
  as_postgres "$PG_BIN/psql" -h "$p/sock" -p "$POSTGRES_PORT" -U postgres -v ON_ERROR_STOP=1 -q \
    -c "CREATE ROLE mlflow LOGIN PASSWORD 'mlflow'" -c "CREATE DATABASE mlflow OWNER mlflow" ||
    die "creating the mlflow role and database failed"
}

start_mlflow() {
  [ -x "$VENV/bin/mlflow" ] || die "$VENV/bin/mlflow not found: create the venv (.ci/run) or set SSEPT_VENV"
  [ -f "$DIR/s3.env" ] || die "MLflow needs S3: start ceph first"
  pid_alive "$DIR/postgres/data/postmaster.pid" || die "MLflow needs Postgres: start postgres first"
  local m="$DIR/mlflow"
  rm -rf "$m"
  mkdir -p "$m/prometheus"
  # Same flags as the cluster's server (components/platform/mlflowManifests.ts); host and port differ.
  (
    set -a
    # shellcheck disable=SC1091
    . "$DIR/s3.env"
    set +a
    export MLFLOW_S3_ENDPOINT_URL="$S3_ENDPOINT_URL"
    export MLFLOW_BACKEND_STORE_URI="postgresql://mlflow:mlflow@127.0.0.1:$POSTGRES_PORT/mlflow"
    export MLFLOW_GUNICORN_OPTS="--timeout 120"
    export AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED AWS_RESPONSE_CHECKSUM_VALIDATION=WHEN_REQUIRED
    export AWS_DEFAULT_REGION=us-east-1
    cd "$m"
    exec setsid "$VENV/bin/mlflow" server --host=127.0.0.1 --port="$MLFLOW_PORT" --serve-artifacts \
      --artifacts-destination=s3://mlflow-artifacts --expose-prometheus="$m/prometheus" --workers=2 \
      >"$m/mlflow.log" 2>&1 </dev/null
  ) &
  echo $! >"$m/mlflow.pid"
  wait_for "MLflow server" "$m/mlflow.log" curl -fsS "http://127.0.0.1:$MLFLOW_PORT/health"
}

start_redis() {
  command -v redis-server >/dev/null || die "redis-server not found: apt-get install redis-server"
  local r="$DIR/redis"
  rm -rf "$r"
  mkdir -p "$r"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --pidfile "$r/redis.pid" \
    --dir "$r" --logfile "$r/redis.log" --save "" --appendonly no ||
    die "redis-server did not start; log: $r/redis.log"
  wait_for redis "$r/redis.log" bash -c "exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG"
}

print_env() {
  [ -f "$STATE" ] || die "no services running from $DIR (run: $0 start)"
  cat "$STATE"
}

write_state() {
  local started=("$@")
  {
    echo "export SSEPT_SERVICES_DIR=$DIR"
    echo "export SSEPT_SERVICES=\"${started[*]}\""
    if [ -f "$DIR/s3.env" ]; then
      sed 's/^/export /' "$DIR/s3.env"
      echo "export AWS_DEFAULT_REGION=us-east-1"
      echo "export AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED"
      echo "export AWS_RESPONSE_CHECKSUM_VALIDATION=WHEN_REQUIRED"
      echo "export MLFLOW_S3_ENDPOINT_URL=http://127.0.0.1:$RGW_PORT"
      echo "export SSEPT_S3_BUCKETS=\"${BUCKETS[*]}\""
    fi
    if pid_alive "$DIR/postgres/data/postmaster.pid"; then
      echo "export SSEPT_POSTGRES_URL=postgresql://mlflow:mlflow@127.0.0.1:$POSTGRES_PORT/mlflow"
    fi
    if pid_alive "$DIR/mlflow/mlflow.pid"; then
      echo "export MLFLOW_TRACKING_URI=http://127.0.0.1:$MLFLOW_PORT"
    fi
    if pid_alive "$DIR/redis/redis.pid"; then
      echo "export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
      echo "export REDIS_HOST=127.0.0.1"
      echo "export REDIS_PORT=$REDIS_PORT"
    fi
  } >"$STATE.tmp"
  mv "$STATE.tmp" "$STATE"
}

# A readiness check must not be answered by some other process already on the port.
require_free_port() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    die "port $1 ($2) is already in use on 127.0.0.1: another instance? stop it or set $3"
  fi
}

cmd_start() {
  local wanted=("$@")
  [ "${#wanted[@]}" -gt 0 ] || wanted=(ceph postgres mlflow redis)
  for s in "${wanted[@]}"; do
    case "$s" in ceph | postgres | mlflow | redis) ;; *) die "unknown service '$s' (ceph, postgres, mlflow, redis)" ;; esac
  done
  if [ -f "$STATE" ]; then
    die "services already started from $DIR ($(grep SSEPT_SERVICES= "$STATE" | cut -d= -f2)); run: $0 stop"
  fi
  for s in "${wanted[@]}"; do
    case "$s" in
      ceph)
        require_free_port "$CEPH_MON_V2_PORT" "ceph monitor v2" SSEPT_CEPH_MON_V2_PORT
        require_free_port "$CEPH_MON_V1_PORT" "ceph monitor v1" SSEPT_CEPH_MON_V1_PORT
        require_free_port "$RGW_PORT" "RADOS Gateway" SSEPT_RGW_PORT
        ;;
      postgres) require_free_port "$POSTGRES_PORT" postgres SSEPT_POSTGRES_PORT ;;
      mlflow) require_free_port "$MLFLOW_PORT" "MLflow server" SSEPT_MLFLOW_PORT ;;
      redis) require_free_port "$REDIS_PORT" redis SSEPT_REDIS_PORT ;;
    esac
  done
  mkdir -p "$DIR"
  # The Postgres server runs as the postgres user and must reach its directory (mktemp -d is 700).
  chmod 755 "$DIR"
  local all_start=$SECONDS started=()
  for s in ceph postgres mlflow redis; do
    [[ " ${wanted[*]} " == *" $s "* ]] || continue
    local t=$SECONDS
    "start_$s"
    started+=("$s")
    write_state "${started[@]}"
    log "$s started in $((SECONDS - t))s"
  done
  log "all started in $((SECONDS - all_start))s; environment: $0 env"
}

cmd_stop() {
  # The server runs in its own session (setsid) with gunicorn and its workers: stop the group.
  stop_pidfile "$DIR/mlflow/mlflow.pid" mlflow group
  stop_pidfile "$DIR/redis/redis.pid" redis
  if [ -f "$DIR/postgres/data/postmaster.pid" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$DIR/postgres/data" -m fast -w stop >/dev/null 2>&1 ||
      stop_pidfile "$DIR/postgres/data/postmaster.pid" postgres
  fi
  stop_pidfile "$DIR/ceph/run/client.rgw.tests.pid" radosgw
  stop_pidfile "$DIR/ceph/run/osd.0.pid" ceph-osd
  stop_pidfile "$DIR/ceph/run/mon.a.pid" ceph-mon
  rm -f "$STATE" "$DIR/s3.env"
  log "stopped (logs kept under $DIR)"
}

cmd_status() {
  local name pidfile
  for pair in "mon:$DIR/ceph/run/mon.a.pid" "osd:$DIR/ceph/run/osd.0.pid" "rgw:$DIR/ceph/run/client.rgw.tests.pid" \
    "postgres:$DIR/postgres/data/postmaster.pid" "mlflow:$DIR/mlflow/mlflow.pid" "redis:$DIR/redis/redis.pid"; do
    name="${pair%%:*}"
    pidfile="${pair#*:}"
    if [ -f "$pidfile" ] && kill -0 "$(head -n 1 "$pidfile")" 2>/dev/null; then
      echo "$name running (pid $(head -n 1 "$pidfile"))"
    else
      echo "$name stopped"
    fi
  done
}

case "${1:-}" in
  start)
    shift
    cmd_start "$@"
    ;;
  stop) cmd_stop ;;
  env) print_env ;;
  status) cmd_status ;;
  *) die "usage: $0 start [ceph|postgres|mlflow|redis ...] | stop | env | status" ;;
esac
