#!/usr/bin/env bash
# Build the worker image with docker/Dockerfile and print its reference on stdout.
#
# Env:
#   IMAGE_NAME   default zluri-worker
#   IMAGE_TAG    default: the short git commit (or "dev" outside a commit)
#   BASE_IMAGE   default: the official python:3.11-slim-bookworm; "local" builds/reuses the
#                debootstrapped Debian 12 base (docker/base-image.sh) for registry-less machines
#   WHEELS_DIR   prebuilt project wheels (e.g. Pants' dist/); default: pip wheel them
#   SKIP_CONTEXT=1  reuse an already staged docker/build-context
# Needs a running engine (DOCKER_HOST); docker/e2e/run.sh starts one if there is none.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

IMAGE_NAME="${IMAGE_NAME:-zluri-worker}"
if [ -z "${IMAGE_TAG:-}" ]; then
  IMAGE_TAG="$(git -C "$ZLURI_REPO_ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo dev)"
fi
IMAGE="$IMAGE_NAME:$IMAGE_TAG"

engine_answers || die "no Docker engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}"

base="${BASE_IMAGE:-python:3.11-slim-bookworm}"
if [ "$base" = local ]; then
  base="$(bash "$ZLURI_REPO_ROOT/docker/base-image.sh")"
fi

if [ "${SKIP_CONTEXT:-0}" != 1 ]; then
  bash "$ZLURI_REPO_ROOT/docker/prepare-context.sh"
fi

started=$(now)
log "docker build $IMAGE on $base"
# Legacy builder: BuildKit is not available on the engines this runs on. Host network:
# engines started without a bridge (see lib/common.sh) have no other network for RUN steps.
build() {
  DOCKER_BUILDKIT=0 docker build \
    --network host \
    --build-arg BASE_IMAGE="$base" \
    --file "$ZLURI_REPO_ROOT/docker/Dockerfile" \
    ${DOCKER_BUILD_ARGS:-} \
    "$@" \
    "$ZLURI_REPO_ROOT/docker" >&2
}
# The third-party venv stage gets a tag of its own: untagged, it would be a dangling image
# that any `docker image prune` deletes, and with it the slowest layer of the build cache.
build --target deps --tag "$IMAGE_NAME-deps:$IMAGE_TAG"
build --tag "$IMAGE"
size_bytes="$(docker image inspect --format '{{.Size}}' "$IMAGE")"
log "built $IMAGE in $(( $(now) - started ))s, size $(( size_bytes / 1024 / 1024 )) MiB"
echo "$IMAGE"
