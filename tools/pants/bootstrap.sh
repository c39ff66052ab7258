#!/usr/bin/env bash
# Installs Pants and the pex it drives into a versioned cache outside the clone, then prints that
# cache folder (ZLURI_PANTS_HOME) on stdout. Idempotent; a warm run only checks two stamps.
#
#   venv   $ZLURI_PANTS_HOME/venv          Python 3.9 + pantsbuild.pants==2.17.1 (from PyPI)
#   pex    $ZLURI_PANTS_HOME/pex-v2.1.137  `pex pex==2.1.137 -c pex` (from PyPI), which pants.ci.toml
#                                          names instead of the GitHub release Pants would download
#
# Environment: ZLURI_PANTS_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/zluri-pants),
# PANTS_PYTHON (a Python 3.9 to use instead of searching pyenv and PATH).
set -euo pipefail

PANTS_VERSION=2.17.1
PEX_VERSION=v2.1.137
# Keep in sync with [pex-cli] known_versions in pants.ci.toml.
PEX_SHA256=a8778b91ca860fc57e11593813dc9700e15906db7d21167d3cde1ea8fbcddd3c
PEX_SIZE=3563511

cache_root="${ZLURI_PANTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zluri-pants}"
home="$cache_root/$PANTS_VERSION"
venv="$home/venv"
pex="$home/pex-$PEX_VERSION"
venv_stamp="$venv/.zluri-pants-$PANTS_VERSION"

say() { echo "pants-bootstrap: $*" >&2; }

pex_ok() {
  [ -f "$pex" ] && [ "$(stat -c %s "$pex" 2>/dev/null || stat -f %z "$pex")" = "$PEX_SIZE" ]
}

if [ -f "$venv_stamp" ] && [ -x "$venv/bin/pants" ] && pex_ok; then
  echo "$home"
  exit 0
fi

is_python39() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 9))' 2>/dev/null; }

find_python39() {
  local candidate pyenv_root
  if [ -n "${PANTS_PYTHON:-}" ]; then
    is_python39 "$PANTS_PYTHON" && { echo "$PANTS_PYTHON"; return 0; }
    say "PANTS_PYTHON=$PANTS_PYTHON is not a Python 3.9"; return 1
  fi
  pyenv_root="${PYENV_ROOT:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")}"
  # Newest pyenv 3.9 first, then PATH (a pyenv shim only works when 3.9 is selected, so test it).
  for candidate in $(ls -d "$pyenv_root"/versions/3.9*/bin/python3.9 2>/dev/null | sort -rV) \
                   "$(command -v python3.9 || true)" /usr/bin/python3.9 /usr/local/bin/python3.9; do
    is_python39 "$candidate" && { echo "$candidate"; return 0; }
  done
  return 1
}

mkdir -p "$home"
# One bootstrap at a time per cache (parallel make, two clones).
if command -v flock >/dev/null; then
  exec 9>"$home/.lock"
  flock 9
fi

if ! [ -f "$venv_stamp" ] || ! [ -x "$venv/bin/pants" ]; then
  python39="$(find_python39)" || {
    if command -v pyenv >/dev/null; then
      say "no Python 3.9 found; trying 'pyenv install --skip-existing 3.9'"
      pyenv install --skip-existing 3.9 >&2 && python39="$(find_python39)"
    fi
    [ -n "${python39:-}" ] || {
      say "Pants $PANTS_VERSION needs Python 3.9: install one (pyenv install 3.9) or set PANTS_PYTHON"
      exit 1
    }
  }
  say "installing pantsbuild.pants==$PANTS_VERSION on $python39 into $venv"
  # Console scripts embed the venv path, so build in place; the stamp is written last, so an
  # interrupted install is redone from scratch next time.
  rm -rf "$venv"
  "$python39" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "pantsbuild.pants==$PANTS_VERSION" >&2
  touch "$venv_stamp"
fi

if ! pex_ok; then
  say "building pex $PEX_VERSION from PyPI into $pex"
  "$venv/bin/pex" "pex==${PEX_VERSION#v}" -c pex --python-shebang '/usr/bin/env python3' -o "$pex.tmp" >&2
  actual="$("$venv/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$pex.tmp")"
  if [ "$actual" != "$PEX_SHA256" ]; then
    say "built pex has sha256 $actual, expected $PEX_SHA256 (update pants.ci.toml and this script together)"
    rm -f "$pex.tmp"
    exit 1
  fi
  mv "$pex.tmp" "$pex"
fi

echo "$home"
