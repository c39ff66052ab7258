#!/usr/bin/env bash
# Build (or reuse) a Debian 12 base image with Python 3.11 for machines that cannot pull
# from Docker Hub, and print its reference on stdout.
#
# The rootfs comes from debootstrap against the Debian mirror apt already uses here, is
# tarred into $ZLURI_CI_CACHE/base/<key>.tar (key = hash of every debootstrap input), and
# imported with `docker import`. Later runs reuse the image if the engine still has it,
# else re-import the cached tarball (seconds), else debootstrap again (~1 min).
#
# The result plays the role of python:3.11-slim-bookworm for docker/Dockerfile
# (BASE_IMAGE build arg): python3 is Debian's 3.11 with venv, no pip (externally managed),
# so the Dockerfile always installs into its own venv.
#
# Env: ZLURI_BASE_MIRROR (default: the first Debian URI in apt's sources), ZLURI_BASE_SUITE
# (bookworm), ZLURI_BASE_TAG (zluri-base:bookworm-py311).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# The rootfs recipe. Bump RECIPE_VERSION when the steps below change in a way the key
# would not otherwise notice.
RECIPE_VERSION=2
SUITE="${ZLURI_BASE_SUITE:-bookworm}"
VARIANT=minbase
INCLUDE="python3.11,python3-venv,ca-certificates"
TAG="${ZLURI_BASE_TAG:-zluri-base:bookworm-py311}"

default_mirror() {
  # deb822 sources (URIs: ...) or one-line sources (deb URI suite ...): take the first
  # Debian archive (not -security) that apt is configured with.
  local uri
  uri="$(grep -hsE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
         | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)"
  if [ -z "$uri" ]; then
    uri="$(grep -hsE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
           | awk '{for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' | grep -E '/debian/?$' | head -n1 || true)"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR="${ZLURI_BASE_MIRROR:-$(default_mirror)}"
MIRROR="${MIRROR%/}"
SECURITY_MIRROR="${ZLURI_BASE_SECURITY_MIRROR:-${MIRROR%/debian}/debian-security}"

KEY="$(printf '%s\n' "$RECIPE_VERSION" "$SUITE" "$VARIANT" "$INCLUDE" "$MIRROR" "$SECURITY_MIRROR" "$(dpkg --print-architecture)" | short_hash)"
CACHE_DIR="$ZLURI_CI_CACHE/base"
TARBALL="$CACHE_DIR/debian-$SUITE-py311-$KEY.tar"
KEYED_TAG="${TAG}-${KEY}"

engine_answers || die "no Docker engine answers (run through docker/e2e/run.sh or start one first)"

if docker image inspect "$KEYED_TAG" >/dev/null 2>&1; then
  log "base image $KEYED_TAG already in the engine"
  [ -f "$TARBALL" ] && touch "$TARBALL"
  docker tag "$KEYED_TAG" "$TAG"
  echo "$KEYED_TAG"
  exit 0
fi

if [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null 2>&1 || ensure_apt_packages debootstrap
  need_root "debootstrap"
  mkdir -p "$CACHE_DIR"
  work="$(mktemp -d "$CACHE_DIR/.rootfs.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  rootfs="$work/rootfs"
  started=$(now)
  log "debootstrap $SUITE ($VARIANT, +$INCLUDE) from $MIRROR; log in $work/debootstrap.log"
  if ! debootstrap --variant="$VARIANT" --include="$INCLUDE" "$SUITE" "$rootfs" "$MIRROR" \
       >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    die "debootstrap failed (log above)"
  fi

  # Same apt sources as the official image: main, -updates and -security.
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
  # Keep images small the way the official slim images do: no docs, man pages or
  # translations from later apt installs, no recommends, no downloaded .debs.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/01-zluri-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/01-zluri-slim" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/02-zluri-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
EOF
  find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
         "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
         "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* \
         "$rootfs"/tmp/* "$rootfs"/root/.cache
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  # A fixed machine-id would be shared by every container; leave it empty like the official images.
  : >"$rootfs/etc/machine-id"

  tar --numeric-owner --xattrs -C "$rootfs" -cf "$work/rootfs.tar" .
  mv "$work/rootfs.tar" "$TARBALL"
  log "base rootfs cached at $TARBALL ($(du -h "$TARBALL" | cut -f1)) in $(( $(now) - started ))s"
  rm -rf "$work"
  trap - EXIT
else
  log "reusing cached base rootfs $TARBALL"
fi

evict_stale "$CACHE_DIR" "$TARBALL"
log "docker import $TARBALL as $KEYED_TAG"
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/usr/bin/python3"]' \
  --message "debootstrap $SUITE $VARIANT +$INCLUDE ($MIRROR)" \
  "$TARBALL" "$KEYED_TAG" >/dev/null
docker tag "$KEYED_TAG" "$TAG"
echo "$KEYED_TAG"
