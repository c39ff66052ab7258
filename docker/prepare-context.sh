#!/usr/bin/env bash
# Stage docker/build-context/ for docker/Dockerfile (build context: docker/):
#
#   wheels/            the four runtime wheels (zluri-metrics, -pg, -staging, -flows); never
#                      zluri-feedgen, the feed generator (a dev and test tool: flow runs never
#                      generate input; zluri-flows names it only as its optional feedgen extra)
#   wheelhouse/        every third-party wheel they need, pinned by constraints.txt
#   requirements.txt   the third-party requirements our wheels declare
#   constraints.txt    constraints.txt without our own packages or local paths
#   ivy/               Delta's and the S3 jars (hadoop-aws, AWS SDK bundle) resolved by Ivy
#                      (spark.jars.ivy=/opt/zluri/ivy in the image)
#   app/flows/src/...  the flow sources, so the deployments' file entrypoint
#                      (flows/src/zluri_flows/flow.py:...) resolves in the image's workdir
#
# Project wheels: from $WHEELS_DIR if set (e.g. Pants' dist/, which also holds zluri-feedgen's
# wheel: only the four runtime ones are taken), else `pip wheel --no-deps` of the four.
# Third-party wheels: from a wheelhouse in $ZLURI_CI_CACHE keyed by the pins, filled from
# PyPI only when something is missing (pyspark is a ~450 MB sdist: built once, then reused).
# Ivy cache: resolved on the host (which trusts this machine's TLS setup) by the pinned
# pyspark + delta-spark, once per pair of versions, in $ZLURI_CI_CACHE/ivy.
# The image build itself then installs with --no-index and copies the jars: no PyPI or
# Maven traffic inside docker build (apt for Java is its only network use).
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
  # Build backends (setuptools, wheel) in a venv cached by the build-system requirements:
  # pip's per-package build isolation would fetch them from PyPI on every run.
  build_requires="$("$HOST_PYTHON" - "${PROJECT_DIRS[@]}" <<'PY'
import sys, tomllib
requires = set()
for project in sys.argv[1:]:
    with open(f"{project}/pyproject.toml", "rb") as f:
        requires.update(tomllib.load(f).get("build-system", {}).get("requires", ["setuptools", "wheel"]))
print("\n".join(sorted(requires)))
PY
)"
  build_venv="$ZLURI_CI_CACHE/wheel-build/py$host_version-$(echo "$build_requires" | short_hash)"
  if [ ! -f "$build_venv/.complete" ]; then
    log "creating the wheel-build venv $build_venv"
    rm -rf "$build_venv"
    "$HOST_PYTHON" -m venv "$build_venv"
    mapfile -t build_requirements <<<"$build_requires"
    PIP_FIND_LINKS= "$build_venv/bin/python" -m pip install --quiet "${build_requirements[@]}" >&2
    touch "$build_venv/.complete"
  fi
  evict_stale "$ZLURI_CI_CACHE/wheel-build" "$build_venv"
  # Build from clean copies: setuptools leaves build/ and *.egg-info in the source tree,
  # and a stale build/lib would smuggle deleted modules into the next wheel.
  sources=()
  for project in "${PROJECT_DIRS[@]}"; do
    copy="$stage/src/$(basename "$project")"
    mkdir -p "$copy"
    tar -C "$project" --exclude=./build --exclude='*.egg-info' --exclude=__pycache__ \
        --exclude=./tests --exclude=.pytest_cache -cf - . | tar -C "$copy" -xf -
    sources+=("$copy")
  done
  log "pip wheel --no-deps ${PROJECT_DIRS[*]}"
  PIP_FIND_LINKS= "$build_venv/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation \
    --wheel-dir "$CONTEXT/wheels" "${sources[@]}" >&2
fi
for dist in "${PROJECT_DISTS[@]}"; do
  compgen -G "$CONTEXT/wheels/${dist}-*.whl" >/dev/null || die "no ${dist} wheel was produced"
done
staged_wheels=("$CONTEXT"/wheels/*.whl)
[ "${#staged_wheels[@]}" -eq "${#PROJECT_DISTS[@]}" ] \
  || die "expected only the runtime wheels (${PROJECT_DISTS[*]}) in $CONTEXT/wheels, found: $(ls "$CONTEXT/wheels")"

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
    --no-index --find-links "$WHEELHOUSE" --only-binary :all: \
    -c "$CONTEXT/constraints.txt" "$@" \
    --report "$stage/report.json" >"$stage/resolve.log" 2>&1
}

fill_wheelhouse() {
  log "filling wheelhouse $WHEELHOUSE from PyPI (the first run for these pins builds pyspark: minutes)"
  local fill_started
  fill_started=$(now)
  PIP_FIND_LINKS= "$HOST_PYTHON" -m pip wheel --quiet \
    --wheel-dir "$WHEELHOUSE" --find-links "$WHEELHOUSE" \
    -c "$CONTEXT/constraints.txt" "$@" >&2
  # pip wheel also drops our own wheels there when they are dependencies; they belong
  # to the commit being built, never to a cache keyed by third-party pins.
  find "$WHEELHOUSE" -maxdepth 1 -name 'zluri_*.whl' -delete
  log "wheelhouse filled in $(( $(now) - fill_started ))s"
}

ensure_resolved() {
  resolve_offline "$@" && return 0
  fill_wheelhouse "$@"
  resolve_offline "$@" || { cat "$stage/resolve.log" >&2; die "the wheelhouse still does not resolve offline"; }
}

requirement_args=(-r "$CONTEXT/requirements.txt")
ensure_resolved "${requirement_args[@]}"
# The image's python may be an older 3.11 patch release than the host's (Debian 12: 3.11.2).
"$HOST_PYTHON" "$TOOLS" patch-level-extras "$stage/report.json" >"$stage/patch-level-extras.txt"
if [ -s "$stage/patch-level-extras.txt" ]; then
  log "also keeping wheels older 3.11 releases need: $(tr '\n' ' ' <"$stage/patch-level-extras.txt")"
  requirement_args+=(-r "$stage/patch-level-extras.txt")
  ensure_resolved "${requirement_args[@]}"
fi
log "wheelhouse $WHEELHOUSE resolves these pins offline"
evict_stale "$ZLURI_CI_CACHE/wheelhouse" "$WHEELHOUSE"

rm -rf "$CONTEXT/wheelhouse"
"$HOST_PYTHON" "$TOOLS" link-closure "$stage/report.json" "$CONTEXT/wheelhouse"

# --- Delta's jars (Ivy cache) ----------------------------------------------------------
versions="$("$HOST_PYTHON" - "$stage/report.json" <<'PY'
import json, sys
pins = {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"]
        for i in json.load(open(sys.argv[1]))["install"]}
print(f"pyspark=={pins['pyspark']} delta-spark=={pins['delta-spark']}")
PY
)"
# The jars also depend on the S3 packages warm_spark.py adds (hadoop-aws + AWS SDK bundle).
ivy_key="$(echo "$versions +hadoop-aws" | short_hash)"
IVY_CACHE="$ZLURI_CI_CACHE/ivy/$ivy_key"
if [ ! -f "$IVY_CACHE/.complete" ]; then
  command -v java >/dev/null 2>&1 || ensure_apt_packages openjdk-17-jre-headless
  log "resolving Delta's and the S3 jars for $versions into $IVY_CACHE (Maven Central, once)"
  ivy_started=$(now)
  mkdir -p "$ZLURI_CI_CACHE/ivy"
  ivy_tmp="$(mktemp -d "$ZLURI_CI_CACHE/ivy/.tmp.XXXXXX")"
  # A throwaway venv with exactly the pinned pair, from the wheelhouse: the dev venv may
  # hold other versions, and the coordinates depend on both.
  "$HOST_PYTHON" -m venv "$ivy_tmp/venv"
  PIP_FIND_LINKS= "$ivy_tmp/venv/bin/pip" install --quiet --no-index --find-links "$WHEELHOUSE" \
    -c "$CONTEXT/constraints.txt" $versions >&2
  if ! ZLURI_IVY_DIR="$ivy_tmp/ivy" "$ivy_tmp/venv/bin/python" "$ZLURI_REPO_ROOT/docker/warm_spark.py" \
       >"$ivy_tmp/warm.log" 2>&1; then
    tail -n 40 "$ivy_tmp/warm.log" >&2
    rm -rf "$ivy_tmp"
    die "could not resolve Delta's jars from Maven Central (log above)"
  fi
  "$HOST_PYTHON" "$TOOLS" dedupe-ivy "$ivy_tmp/ivy"
  rm -rf "$IVY_CACHE"
  mv "$ivy_tmp/ivy" "$IVY_CACHE"
  touch "$IVY_CACHE/.complete"
  rm -rf "$ivy_tmp"
  log "Delta's jars cached in $(( $(now) - ivy_started ))s ($(du -sh "$IVY_CACHE" | cut -f1))"
fi
evict_stale "$ZLURI_CI_CACHE/ivy" "$IVY_CACHE"
rm -rf "$CONTEXT/ivy"
cp -al "$IVY_CACHE" "$CONTEXT/ivy" 2>/dev/null || cp -a "$IVY_CACHE" "$CONTEXT/ivy"
rm -f "$CONTEXT/ivy/.complete"

# --- flow sources (the SQL files ship inside the zluri-pg wheel) -----------------------
rm -rf "$CONTEXT/sql" "$CONTEXT/app"
mkdir -p "$CONTEXT/app/flows/src"
cp -R flows/src/zluri_flows "$CONTEXT/app/flows/src/zluri_flows"
find "$CONTEXT/app" -name '__pycache__' -type d -prune -exec rm -rf {} +
# Files in the image must be readable by its non-root user whatever the host umask was.
chmod -R a+rX "$CONTEXT"

log "build context ready in $(( $(now) - started ))s: $(ls "$CONTEXT/wheels" | wc -l) project wheels, \
$(ls "$CONTEXT/wheelhouse" | wc -l) third-party wheels ($(du -sh "$CONTEXT/wheelhouse" | cut -f1))"
