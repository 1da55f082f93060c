#!/usr/bin/env python
"""Animate the faces of a photo with a driving video (PaddleGAN's flags; see --help).

    python tools/first-order-demo.py                       # the built-in sample
    python tools/first-order-demo.py --source_image photo.jpg --driving_video drive.mp4 \
        --relative --adapt_scale [--multi_person] [--face_enhancement] [--output out/]

Also runnable as ``cd applications && python tools/first-order-demo.py`` and ``ppfom animate``.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ppfom.cli import run_main  # noqa: E402
from ppfom.commands import animate as command  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=command.HELP)
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(run_main(main))
