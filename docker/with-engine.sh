#!/usr/bin/env bash
# Run a command against a Docker engine: the one that answers already, else a private
# dockerd started for the command and stopped after it (see lib/common.sh).
#   bash docker/with-engine.sh bash docker/build-image.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
[ "$#" -gt 0 ] || die "usage: $0 COMMAND [ARG...]"
trap engine_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
engine_ensure
"$@"
