#!/usr/bin/env python
"""PaddleGAN's way in: ``cd applications && python tools/first-order-demo.py ...``.

The same program as ``tools/first-order-demo.py`` and ``ppfom animate``.
"""
import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    demo = Path(__file__).resolve().parents[2] / "tools" / "first-order-demo.py"
    sys.argv[0] = str(demo)
    runpy.run_path(str(demo), run_name="__main__")
