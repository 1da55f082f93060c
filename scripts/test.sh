#!/usr/bin/env bash
# The test command: sets up both environments, runs the whole suite in the pinned one and
# again in the newest-paddle one (where tests that need Paddle Lite or 2.x export skip).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
ensure_env pinned
ensure_env latest
# Best effort: tests/test_deploy_cpp.py cross-builds deploy/lite for aarch64 and runs it under
# qemu when these are installed (and skips those checks otherwise).
if [ "$(id -u)" = 0 ] && ! command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++-aarch64-linux-gnu qemu-user; } >/dev/null 2>&1; then
    echo "note: could not install g++-aarch64-linux-gnu and qemu-user; the aarch64 deploy tests will skip"
  fi
fi
export PYTHONDONTWRITEBYTECODE=1
# One pytest worker per core (PPFOM_TEST_WORKERS=1 runs in one process). Each test file stays on
# one worker, so module fixtures (a trained or exported model) are built once; tests write only
# under their tmp_path.
WORKERS="${PPFOM_TEST_WORKERS:-$(nproc 2>/dev/null || echo 1)}"
PARALLEL=()
if [ "$WORKERS" -gt 1 ]; then
  PARALLEL=(-n "$WORKERS" --dist loadfile)
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"   # one thread per worker: no oversubscription
fi
echo "== pinned environment: Python 3.10, paddlepaddle 2.6.2, paddlelite 2.13rc0"
.venv/bin/python -m pytest tests -q ${PARALLEL[@]+"${PARALLEL[@]}"} "$@"
echo "== newest paddlepaddle: $(.venv-latest/bin/python -c 'import paddle, sys; print("Python", sys.version.split()[0], "paddlepaddle", paddle.__version__)' 2>/dev/null)"
.venv-latest/bin/python -m pytest tests -q ${PARALLEL[@]+"${PARALLEL[@]}"} "$@"
