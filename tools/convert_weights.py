#!/usr/bin/env python
"""Convert an original FOMM checkpoint (.pth.tar, read without torch) to PaddleGAN's .pdparams.

    python tools/convert_weights.py SRC DST [--overwrite]

Same as ``ppfom convert``; works from the repository root without installing ppfom.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs without installing ppfom

from ppfom.cli import run_command_script  # noqa: E402

if __name__ == "__main__":
    run_command_script("convert", prog="convert_weights.py")
