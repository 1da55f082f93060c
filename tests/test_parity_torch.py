"""Parity on configs and seeds the fixture does not cover.

tests/reference/fomm_torch.py is an independent PyTorch implementation of the original FOMM,
checked against the original's own outputs (tests/reference/README.md). Here it makes fresh
weights, checkpoints in both torch formats and reference outputs for several architecture
variants and seeds; ppfom loads each checkpoint through load_fomm and must reproduce them.
Runs where torch is installed (the newest-paddle environment of scripts/test.sh).
"""
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parent / "reference"))

from make_reference import make_reference, variant_params  # noqa: E402

from ppfom import load_fomm  # noqa: E402

from parity import assert_parity, run_like_original_demo  # noqa: E402

CASES = [("vox", 11), ("nojac", 12), ("single_jac", 13), ("kp5", 14), ("pad3", 15), ("noocc", 16),
         ("bigger", 17), ("noscale", 18), ("temp", 19), ("noadapt", 20), ("absolute", 21)]


@pytest.mark.parametrize("variant,seed", CASES, ids=[c[0] for c in CASES])
def test_ppfom_reproduces_the_reference(tmp_path, variant, seed):
    model_params, size, normalization = variant_params(variant)
    paths = make_reference(model_params, seed=seed, size=size, n_frames=3, out_dir=tmp_path,
                           normalization=normalization)
    reference = dict(np.load(paths["npz"]))
    config = yaml.safe_load(Path(paths["config"]).read_text())
    fmt = "checkpoint_zip" if seed % 2 else "checkpoint_legacy"
    fomm = load_fomm(config, weights=paths[fmt])
    ours = run_like_original_demo(fomm, reference["input/source"], reference["input/driving"], normalization)
    assert_parity(ours, reference, f"{variant} seed {seed} ({fmt})")
