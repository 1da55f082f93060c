#!/usr/bin/env python
"""Train and evaluate FOMM (PaddleGAN's tools/main.py flags; see --help).

    python tools/main.py --config-file configs/firstorder_vox_256.yaml [-o key=value] [--resume CKPT]
    python -m paddle.distributed.launch --nproc_per_node 2 tools/main.py --config-file ...
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs without installing ppfom

from ppfom.cli import run_command_script  # noqa: E402

if __name__ == "__main__":
    run_command_script("train", prog="main.py")
