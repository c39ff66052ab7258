#!/usr/bin/env bash
# Stage docker/build-context/ for docker/Dockerfile (build context: docker/):
#
#   wheels/            the four project wheels (zluri-metrics, -pg, -staging, -flows)
#   wheelhouse/        every third-party wheel they need, pinned by constraints.txt
#   requirements.txt   the third-party requirements our wheels declare
#   constraints.txt    constraints.txt without our own packages or local paths
#   sql/               sql/migrations and sql/upserts (ENV ZLURI_SQL_DIR in the image)
#   app/flows/src/...  the flow sources, so the deployments' file entrypoint
#                      (flows/src/zluri_flows/flow.py:...) resolves in the image's workdir
#
# Project wheels: from $WHEELS_DIR if set (e.g. Pants' dist/), else `pip wheel --no-deps`.
# Third-party wheels: from a wheelhouse in $ZLURI_CI_CACHE keyed by the pins, filled from
# PyPI only when something is missing (pyspark is a ~450 MB sdist: built once, then reused).
# The image build itself then installs with --no-index: no PyPI traffic inside docker build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CONTEXT="${ZLURI_BUILD_CONTEXT:-$ZLURI_REPO_ROOT/docker/build-context}"
CONSTRAINTS="${CONSTRAINTS:-$ZLURI_REPO_ROOT/constraints.txt}"
TOOLS="$ZLURI_REPO_ROOT/docker/lib/context_tools.py"
# "./" prefixes: a bare "flows" is a valid PyPI name, and pip would fetch that instead.
PROJECT_DIRS=(./packages/metrics ./packages/pg ./packages/staging ./flows)
PROJECT_DISTS=(zluri_metrics zluri_pg zluri_staging zluri_flows)

[ -x "$HOST_PYTHON" ] || die "no python at $HOST_PYTHON (set VENV or HOST_PYTHON; run 'make setup' first)"
host_version="$("$HOST_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
# Wheels are built on the host for the image: same interpreter minor and Debian 12 glibc.
[ "$host_version" = 3.11 ] || die "$HOST_PYTHON is Python $host_version; the image runs 3.11, build wheels with a 3.11 venv"

started=$(now)
cd "$ZLURI_REPO_ROOT"
mkdir -p "$CONTEXT"
stage="$(mktemp -d "$CONTEXT/.stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

# --- project wheels -----------------------------------------------------------------
rm -rf "$CONTEXT/wheels"
mkdir -p "$CONTEXT/wheels"
if [ -n "${WHEELS_DIR:-}" ]; then
  log "taking project wheels from WHEELS_DIR=$WHEELS_DIR"
  for dist in "${PROJECT_DISTS[@]}"; do
    mapfile -t found < <(find "$WHEELS_DIR" -maxdepth 1 -name "${dist}-*.whl" | sort)
    [ "${#found[@]}" -eq 1 ] || die "expected exactly one ${dist}-*.whl in $WHEELS_DIR, found ${#found[@]}"
    cp "${found[0]}" "$CONTEXT/wheels/"
  done
else
  log "pip wheel --no-deps ${PROJECT_DIRS[*]}"
  "$HOST_PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$CONTEXT/wheels" "${PROJECT_DIRS[@]}" >&2
fi
for dist in "${PROJECT_DISTS[@]}"; do
  compgen -G "$CONTEXT/wheels/${dist}-*.whl" >/dev/null || die "no ${dist} wheel was produced"
done

# --- pins and requirements -----------------------------------------------------------
if [ -f "$CONSTRAINTS" ]; then
  "$HOST_PYTHON" "$TOOLS" constraints "$CONSTRAINTS" "$CONTEXT/constraints.txt"
else
  log "WARNING: $CONSTRAINTS not found; third-party versions are not pinned"
  : >"$CONTEXT/constraints.txt"
fi
"$HOST_PYTHON" "$TOOLS" requirements "$CONTEXT"/wheels/*.whl >"$CONTEXT/requirements.txt"

# --- third-party wheelhouse ----------------------------------------------------------
key="$( { echo "py$host_version-$(uname -m)"; cat "$CONTEXT/constraints.txt"; } | short_hash)"
WHEELHOUSE="${ZLURI_WHEELHOUSE:-$ZLURI_CI_CACHE/wheelhouse/py$host_version-$key}"
mkdir -p "$WHEELHOUSE"

resolve_offline() {
  # Resolve the closure from the cached wheelhouse alone; the report names each wheel.
  PIP_FIND_LINKS= "$HOST_PYTHON" -m pip install --quiet --dry-run --ignore-installed \
    --no-index --find-links "$WHEELHOUSE" \
    --only-binary :all: \
    -c "$CONTEXT/constraints.txt" -r "$CONTEXT/requirements.txt" \
    --report "$stage/report.json" >"$stage/resolve.log" 2>&1
}

if resolve_offline; then
  log "wheelhouse $WHEELHOUSE is complete for these pins"
else
  log "filling wheelhouse $WHEELHOUSE from PyPI (first run for these pins builds pyspark: a few minutes)"
  fill_started=$(now)
  PIP_FIND_LINKS= "$HOST_PYTHON" -m pip wheel --quiet \
    --wheel-dir "$WHEELHOUSE" --find-links "$WHEELHOUSE" \
    -c "$CONTEXT/constraints.txt" -r "$CONTEXT/requirements.txt" >&2
  # pip wheel also drops our own wheels there when they are dependencies; they belong
  # to the commit being built, never to a cache keyed by third-party pins.
  find "$WHEELHOUSE" -maxdepth 1 -name 'zluri_*.whl' -delete
  log "wheelhouse filled in $(( $(now) - fill_started ))s"
  resolve_offline || { cat "$stage/resolve.log" >&2; die "the wheelhouse still does not resolve offline"; }
fi

rm -rf "$CONTEXT/wheelhouse"
"$HOST_PYTHON" "$TOOLS" link-closure "$stage/report.json" "$CONTEXT/wheelhouse"

# --- SQL and flow sources -------------------------------------------------------------
rm -rf "$CONTEXT/sql" "$CONTEXT/app"
mkdir -p "$CONTEXT/sql" "$CONTEXT/app/flows/src"
for sub in migrations upserts; do
  [ -d "sql/$sub" ] || die "sql/$sub is missing"
  cp -R "sql/$sub" "$CONTEXT/sql/$sub"
done
cp -R flows/src/zluri_flows "$CONTEXT/app/flows/src/zluri_flows"
find "$CONTEXT/app" "$CONTEXT/sql" -name '__pycache__' -type d -prune -exec rm -rf {} +
# Files in the image must be readable by its non-root user whatever the host umask was.
chmod -R a+rX "$CONTEXT"

log "build context ready in $(( $(now) - started ))s: $(ls "$CONTEXT/wheels" | wc -l) project wheels, \
$(ls "$CONTEXT/wheelhouse" | wc -l) third-party wheels ($(du -sh "$CONTEXT/wheelhouse" | cut -f1))"
