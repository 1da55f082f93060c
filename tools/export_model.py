#!/usr/bin/env python
"""Export FOMM to Paddle inference models and Paddle Lite files (PaddleGAN's flags).

    python tools/export_model.py --config-file configs/firstorder_vox_256.yaml --load vox-cpk.pdparams \
        --export_model output_inference/ [--inputs_size "1,3,256,256;1,3,256,256;1,10,2;1,10,2,2"] [--lite arm,x86]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs without installing ppfom

from ppfom.cli import run_command_script  # noqa: E402

if __name__ == "__main__":
    run_command_script("export", prog="export_model.py")
