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


def test_lite_int16_weights_halve_the_files_and_keep_the_frames(tmp_path):
    """``--lite_weights int16`` (opt's dynamic weight quantization) on the trained shipped model:
    the .nb files shrink by more than a third and the frames Lite x86 renders barely move."""
    pytest.importorskip("paddlelite.lite")
    from ppfom.api import load_fomm
    from ppfom.export import read_export_info
    from ppfom.infer import LiteEngine
    from ppfom.quantize import builtin_calibration

    fomm = load_fomm("firstorder_synthetic_64", weights=str(REPO / "ppfom" / "assets" / "fomm_synthetic_64.pdparams"))
    from ppfom.export import export_models

    models = ("kp_detector", "source_encoder", "frame_decoder")
    dirs = {w: export_models(fomm, tmp_path / w, models=models, lite=("x86",), lite_weights=w, progress=False)
            for w in ("fp32", "int16")}
    assert read_export_info(dirs["int16"])["lite_weights"] == "int16"
    for model in ("kp_detector", "frame_decoder"):
        small = (dirs["int16"] / f"{model}.x86.nb").stat().st_size
        assert small < 0.65 * (dirs["fp32"] / f"{model}.x86.nb").stat().st_size, model

    frames = builtin_calibration(64, max_frames=8)[1]  # the synthetic driving head
    rendered = {}
    for weights, folder in dirs.items():
        engine = LiteEngine(folder)
        cache, kp_source = engine.encode_source(frames[:1]), engine.keypoints(frames[:1])
        kp_driving = engine.keypoints(frames)
        rendered[weights] = np.concatenate([engine.generate(cache, kp_source, {k: v[i:i + 1] for k, v in kp_driving.items()})
                                            for i in range(len(frames))])
    change = np.abs(rendered["int16"] - rendered["fp32"]).mean()
    l1 = np.abs(rendered["fp32"] - frames).mean()
    assert 0 < change < 0.005 * l1, (change, l1)


def test_unknown_lite_weight_storage_is_refused(tmp_path):
    done = export_tool("--config-file", "firstorder_synthetic_64", "--lite", "x86", "--lite_weights", "int4",
                       "--output", tmp_path / "out")
    assert done.returncode != 0 and "--lite_weights" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
