#!/usr/bin/env bash
# End-to-end check of the Docker deployment path (make docker-e2e):
#
#   Docker engine (the running one, else a private dockerd started here and stopped at the end)
#   -> Debian 12 base image (debootstrap, cached) -> worker image (docker/Dockerfile)
#   -> smoke test of the image -> Postgres on 127.0.0.1 -> Prefect server (own PREFECT_HOME)
#   -> work pool zluri-docker -> prefect deploy of flows/prefect.yaml (build steps dropped,
#   the image built above) -> Docker worker -> one generated feed day -> zluri-day flow run
#   -> wait for Completed -> core tables and ops.pipeline_metrics checked with psql.
#
# Exits non-zero on anything else, and never skips: if the engine cannot start, it fails
# saying why. Everything it starts (dockerd, Postgres, Prefect server, worker, containers)
# is stopped by PID / id in the exit trap.
#
# Env knobs:
#   ZLURI_CI_CACHE        cache outside the clone (default /var/cache/zluri-ci as root)
#   E2E_BASE_IMAGE        "local" (default: debootstrapped Debian 12) or an image reference
#   WHEELS_DIR            prebuilt project wheels (else pip wheel builds them)
#   E2E_FLOW_TIMEOUT      seconds to wait for the flow run (default 1200)
#   E2E_AGENTS/E2E_GROUPS/E2E_TRANSACTIONS   size of the generated day (50/12/200)
#   E2E_PREFECT_BUILD=1   deploy flows/prefect.yaml with its own build steps instead of
#                         the image built above (slower; exercises the user's path)
#   E2E_KEEP_TMP=1        keep the temporary folder (logs, data) even on success
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
HELPERS="$ZLURI_REPO_ROOT/docker/e2e/e2e_helpers.py"

E2E_BASE_IMAGE="${E2E_BASE_IMAGE:-local}"
E2E_FLOW_TIMEOUT="${E2E_FLOW_TIMEOUT:-1200}"
E2E_DAY=day1
POOL=zluri-docker
DEPLOYMENT="zluri_day_pipeline/zluri-day"

T0=$(now)
declare -a TIMINGS=()
phase_started=$T0
phase() {  # phase NAME: close the previous phase's timer and log the next one
  local t
  t=$(now)
  if [ -n "${PHASE_NAME:-}" ]; then TIMINGS+=("$(printf '%-28s %4ss' "$PHASE_NAME" $((t - phase_started)))"); fi
  PHASE_NAME="$1"
  phase_started=$t
  [ -n "$1" ] && log "=== $1"
  return 0
}

E2E_TMP="$(mktemp -d /tmp/zluri-e2e.XXXXXX)"
# Postgres runs as the postgres user and must reach its data folder under here.
chmod 0755 "$E2E_TMP"
SERVER_PID=""
WORKER_PID=""
PG_DATA=""
PG_BIN=""
FLOW_RUN_ID=""

stop_group() {  # stop_group PID NAME: TERM the process group we started with setsid, then KILL
  local pid="$1" name="$2" i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  log "stopping $name (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || return 0
    # A Prefect worker turns its first TERM into a graceful SIGINT, a second one into SIGKILL.
    [ "$i" = 20 ] && { kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; }
    sleep 0.5
  done
  log "$name did not stop in 20s; killing it"
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [ "$rc" -ne 0 ]; then
    log "FAILED (exit $rc); last lines of the logs in $E2E_TMP:"
    for f in worker.log prefect-server.log postgres.log; do
      [ -s "$E2E_TMP/$f" ] && { echo "----- $f" >&2; tail -n 60 "$E2E_TMP/$f" >&2; }
    done
    [ -n "${ZLURI_DOCKERD_LOG:-}" ] && [ -s "$ZLURI_DOCKERD_LOG" ] && { echo "----- dockerd.log" >&2; tail -n 20 "$ZLURI_DOCKERD_LOG" >&2; }
  fi
  stop_group "$WORKER_PID" "Prefect worker"
  if engine_answers; then
    # Flow-run containers of this run (auto_remove usually took them already).
    local ids
    ids="$(docker ps -aq --filter "label=io.prefect.flow-run-id=${FLOW_RUN_ID:-none}" 2>/dev/null)"
    [ -n "$ids" ] && { log "removing flow-run containers $ids"; docker rm -f $ids >/dev/null; }
    ids="$(docker ps -aq --filter "label=zluri-e2e=$E2E_TMP" 2>/dev/null)"
    [ -n "$ids" ] && docker rm -f $ids >/dev/null
  fi
  stop_group "$SERVER_PID" "Prefect server"
  if [ -n "$ZLURI_STARTED_DOCKERD_PID" ] && [ -n "${IMAGE:-}" ] && engine_answers; then
    # Our private image store lives in the cache: keep this run's image (its layers are the
    # next run's build cache) and drop older worker images and dangling layers.
    local old repo="${IMAGE%:*}" tag="${IMAGE##*:}"
    old="$( { docker images --format '{{.Repository}}:{{.Tag}}' "$repo"
              docker images --format '{{.Repository}}:{{.Tag}}' "$repo-deps"; } \
            | grep -vxF -e "$IMAGE" -e "$repo-deps:$tag" || true)"
    [ -n "$old" ] && { log "removing older worker images: $(echo $old)"; docker rmi $old >/dev/null 2>&1; }
    # (explicit filter: a newer CLI against this 20.10 engine prunes nothing without it)
    docker image prune -f --filter dangling=true >/dev/null 2>&1
  fi
  if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
    log "stopping Postgres"
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  engine_stop
  if [ "$rc" -eq 0 ] && [ "${E2E_KEEP_TMP:-0}" != 1 ]; then
    rm -rf "$E2E_TMP"
  else
    log "kept $E2E_TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --------------------------------------------------------------------------------------
phase "prerequisites"
[ -x "$HOST_PYTHON" ] || die "no project venv at $VENV (run 'make setup' first, or set VENV)"
PREFECT="$VENV/bin/prefect"
ZLURI="$VENV/bin/zluri"
[ -x "$PREFECT" ] || die "prefect is not installed in $VENV"
[ -x "$ZLURI" ] || die "the zluri CLI is not installed in $VENV"
if ! "$HOST_PYTHON" -c 'import prefect_docker' 2>/dev/null; then
  log "installing prefect-docker into $VENV (the Docker worker and build steps need it)"
  "$HOST_PYTHON" -m pip install --quiet -c "$ZLURI_REPO_ROOT/constraints.txt" prefect-docker >&2
fi
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)}"
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  ensure_apt_packages postgresql
  PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

# --------------------------------------------------------------------------------------
phase "docker engine"
engine_ensure

phase "base image"
if [ "$E2E_BASE_IMAGE" = local ]; then
  BASE="$(bash "$ZLURI_REPO_ROOT/docker/base-image.sh")"
else
  BASE="$E2E_BASE_IMAGE"
fi
log "base image: $BASE"

phase "build context"
bash "$ZLURI_REPO_ROOT/docker/prepare-context.sh"

phase "worker image"
IMAGE_TAG="${IMAGE_TAG:-$(git -C "$ZLURI_REPO_ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo dev)}"
IMAGE="$(IMAGE_TAG="$IMAGE_TAG" BASE_IMAGE="$BASE" SKIP_CONTEXT=1 bash "$ZLURI_REPO_ROOT/docker/build-image.sh")"
IMAGE_SIZE_MB=$(( $(docker image inspect --format '{{.Size}}' "$IMAGE") / 1024 / 1024 ))

phase "image smoke test"
# Offline (no network at all): imports, Java, the SQL files in the zluri-pg wheel, the flow entrypoint file.
docker run --rm --network none --label "zluri-e2e=$E2E_TMP" "$IMAGE" bash -euc '
  test "$(id -u)" != 0
  python -c "import pyspark, delta, prefect, zluri_pg, zluri_staging, zluri_metrics, zluri_flows; print(\"python ok: pyspark\", pyspark.__version__, \"prefect\", prefect.__version__)"
  java -version 2>&1 | head -n1
  sql="$(python -c "import zluri_pg; print(zluri_pg.sql_dir())")"
  test -d "$sql/migrations" && test -d "$sql/upserts"
  test -f flows/src/zluri_flows/flow.py
  zluri --help >/dev/null
  # The feed generator is a dev and test tool: the image must not ship it.
  python -c "import importlib.util as u; assert u.find_spec(\"zluri_feedgen\") is None, \"zluri_feedgen is installed\""
  echo "image ok: $(ls "$sql"/migrations | wc -l) migrations, $(ls "$sql"/upserts | wc -l) upserts"
' >&2

# --------------------------------------------------------------------------------------
phase "postgres"
PG_PORT="$("$HOST_PYTHON" "$HELPERS" free-port)"
PG_DATA="$E2E_TMP/pgdata"
mkdir -p "$PG_DATA" "$E2E_TMP/pgsock"
touch "$E2E_TMP/postgres.log"
if [ "$(id -u)" = 0 ]; then chown postgres: "$PG_DATA" "$E2E_TMP/pgsock" "$E2E_TMP/postgres.log"; fi
# Password authentication over TCP, with a password that breaks naive URL handling ('@', ':', '%'):
# the flow run gets the URL only from the Prefect Secret block, and nothing may echo the password.
E2E_PASSWORD="e2e@pw:${RANDOM}%${RANDOM}-x"
E2E_PASSWORD_ENC="$("$HOST_PYTHON" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$E2E_PASSWORD")"
printf '%s\n' "$E2E_PASSWORD" >"$E2E_TMP/pgpass.txt"
if [ "$(id -u)" = 0 ]; then chown postgres: "$E2E_TMP/pgpass.txt"; fi
as_postgres "$PG_BIN/initdb" -D "$PG_DATA" --auth-local=trust --auth-host=scram-sha-256 --pwfile="$E2E_TMP/pgpass.txt" \
  --username=zluri --encoding=UTF8 --no-sync >"$E2E_TMP/initdb.log" 2>&1 \
  || { cat "$E2E_TMP/initdb.log" >&2; die "initdb failed"; }
rm -f "$E2E_TMP/pgpass.txt"
# TCP on loopback: flow-run containers share the host network (network_mode host).
as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$E2E_TMP/postgres.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $E2E_TMP/pgsock -c fsync=off -c full_page_writes=off" start >/dev/null
# Setup over the Unix socket (trust for local connections only).
"$PG_BIN/psql" -X -q -h "$E2E_TMP/pgsock" -p "$PG_PORT" -U zluri -d postgres -c "create database zluri" -c "create database prefect" >&2
DATABASE_URL="postgresql://zluri:$E2E_PASSWORD_ENC@127.0.0.1:$PG_PORT/zluri"
psql_q() { "$PG_BIN/psql" -X -A -t -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"; }
psql_q "select 1" >/dev/null || die "password authentication to 127.0.0.1:$PG_PORT failed"
log "Postgres on 127.0.0.1:$PG_PORT"

phase "prefect server"
PREFECT_PORT="$("$HOST_PYTHON" "$HELPERS" free-port)"
export PREFECT_HOME="$E2E_TMP/prefect-home"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_API_URL="http://127.0.0.1:$PREFECT_PORT/api"
export PREFECT_WORKER_QUERY_SECONDS=2
export PREFECT_CLI_WRAP_LINES=false
mkdir -p "$PREFECT_HOME"
# The server's own database is the same Postgres (SQLite locks up under a busy worker);
# set for the server only, so workers do not forward it into flow-run containers.
PREFECT_API_DATABASE_CONNECTION_URL="postgresql+asyncpg://zluri@/prefect?host=$E2E_TMP/pgsock&port=$PG_PORT" \
setsid "$PREFECT" server start --host 127.0.0.1 --port "$PREFECT_PORT" --no-ui --analytics-off \
  >"$E2E_TMP/prefect-server.log" 2>&1 </dev/null &
SERVER_PID=$!
disown "$SERVER_PID"  # stopped by cleanup; no job-control chatter when it goes
"$HOST_PYTHON" "$HELPERS" wait-http "$PREFECT_API_URL/health" 120 || die "the Prefect server did not come up"
log "Prefect server at $PREFECT_API_URL (pid $SERVER_PID)"

phase "work pool + secret + deploy"
"$PREFECT" --no-prompt work-pool create "$POOL" --type docker >&2
# The documented way: the URL goes into a Prefect Secret block; the deployments name the block.
ZLURI_DATABASE_URL="$DATABASE_URL" "$ZLURI" prefect secret set --from-env --name zluri-database-url >&2
if [ "${E2E_PREFECT_BUILD:-0}" = 1 ]; then
  # Deploy flows/prefect.yaml exactly as a user would, build steps included (docker-py
  # rebuilds the same image from the layer cache and tags it with the same commit).
  DEPLOY_FILE="$ZLURI_REPO_ROOT/flows/prefect.yaml"
  export ZLURI_BASE_IMAGE="$BASE" ZLURI_IMAGE_NAME="${IMAGE%:*}"
else
  DEPLOY_FILE="$E2E_TMP/prefect.yaml"
  "$HOST_PYTHON" "$HELPERS" deploy-config "$ZLURI_REPO_ROOT/flows/prefect.yaml" "$DEPLOY_FILE" "$IMAGE"
fi
mkdir -p "$E2E_TMP/input" "$E2E_TMP/home"
# The image runs as uid 10001: the reports / bronze volume must be writable for it.
chown 10001:10001 "$E2E_TMP/home" 2>/dev/null || chmod 0777 "$E2E_TMP/home"
# prefect deploy runs from the repository root: entrypoints are relative to it. The URL is in the
# deploy-time environment on purpose (as it may be on an operator's shell): it must not be stored.
(
  cd "$ZLURI_REPO_ROOT"
  ZLURI_DATABASE_URL="$DATABASE_URL" \
  ZLURI_INPUT_HOST_DIR="$E2E_TMP/input" \
  ZLURI_HOME_HOST_DIR="$E2E_TMP/home" \
    "$PREFECT" --no-prompt deploy --all --prefect-file "$DEPLOY_FILE"
) >"$E2E_TMP/deploy.log" 2>&1 || { cat "$E2E_TMP/deploy.log" >&2; die "prefect deploy failed"; }
"$PREFECT" deployment ls >&2
: >"$E2E_TMP/deployment.txt"
for name in "$DEPLOYMENT" "zluri_backfill/zluri-backfill"; do
  "$PREFECT" deployment inspect "$name" -o json >"$E2E_TMP/deployment.json" || die "cannot inspect $name"
  cat "$E2E_TMP/deployment.json" >>"$E2E_TMP/deployment.txt"
  "$HOST_PYTHON" "$HELPERS" check-deployment "$E2E_TMP/deployment.json" || die "deployment $name is not as flows/prefect.yaml says"
done

phase "worker"
setsid "$PREFECT" worker start --pool "$POOL" --type docker --name zluri-e2e-worker \
  >"$E2E_TMP/worker.log" 2>&1 </dev/null &
WORKER_PID=$!
disown "$WORKER_PID"
log "Docker worker started (pid $WORKER_PID)"

phase "generate input"
"$ZLURI" generate --out "$E2E_TMP/input" --days 1 \
  --agents "${E2E_AGENTS:-50}" --groups "${E2E_GROUPS:-12}" --transactions "${E2E_TRANSACTIONS:-200}" >&2
[ -d "$E2E_TMP/input/sync-$E2E_DAY" ] || die "the generator wrote no sync-$E2E_DAY folder"
chmod -R a+rX "$E2E_TMP/input"

phase "flow run"
"$PREFECT" deployment run "$DEPLOYMENT" -p "day=$E2E_DAY" -p input_root=/data/input \
  >"$E2E_TMP/run.out" 2>&1 || { cat "$E2E_TMP/run.out" >&2; die "prefect deployment run failed"; }
FLOW_RUN_ID="$("$HOST_PYTHON" "$HELPERS" flow-run-id "$E2E_TMP/run.out")"
log "flow run $FLOW_RUN_ID created; waiting up to ${E2E_FLOW_TIMEOUT}s"
set +e
"$HOST_PYTHON" "$HELPERS" wait-flow-run "$FLOW_RUN_ID" "$E2E_FLOW_TIMEOUT" | tee "$E2E_TMP/final-state.txt"
wait_rc=${PIPESTATUS[0]}
set -e
kill -0 "$WORKER_PID" 2>/dev/null || log "WARNING: the worker exited early (see worker.log)"
[ "$wait_rc" -eq 0 ] || die "flow run $FLOW_RUN_ID did not complete: $(head -n2 "$E2E_TMP/final-state.txt" | tr '\n' ' ')"

phase "database checks"
failures=0
check() {  # check DESCRIPTION SQL: SQL returns a single true/false
  local got
  got="$(psql_q "$2" 2>&1)" || got="error: $got"
  if [ "$got" = t ]; then log "ok   $1"; else log "FAIL $1 ($got)"; failures=$((failures + 1)); fi
}
for table in core.agents core.groups core.roles core.budgets core.cards core.transactions; do
  check "$table has rows" "select count(*) > 0 from $table"
done
check "ops.pipeline_metrics has rows for flow run $FLOW_RUN_ID" \
  "select count(*) > 0 from ops.pipeline_metrics where flow_run_id::text = '$FLOW_RUN_ID'"
check "every metrics row of the run is a success" \
  "select count(*) = 0 from ops.pipeline_metrics where flow_run_id::text = '$FLOW_RUN_ID' and status <> 'success'"
check "metrics rows are for day $E2E_DAY" \
  "select bool_and(day::text = '$E2E_DAY') from ops.pipeline_metrics where flow_run_id::text = '$FLOW_RUN_ID'"
if [ -d "$E2E_TMP/home/reports" ] && [ -n "$(find "$E2E_TMP/home/reports" -type f | head -n1)" ]; then
  log "ok   reports written through the volume: $(find "$E2E_TMP/home/reports" -type f | wc -l) file(s)"
else
  log "FAIL no report under the ZLURI_HOME volume ($E2E_TMP/home)"; failures=$((failures + 1))
fi
echo "--- core table row counts" >&2
psql_q "select 'core.agents', count(*) from core.agents union all select 'core.groups', count(*) from core.groups
        union all select 'core.group_memberships', count(*) from core.group_memberships
        union all select 'core.roles', count(*) from core.roles union all select 'core.agent_roles', count(*) from core.agent_roles
        union all select 'core.budgets', count(*) from core.budgets union all select 'core.cards', count(*) from core.cards
        union all select 'core.transactions', count(*) from core.transactions" | column -t -s '|' >&2 || true
echo "--- ops.pipeline_metrics of flow run $FLOW_RUN_ID" >&2
"$PG_BIN/psql" -X -P pager=off "$DATABASE_URL" -c \
  "select task_name, table_name, status, rows_inserted as ins, rows_updated as upd, rows_deleted as del,
          rows_quarantined as quar, round(duration_seconds::numeric, 2) as secs
     from ops.pipeline_metrics where flow_run_id::text = '$FLOW_RUN_ID' order by started_at" >&2 || true
[ "$failures" -eq 0 ] || die "$failures database check(s) failed"

phase "no password anywhere"
"$PREFECT" flow-run logs "$FLOW_RUN_ID" >"$E2E_TMP/flow-run.log" 2>&1 || true
"$PREFECT" artifact ls >"$E2E_TMP/artifacts.txt" 2>&1 || true
psql_q "select row_to_json(m)::text from ops.pipeline_metrics m" >"$E2E_TMP/metrics.txt"
psql_q "select row_to_json(q)::text from ops.quarantine q" >"$E2E_TMP/quarantine.txt"
leaks="$(grep -rlF -e "$E2E_PASSWORD" -e "$E2E_PASSWORD_ENC" "$E2E_TMP/home" "$E2E_TMP/worker.log" \
          "$E2E_TMP/flow-run.log" "$E2E_TMP/artifacts.txt" "$E2E_TMP/deployment.txt" "$E2E_TMP/deploy.log" \
          "$E2E_TMP/metrics.txt" "$E2E_TMP/quarantine.txt" "$E2E_TMP/run.out" "$E2E_TMP/final-state.txt" 2>/dev/null || true)"
[ -z "$leaks" ] || die "the database password appears in: $(echo $leaks)"
log "ok   the password is in no log, metrics row, quarantine row, report file, artifact or deployment"

phase ""
{
  echo
  echo "docker-e2e PASSED"
  echo "  image       $IMAGE (${IMAGE_SIZE_MB} MiB) on $BASE"
  echo "  flow run    $FLOW_RUN_ID: $(head -n1 "$E2E_TMP/final-state.txt")"
  echo "  timings"
  printf '    %s\n' "${TIMINGS[@]}"
  echo "    total                        $(( $(now) - T0 ))s"
} >&2
