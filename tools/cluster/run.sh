#!/usr/bin/env bash
# make cluster-e2e: the pipeline on a Spark standalone cluster reading its input from S3 and
# writing bronze to S3, everything on loopback on this machine:
#
#   Postgres (Debian's, as the postgres user, 127.0.0.1:<port>, password auth)
#   S3: moto in server mode (tools/cluster/requirements.txt, own venv) on 127.0.0.1:<port>
#   Spark standalone from the pyspark install: one master (127.0.0.1:7077) and two workers
#   (1 core, 1 GiB each); executors run the project venv's python (PYSPARK_PYTHON)
#   -> `zluri generate` 3 days -> uploaded to s3a://zluri-feed/feed
#   -> `zluri backfill day1 day2 day3` with ZLURI_SPARK_MASTER=spark://127.0.0.1:7077,
#      ZLURI_INPUT=s3a://zluri-feed/feed, ZLURI_BRONZE_ROOT=s3a://zluri-lake/bronze
#   -> checks: core tables = the generator's truth (expected.json); bronze Delta tables on S3;
#      Spark's event log shows every task on the two executors (input read and rows written
#      there); a missing day on S3 is a usage error (exit 2); no credential in any log or
#      output; every listening socket on loopback; every process started here stopped by PID.
#
# S3A settings are plain Spark config (spark-defaults.conf in a private SPARK_CONF_DIR):
# endpoint, path-style access, no SSL. Credentials are the standard AWS variables only.
#
# Env knobs: CLUSTER_MASTER_PORT (7077), CLUSTER_AGENTS / CLUSTER_TRANSACTIONS (200 / 3000),
# CLUSTER_KEEP_TMP=1 (keep logs and data), CLUSTER_TOOLS_VENV (moto's venv, default
# <repo>/.venv-cluster), VENV (the project venv, default <repo>/.venv).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../docker/lib/common.sh"
CHECKS="$ZLURI_REPO_ROOT/tools/cluster/cluster_checks.py"
S3_TOOL="$ZLURI_REPO_ROOT/tools/cluster/s3_tool.py"
TOOLS_VENV="${CLUSTER_TOOLS_VENV:-$ZLURI_REPO_ROOT/.venv-cluster}"
MASTER_PORT="${CLUSTER_MASTER_PORT:-7077}"
DAYS=(day1 day2 day3)
FEED_URL="s3a://zluri-feed/feed"
BRONZE_URL="s3a://zluri-lake/bronze"
ENTITIES="agents,agent_details,roles,admin_groups,budgets,cards,transactions"

T0=$(now)
TMP="$(mktemp -d /tmp/zluri-cluster.XXXXXX)"
chmod 0755 "$TMP"  # Postgres (the postgres user) keeps its data and socket under here
declare -A STARTED=()  # name -> pid of every process this script started
PG_DATA="$TMP/pgdata"

start() {  # start NAME LOG CMD...: run CMD in its own session, remember its pid
  local name="$1" logfile="$2"
  shift 2
  setsid "$@" >"$logfile" 2>&1 </dev/null &
  STARTED[$name]=$!
  disown "$!"
  log "started $name (pid ${STARTED[$name]})"
}

stop_pid() {  # stop_pid NAME PID: TERM, wait (bounded), then KILL
  local name="$1" pid="$2" i
  kill -0 "$pid" 2>/dev/null || return 0
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  log "$name did not stop in 30s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [ "$rc" -ne 0 ]; then
    log "FAILED (exit $rc); last lines of the logs in $TMP:"
    for f in backfill.log master.log worker1.log worker2.log moto.log postgres.log; do
      [ -s "$TMP/$f" ] && { echo "----- $f" >&2; tail -n 40 "$TMP/$f" >&2; }
    done
  fi
  # Workers first (they stop their executors), then the master, S3 and Postgres.
  local name
  for name in worker2 worker1 master moto; do
    [ -n "${STARTED[$name]:-}" ] && stop_pid "$name" "${STARTED[$name]}"
  done
  if [ -f "$PG_DATA/postmaster.pid" ]; then
    # SIGINT is Postgres' fast shutdown.
    local pg_pid
    pg_pid="$(head -n1 "$PG_DATA/postmaster.pid")"
    log "stopping postgres (pid $pg_pid)"
    kill -INT "$pg_pid" 2>/dev/null
    for _ in $(seq 1 60); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pg_pid" 2>/dev/null && kill -KILL "$pg_pid" 2>/dev/null
  fi
  local left=()
  for name in "${!STARTED[@]}"; do kill -0 "${STARTED[$name]}" 2>/dev/null && left+=("$name"); done
  if [ "${#left[@]}" -gt 0 ]; then
    log "FAIL still running after cleanup: ${left[*]}"
    [ "$rc" -eq 0 ] && rc=1
  else
    log "every process started here is stopped (${#STARTED[@]} + postgres)"
  fi
  if [ "$rc" -eq 0 ] && [ "${CLUSTER_KEEP_TMP:-0}" != 1 ]; then rm -rf "$TMP"; else log "kept $TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TIMINGS=()
phase_started=$T0
phase() {
  local t
  t=$(now)
  [ -n "${PHASE_NAME:-}" ] && TIMINGS+=("$(printf '%-26s %4ss' "$PHASE_NAME" $((t - phase_started)))")
  PHASE_NAME="$1"
  phase_started=$t
  [ -n "$1" ] && log "=== $1"
  return 0
}

# ------------------------------------------------------------------------------------------
phase "prerequisites"
[ -x "$HOST_PYTHON" ] || die "no project venv at $VENV (run 'make setup' first)"
ZLURI="$VENV/bin/zluri"
command -v java >/dev/null || ensure_apt_packages openjdk-17-jre-headless
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)}"
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  ensure_apt_packages postgresql
  PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
fi
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
REQS="$ZLURI_REPO_ROOT/tools/cluster/requirements.txt"
if ! cmp -s "$REQS" "$TOOLS_VENV/.requirements.txt" 2>/dev/null; then
  log "installing the S3 server (moto) into $TOOLS_VENV"
  python3.11 -m venv "$TOOLS_VENV"
  "$TOOLS_VENV/bin/pip" install --quiet -r "$REQS" >&2
  cp "$REQS" "$TOOLS_VENV/.requirements.txt"
fi
# hadoop-aws (pyspark's Hadoop version) and the AWS SDK bundle, from Maven Central once into
# the Ivy cache (a local Spark start: skipped when the jar is there already).
HADOOP_AWS="$("$HOST_PYTHON" -c 'from zluri_staging.spark import s3_packages; print(s3_packages()[0])')"
IVY_JAR="${IVY_DIR:-$HOME/.ivy2.5.2}/jars/$(echo "$HADOOP_AWS" | awk -F: '{print $1 "_" $2 "-" $3 ".jar"}')"
if [ -f "$IVY_JAR" ]; then
  log "$HADOOP_AWS is in the Ivy cache ($IVY_JAR)"
else
  "$ZLURI" setup-spark --with-s3 >&2
fi
SPARK_HOME="$("$HOST_PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
export SPARK_HOME
export SPARK_LOCAL_IP=127.0.0.1 SPARK_LOCAL_HOSTNAME=localhost
export PYSPARK_PYTHON="$HOST_PYTHON" PYSPARK_DRIVER_PYTHON="$HOST_PYTHON"

# Credentials: generated per run, handed over in the standard AWS variables only.
export AWS_ACCESS_KEY_ID="zluri$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export AWS_SECRET_ACCESS_KEY="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
PG_PASSWORD="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export CLUSTER_PG_PASSWORD="$PG_PASSWORD"
export CLUSTER_SECRET_VARS=AWS_SECRET_ACCESS_KEY,CLUSTER_PG_PASSWORD

# ------------------------------------------------------------------------------------------
phase "postgres"
PG_PORT="$("$HOST_PYTHON" "$CHECKS" free-port)"
mkdir -p "$PG_DATA" "$TMP/pgsock"
printf '%s\n' "$PG_PASSWORD" >"$TMP/pgpass"
touch "$TMP/postgres.log"
chmod 0600 "$TMP/pgpass"
[ "$(id -u)" = 0 ] && chown postgres: "$PG_DATA" "$TMP/pgsock" "$TMP/pgpass" "$TMP/postgres.log"
as_postgres "$PG_BIN/initdb" -D "$PG_DATA" --auth=scram-sha-256 --username=zluri --pwfile="$TMP/pgpass" \
  --encoding=UTF8 --no-sync >"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log" >&2; die "initdb failed"; }
rm -f "$TMP/pgpass"
as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$TMP/postgres.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $TMP/pgsock -c fsync=off -c full_page_writes=off" start >/dev/null
"$PG_BIN/psql" -X -q "postgresql://zluri:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres" -c "create database zluri"
export ZLURI_DATABASE_URL="postgresql://zluri:$PG_PASSWORD@127.0.0.1:$PG_PORT/zluri"
log "Postgres $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (pid $(head -n1 "$PG_DATA/postmaster.pid"))"

phase "s3 (moto server)"
S3_PORT="$("$HOST_PYTHON" "$CHECKS" free-port)"
export AWS_ENDPOINT_URL="http://127.0.0.1:$S3_PORT"
start moto "$TMP/moto.log" "$TOOLS_VENV/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT"
"$TOOLS_VENV/bin/python" "$S3_TOOL" wait 60 || die "the S3 server did not come up"

phase "spark standalone cluster"
export SPARK_CONF_DIR="$TMP/spark-conf"
mkdir -p "$SPARK_CONF_DIR" "$TMP/spark-events" "$TMP/worker1" "$TMP/worker2"
cat >"$SPARK_CONF_DIR/spark-defaults.conf" <<CONF
spark.hadoop.fs.s3a.endpoint                 http://127.0.0.1:$S3_PORT
spark.hadoop.fs.s3a.endpoint.region          us-east-1
spark.hadoop.fs.s3a.path.style.access        true
spark.hadoop.fs.s3a.connection.ssl.enabled   false
spark.executor.memory                        1g
spark.cores.max                              2
spark.eventLog.enabled                       true
spark.eventLog.dir                           file://$TMP/spark-events
spark.eventLog.rolling.enabled               false
spark.eventLog.compress                      false
CONF
MASTER_UI_PORT="$("$HOST_PYTHON" "$CHECKS" free-port)"
start master "$TMP/master.log" "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
  --host 127.0.0.1 --port "$MASTER_PORT" --webui-port "$MASTER_UI_PORT"
for n in 1 2; do
  start "worker$n" "$TMP/worker$n.log" "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
    --host 127.0.0.1 --cores 1 --memory 1g --webui-port "$("$HOST_PYTHON" "$CHECKS" free-port)" \
    --work-dir "$TMP/worker$n" "spark://127.0.0.1:$MASTER_PORT"
done
"$HOST_PYTHON" "$CHECKS" wait-workers "http://127.0.0.1:$MASTER_UI_PORT" 2 120 >&2 \
  || die "the workers did not register with the master"
"$HOST_PYTHON" "$CHECKS" loopback "${STARTED[@]}" "$(head -n1 "$PG_DATA/postmaster.pid")" >&2 \
  || die "a process of the cluster listens beyond loopback"

phase "generate + upload the feed"
"$ZLURI" generate --out "$TMP/feed" --days 3 --agents "${CLUSTER_AGENTS:-200}" --groups 20 \
  --transactions "${CLUSTER_TRANSACTIONS:-3000}" --seed 16 >&2
"$TOOLS_VENV/bin/python" "$S3_TOOL" upload zluri-feed feed "$TMP/feed" >&2 || die "upload to S3 failed"
"$TOOLS_VENV/bin/python" -c "import boto3; boto3.client('s3', region_name='us-east-1').create_bucket(Bucket='zluri-lake')"

export ZLURI_SPARK_MASTER="spark://127.0.0.1:$MASTER_PORT"
export ZLURI_INPUT="$FEED_URL" ZLURI_BRONZE_ROOT="$BRONZE_URL"
export ZLURI_HOME="$TMP/home" PREFECT_HOME="$TMP/prefect-home"
# The flow runs against Prefect's ephemeral API server; on a busy machine it takes longer than
# the default 20 s to come up next to a Spark cluster.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=600
# The COPY into Postgres runs as Spark jobs whose call site is the staging loader: those stages
# must have run on the executors (tools/cluster/cluster_checks.py events).
export CLUSTER_LOAD_STAGE="${CLUSTER_LOAD_STAGE:-zluri_staging/load\.py}"
# By default a table of at most 50,000 rows, and a few quarantined rows, are checked and copied by
# the driver: every table of this small feed would be. 0 sends them all through the executors (data
# quality on GX's Spark engine, COPY per partition), as a large day's are.
export ZLURI_DRIVER_ROWS="${ZLURI_DRIVER_ROWS:-0}"
# Executors on the cluster get the driver's Hadoop config with the S3A settings; the
# shuffle stays small for a 3-day feed.
export ZLURI_SHUFFLE_PARTITIONS=4

phase "missing day on S3"
set +e
"$ZLURI" run --day day9 >"$TMP/missing-day.log" 2>&1
missing_rc=$?
set -e
grep -q "no input folder for day 'day9': $FEED_URL/sync-day9 does not exist" "$TMP/missing-day.log" && [ "$missing_rc" = 2 ] \
  || { cat "$TMP/missing-day.log" >&2; die "a missing day on S3 was not a usage error (exit $missing_rc)"; }
log "ok   a missing day on S3 is a usage error (exit 2): $(grep -o "no input folder.*" "$TMP/missing-day.log")"
rm -rf "$TMP"/spark-events/*  # that session's events are not the backfill's

phase "zluri backfill on the cluster"
"$ZLURI" backfill "${DAYS[@]}" >"$TMP/backfill.log" 2>&1 || die "zluri backfill failed"
tail -n 40 "$TMP/backfill.log" >&2

phase "checks"
failures=0
"$HOST_PYTHON" "$CHECKS" truth "$TMP/feed/expected.json" >&2 || failures=$((failures + 1))
"$TOOLS_VENV/bin/python" "$S3_TOOL" bronze zluri-lake bronze "$(IFS=,; echo "${DAYS[*]}")" "$ENTITIES" >&2 \
  || failures=$((failures + 1))
"$HOST_PYTHON" "$CHECKS" events "$TMP/spark-events" >&2 || failures=$((failures + 1))
apps="$(find "$TMP/worker1" "$TMP/worker2" -mindepth 2 -maxdepth 2 -type d | wc -l)"
ran="$(cat "$TMP"/worker*/app-*/*/stderr 2>/dev/null | grep -c 'Finished task' || true)"
log "worker logs: $apps executor folders, $ran 'Finished task' lines"
[ "$ran" -gt 0 ] || { log "FAIL the workers' executor logs show no finished task"; failures=$((failures + 1)); }
"$HOST_PYTHON" "$CHECKS" no-secrets "$TMP"/*.log "$TMP/spark-events" "$TMP/worker1" "$TMP/worker2" "$TMP/home" >&2 \
  || failures=$((failures + 1))
[ "$failures" -eq 0 ] || die "$failures check(s) failed"

phase ""
{
  echo
  echo "cluster-e2e PASSED"
  echo "  cluster     spark://127.0.0.1:$MASTER_PORT, 2 workers x (1 core, 1 GiB), Spark $("$HOST_PYTHON" -c 'import pyspark; print(pyspark.__version__)')"
  echo "  input       $FEED_URL (moto on 127.0.0.1:$S3_PORT), bronze $BRONZE_URL"
  echo "  timings"
  printf '    %s\n' "${TIMINGS[@]}"
  echo "    total                      $(( $(now) - T0 ))s"
} >&2
