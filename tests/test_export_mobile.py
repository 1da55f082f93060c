"""Exporting the mobile networks: tools/export_model.py --mobile_net, the Lite rules, and a
pruned model exported from its rewritten config."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
import yaml

from helpers import randomize

from test_export import _check_lite_rules
from test_prune import mobile_config, mobile_fomm, pairs

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    not paddle.__version__.startswith("2."),
    reason="inference-model export for Paddle Lite needs paddlepaddle < 3.2; the pinned env runs this",
)


def export_tool(*args):
    return subprocess.run([sys.executable, str(REPO / "tools" / "export_model.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=600)


def test_pruned_mobile_model_exports_and_matches_dygraph(tmp_path):
    from ppfom.export import export_models
    from ppfom.prune import prune_fomm

    fomm = mobile_fomm(2)
    cfg, state = prune_fomm(fomm.config, fomm.kp_detector, fomm.generator, pairs(), ratio=0.5)
    config = tmp_path / "pruned.yaml"
    config.write_text(yaml.safe_dump(cfg))
    weights = tmp_path / "pruned.pdparams"
    paddle.save(state, str(weights))
    done = export_tool("--config-file", config, "--load", weights, "--mobile_net", "--output", tmp_path / "out",
                       "--models", "kp_detector,source_encoder,frame_decoder",
                       "--inputs_size", "1,3,64,64;1,3,64,64;1,5,2;1,5,2,2")
    assert done.returncode == 0, done.stderr
    for model in ("kp_detector", "source_encoder", "frame_decoder"):
        _check_lite_rules(str(tmp_path / "out" / model))

    from ppfom.api import load_fomm

    pruned = load_fomm(str(config), weights=str(weights))
    source, driving = pairs(1, seed=3)[0]
    with paddle.no_grad():
        ks, kd = pruned.kp_detector(paddle.to_tensor(source[:1])), pruned.kp_detector(paddle.to_tensor(driving[:1]))
        expected = pruned.generator(paddle.to_tensor(source[:1]), kp_driving=kd, kp_source=ks,
                                    full_outputs=False)["prediction"].numpy()
    from ppfom.infer import InferenceEngine

    engine = InferenceEngine(tmp_path / "out", threads=1)
    cache = engine.encode_source(source[:1])
    got = engine.generate(cache, engine.keypoints(source[:1]), engine.keypoints(driving[:1]))
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_mobile_net_flag_refuses_a_full_config(tmp_path):
    cfg = mobile_config()
    for section in ("kp_detector_cfg", "generator_cfg"):
        cfg["model"]["generator"][section].pop("mobile_net")
    config = tmp_path / "full.yaml"
    config.write_text(yaml.safe_dump(cfg))
    done = export_tool("--config-file", config, "--mobile_net", "--output", tmp_path / "out")
    assert done.returncode != 0 and "not a mobile config" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
