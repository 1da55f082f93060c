#!/usr/bin/env bash
# The test command: sets up both environments, runs the whole suite in the pinned one and
# again in the newest-paddle one (where tests that need Paddle Lite or 2.x export skip).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
ensure_env pinned
ensure_env latest
export PYTHONDONTWRITEBYTECODE=1
echo "== pinned environment: Python 3.10, paddlepaddle 2.6.2, paddlelite 2.13rc0"
.venv/bin/python -m pytest tests -q "$@"
echo "== newest paddlepaddle: $(.venv-latest/bin/python -c 'import paddle, sys; print("Python", sys.version.split()[0], "paddlepaddle", paddle.__version__)' 2>/dev/null)"
.venv-latest/bin/python -m pytest tests -q "$@"
