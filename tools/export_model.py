#!/usr/bin/env python
"""Export FOMM to Paddle inference models and Paddle Lite files (PaddleGAN's flags).

    python tools/export_model.py --config-file configs/firstorder_vox_256.yaml --load vox-cpk.pdparams \
        --export_model output_inference/ [--inputs_size "1,3,256,256;1,3,256,256;1,10,2;1,10,2,2"] [--lite arm,x86]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ppfom.cli import run_main  # noqa: E402
from ppfom.commands import export as command  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=command.HELP)
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(run_main(main))
