# Shared helpers for the docker/ scripts. Source it; it defines functions only,
# plus defaults for the variables below (all overridable from the environment).
#
#   ZLURI_CI_CACHE   content-keyed cache OUTSIDE the clone (base rootfs tarballs, pip
#                    wheelhouse, the Docker engine's data root). Default /var/cache/zluri-ci.
#   VENV             the project's virtualenv (default <repo>/.venv); its python runs
#                    pip wheel, prefect and the zluri CLI on the host.

ZLURI_REPO_ROOT="${ZLURI_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
ZLURI_CI_CACHE="${ZLURI_CI_CACHE:-/var/cache/zluri-ci}"
VENV="${VENV:-$ZLURI_REPO_ROOT/.venv}"
HOST_PYTHON="${HOST_PYTHON:-$VENV/bin/python}"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Seconds since the epoch, for the timings the scripts print.
now() { date +%s; }

# sha256 of stdin, first 16 hex chars: short enough for a tag, long enough to be unique.
short_hash() { sha256sum | cut -c1-16; }

need_root() {
  [ "$(id -u)" = 0 ] || die "$1 needs root (it installs packages / starts a Docker engine)"
}

# apt-get install PACKAGES unless every one of them is already installed.
ensure_apt_packages() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  need_root "installing ${missing[*]}"
  log "apt-get install ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# ---------------------------------------------------------------------------------------
# Docker engine
#
# engine_ensure: use the engine DOCKER_HOST (or the default socket) already points at if
# it answers; otherwise install docker.io if needed and start a private dockerd without
# bridge networking or iptables (sandboxes and CI machines without Docker Hub allow
# neither), with its socket in a temporary folder and its data root in the cache so that
# image layers survive between runs. Sets ZLURI_STARTED_DOCKERD_PID when it started one;
# engine_stop stops only that daemon.
# ---------------------------------------------------------------------------------------
ZLURI_STARTED_DOCKERD_PID=""

engine_answers() { timeout 20 docker info >/dev/null 2>&1; }

engine_ensure() {
  command -v docker >/dev/null 2>&1 || ensure_apt_packages docker.io
  if engine_answers; then
    log "using the running Docker engine at ${DOCKER_HOST:-unix:///var/run/docker.sock}"
    return 0
  fi
  command -v dockerd >/dev/null 2>&1 || ensure_apt_packages docker.io
  need_root "starting dockerd"

  local run_dir="${ZLURI_DOCKERD_RUN_DIR:-$(mktemp -d /tmp/zluri-dockerd.XXXXXX)}"
  local data_root="${ZLURI_DOCKER_DATA_ROOT:-$ZLURI_CI_CACHE/docker-data}"
  mkdir -p "$run_dir" "$data_root"
  ZLURI_DOCKERD_RUN_DIR="$run_dir"
  ZLURI_DOCKERD_LOG="$run_dir/dockerd.log"
  export DOCKER_HOST="unix://$run_dir/docker.sock"

  log "starting dockerd (data root $data_root, socket $run_dir/docker.sock)"
  # --host-gateway-ip: with --bridge=none there is no bridge gateway to derive it from,
  # and the Prefect Docker worker always adds host.docker.internal:host-gateway.
  setsid dockerd \
    --host "$DOCKER_HOST" \
    --data-root "$data_root" \
    --exec-root "$run_dir/exec" \
    --pidfile "$run_dir/dockerd.pid" \
    --storage-driver overlay2 \
    --iptables=false --ip6tables=false --bridge=none \
    --host-gateway-ip 127.0.0.1 \
    >"$ZLURI_DOCKERD_LOG" 2>&1 </dev/null &
  ZLURI_STARTED_DOCKERD_PID=$!

  local deadline=$(( $(now) + ${ZLURI_DOCKERD_START_TIMEOUT:-60} ))
  until engine_answers; do
    if ! kill -0 "$ZLURI_STARTED_DOCKERD_PID" 2>/dev/null; then
      tail -n 30 "$ZLURI_DOCKERD_LOG" >&2 || true
      ZLURI_STARTED_DOCKERD_PID=""
      die "dockerd exited while starting (log above, full log $ZLURI_DOCKERD_LOG)"
    fi
    if [ "$(now)" -ge "$deadline" ]; then
      tail -n 30 "$ZLURI_DOCKERD_LOG" >&2 || true
      die "dockerd did not answer within ${ZLURI_DOCKERD_START_TIMEOUT:-60}s (log above)"
    fi
    sleep 0.5
  done
  log "dockerd $(docker version --format '{{.Server.Version}}') is up (pid $ZLURI_STARTED_DOCKERD_PID)"
}

engine_stop() {
  [ -n "$ZLURI_STARTED_DOCKERD_PID" ] || return 0
  local pid="$ZLURI_STARTED_DOCKERD_PID"
  ZLURI_STARTED_DOCKERD_PID=""
  kill -0 "$pid" 2>/dev/null || return 0
  log "stopping dockerd (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "dockerd did not stop in 30s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # dockerd started containerd itself (under --exec-root); it exits with dockerd, but
  # make sure no shim or containerd of ours outlives the run.
  if [ -n "${ZLURI_DOCKERD_RUN_DIR:-}" ] && [ -f "$ZLURI_DOCKERD_RUN_DIR/exec/containerd/containerd.pid" ]; then
    local cpid
    cpid="$(cat "$ZLURI_DOCKERD_RUN_DIR/exec/containerd/containerd.pid" 2>/dev/null || true)"
    [ -n "$cpid" ] && kill -0 "$cpid" 2>/dev/null && kill -TERM "$cpid" 2>/dev/null || true
  fi
  rm -rf "${ZLURI_DOCKERD_RUN_DIR:?}/exec" 2>/dev/null || true
}
