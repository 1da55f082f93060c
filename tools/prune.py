#!/usr/bin/env python
"""Prune a mobile FOMM's channels by measured importance (see ``ppfom prune --help``).

    python tools/prune.py --config-file CONFIG --load WEIGHTS --ratio 0.5 [--output DIR]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs without installing ppfom

from ppfom.cli import run_command_script  # noqa: E402

if __name__ == "__main__":
    run_command_script("prune", prog="prune.py")
