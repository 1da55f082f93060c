#!/usr/bin/env python
"""Animate the faces of a photo with a driving video (PaddleGAN's flags; see --help).

    python tools/first-order-demo.py                       # the built-in sample
    python tools/first-order-demo.py --source_image photo.jpg --driving_video drive.mp4 \
        --relative --adapt_scale [--multi_person] [--face_enhancement] [--output out/]

Also runnable as ``cd applications && python tools/first-order-demo.py`` and ``ppfom animate``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs without installing ppfom

from ppfom.cli import run_command_script  # noqa: E402

if __name__ == "__main__":
    run_command_script("animate", prog="first-order-demo.py")
