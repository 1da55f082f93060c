#!/usr/bin/env python
"""Convert an original FOMM checkpoint (.pth.tar, read without torch) to PaddleGAN's .pdparams.

    python tools/convert_weights.py SRC DST [--overwrite]

Same as ``ppfom convert``; works from the repository root without installing ppfom.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppfom.cli import run_main  # noqa: E402
from ppfom.commands import convert  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(prog="convert_weights.py", description=convert.HELP)
    convert.add_arguments(parser)
    return convert.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(run_main(main))
