# Shared helpers for the docker/ scripts. Source it; it defines functions only,
# plus defaults for the variables below (all overridable from the environment).
#
#   ZLURI_CI_CACHE   content-keyed cache OUTSIDE the clone (base rootfs tarballs, pip
#                    wheelhouse, Ivy jars, the private engine's data root). Default
#                    /var/cache/zluri-ci as root, else ~/.cache/zluri-ci.
#   VENV             the project's virtualenv (default <repo>/.venv); its python runs
#                    pip wheel, prefect and the zluri CLI on the host.

ZLURI_REPO_ROOT="${ZLURI_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
if [ -z "${ZLURI_CI_CACHE:-}" ]; then
  if [ "$(id -u)" = 0 ]; then ZLURI_CI_CACHE=/var/cache/zluri-ci; else ZLURI_CI_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/zluri-ci"; fi
fi
VENV="${VENV:-$ZLURI_REPO_ROOT/.venv}"
HOST_PYTHON="${HOST_PYTHON:-$VENV/bin/python}"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Seconds since the epoch, for the timings the scripts print.
now() { date +%s; }

# sha256 of stdin, first 16 hex chars: short enough for a tag, long enough to be unique.
short_hash() { sha256sum | cut -c1-16; }

# evict_stale DIR KEEP: the cache keeps one entry per content key; entries of DIR (other
# than KEEP, which is marked as used now) untouched for ZLURI_CI_CACHE_MAX_AGE_DAYS days go.
evict_stale() {
  local dir="$1" keep="$2"
  touch "$keep" 2>/dev/null || true
  [ -d "$dir" ] || return 0
  find "$dir" -mindepth 1 -maxdepth 1 ! -path "$keep" ! -name '.*' \
    -mtime +"${ZLURI_CI_CACHE_MAX_AGE_DAYS:-14}" -exec rm -rf {} + 2>/dev/null || true
}

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

  local run_dir="${ZLURI_DOCKERD_RUN_DIR:-}"
  if [ -z "$run_dir" ]; then
    run_dir="$(mktemp -d /tmp/zluri-dockerd.XXXXXX)"
    ZLURI_DOCKERD_RUN_DIR_CREATED=1
  fi
  local data_root="${ZLURI_DOCKER_DATA_ROOT:-$ZLURI_CI_CACHE/docker-data}"
  mkdir -p "$run_dir" "$data_root"
  # One dockerd per data root: a second engine on the same image store corrupts it. The
  # lock fd is inherited by dockerd, so the lock lasts exactly as long as the daemon.
  exec {ZLURI_ENGINE_LOCK_FD}>"$data_root.lock"
  if ! flock -n "$ZLURI_ENGINE_LOCK_FD"; then
    log "another private dockerd uses $data_root; waiting for it (at most ${ZLURI_ENGINE_LOCK_TIMEOUT:-1800}s)"
    flock -w "${ZLURI_ENGINE_LOCK_TIMEOUT:-1800}" "$ZLURI_ENGINE_LOCK_FD" \
      || die "$data_root is still locked by another dockerd (set ZLURI_DOCKER_DATA_ROOT to use another store)"
  fi
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
  exec {ZLURI_ENGINE_LOCK_FD}>&-

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
  # dockerd leaves its default network namespace bind-mounted under --exec-root.
  local mnt
  while read -r mnt; do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  done < <(awk -v root="$ZLURI_DOCKERD_RUN_DIR/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r)
  if [ "${ZLURI_DOCKERD_RUN_DIR_CREATED:-0}" = 1 ]; then
    rm -rf "${ZLURI_DOCKERD_RUN_DIR:?}" 2>/dev/null || true
  else
    rm -rf "${ZLURI_DOCKERD_RUN_DIR:?}/exec" 2>/dev/null || true
  fi
}
