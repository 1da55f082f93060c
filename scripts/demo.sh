#!/usr/bin/env bash
# The demo command: sets up the pinned environment and animates the built-in sample
# (a group photo and a driving video that ppfom makes itself) into output/sample.mp4.
# It runs offline with the small model ppfom ships (ppfom/assets, MODEL_CARD.md). Should those
# weights be missing (exit code 3), it says so and runs the core networks on the shared
# reference sample instead (output/core_demo.{png,gif}).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
ensure_env pinned
set +e
.venv/bin/ppfom animate --overwrite "$@"
rc=$?
set -e
if [ "$rc" -eq 3 ]; then
  echo "The photo demo needs the weights named above. Meanwhile, the core networks on the shared reference sample:"
  exec .venv/bin/ppfom core-demo --overwrite
fi
exit "$rc"
