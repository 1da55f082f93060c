#!/usr/bin/env bash
# The demo command: sets up the pinned environment and animates the built-in sample.
# Until the photo-animation demo lands, this runs the core networks on the shared reference
# sample (the original FOMM's checkpoint and frames) and writes output/core_demo.{png,gif}.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
ensure_env pinned
exec .venv/bin/ppfom core-demo --overwrite "$@"
