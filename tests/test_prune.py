"""Structured pruning: measured importance decides, the rewritten config loads the pruned
weights strictly, the pruned model runs, costs less, and follows the unpruned one."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import randomize, tiny_config

from ppfom.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def mobile_config():
    cfg = tiny_config(num_kp=5, block_expansion=8, max_features=32, num_blocks=3, scale_factor=0.5,
                      align_corners=False)
    gen = cfg["model"]["generator"]
    gen["kp_detector_cfg"]["mobile_net"] = True
    gen["generator_cfg"]["mobile_net"] = True
    return cfg


def mobile_fomm(seed=0, cfg=None):
    from ppfom.api import load_fomm

    fomm = load_fomm(cfg or mobile_config())
    randomize(fomm.kp_detector, seed)
    randomize(fomm.generator, seed + 1)
    return fomm


def pairs(count=2, size=64, seed=0):
    rng = np.random.default_rng(seed)
    return [tuple(rng.uniform(0, 1, (2, 3, size, size)).astype("float32") for _ in range(2)) for _ in range(count)]


def run(fomm, source, driving):
    import paddle

    with paddle.no_grad():
        s, d = paddle.to_tensor(source), paddle.to_tensor(driving)
        kp_s, kp_d = fomm.kp_detector(s), fomm.kp_detector(d)
        out = fomm.generator(s, kp_driving=kp_d, kp_source=kp_s, full_outputs=False)
    return kp_d["value"].numpy(), out["prediction"].numpy()


def test_ratio_zero_keeps_every_channel_and_the_same_outputs():
    from ppfom.prune import prune_fomm

    fomm = mobile_fomm()
    cfg, state = prune_fomm(fomm.config, fomm.kp_detector, fomm.generator, pairs(), ratio=0.0)
    assert cfg["model"]["generator"]["generator_cfg"]["widths"] == fomm.generator.default_widths()
    for name, value in fomm.generator.state_dict().items():
        assert np.array_equal(state["generator"][name], value.numpy())


def test_pruned_weights_load_from_the_rewritten_config_and_run(tmp_path):
    from ppfom.api import load_fomm
    from ppfom.checkpoint.state import load_state_strict
    from ppfom.flops import fomm_flops, trainable_params
    from ppfom.prune import prune_fomm

    fomm = mobile_fomm()
    cfg, state = prune_fomm(fomm.config, fomm.kp_detector, fomm.generator, pairs(), ratio=0.5)
    # Through a YAML file, as tools/prune.py writes it.
    path = tmp_path / "pruned.yaml"
    path.write_text(yaml.safe_dump(cfg))
    pruned = load_fomm(str(path))
    load_state_strict(pruned.kp_detector, state["kp_detector"], "kp")
    load_state_strict(pruned.generator, state["generator"], "gen")
    widths = pruned.generator.dense_motion_network.default_widths()
    before = fomm.generator.dense_motion_network.default_widths()
    assert widths["encoder"][0] == round(before["encoder"][0] * 0.5)
    assert widths["encoder"][-1] == round(before["encoder"][-1] * 0.5)
    # The residual trunk is untouched; hidden widths shrink.
    assert pruned.generator.default_widths()["down"][-1] == fomm.generator.default_widths()["down"][-1]
    assert pruned.generator.default_widths()["bottleneck_hidden"][0] < fomm.generator.default_widths()["bottleneck_hidden"][0]
    kp, prediction = run(pruned, *pairs(1, seed=9)[0])
    assert np.isfinite(prediction).all() and prediction.shape == (2, 3, 64, 64)
    cost = lambda f: fomm_flops(f.kp_detector, f.generator, 64)["per_frame"]  # noqa: E731
    assert cost(pruned) < 0.5 * cost(fomm)
    assert trainable_params(pruned.generator) < trainable_params(fomm.generator)


def test_importance_is_measured_and_decides_which_channels_stay():
    """Silence some channels of a layer: pruning must remove exactly those."""
    import paddle

    from ppfom.prune import generator_spaces, prune_fomm

    fomm = mobile_fomm(3)
    block = fomm.generator.bottleneck.r0
    hidden = block.norm_dw.weight.shape[0]
    dead = np.arange(0, hidden, 2)
    live = np.setdiff1d(np.arange(hidden), dead)
    weight, bias = block.norm_dw.weight.numpy(), block.norm_dw.bias.numpy()
    weight[dead], bias[dead] = 0.0, -5.0   # relu(bn) == 0 on these channels, whatever comes in
    bias[live] = 5.0                       # and clearly alive on the others
    block.norm_dw.weight.set_value(paddle.to_tensor(weight))
    block.norm_dw.bias.set_value(paddle.to_tensor(bias))
    cfg, state = prune_fomm(fomm.config, fomm.kp_detector, fomm.generator, pairs(), ratio=0.5)
    kept = cfg["model"]["generator"]["generator_cfg"]["widths"]["bottleneck_hidden"][0]
    assert kept == hidden // 2
    assert np.array_equal(state["generator"]["bottleneck.r0.norm_dw.weight"],
                          fomm.generator.bottleneck.r0.norm_dw.weight.numpy()[live])
    # And removing dead channels does not change the output at all.
    _, spaces = generator_spaces(fomm.generator)
    from ppfom.api import load_fomm
    from ppfom.checkpoint.state import load_state_strict

    only_r0 = copy.deepcopy(fomm.config)
    widths = fomm.generator.default_widths()
    widths["bottleneck_hidden"][0] = kept
    only_r0["model"]["generator"]["generator_cfg"]["widths"] = widths
    from ppfom.prune import keep_indices, slice_state

    space = next(s for s in spaces if s.widths_key == "bottleneck_hidden" and s.index == 0)
    full_state = {k: v.numpy() for k, v in fomm.generator.state_dict().items()}
    sliced = slice_state(full_state, [space], {("bottleneck_hidden", 0): live})
    small = load_fomm(only_r0)
    small.kp_detector.set_state_dict(fomm.kp_detector.state_dict())
    load_state_strict(small.generator, sliced, "r0 pruned")
    source, driving = pairs(1, seed=4)[0]
    np.testing.assert_allclose(run(small, source, driving)[1], run(fomm, source, driving)[1], atol=1e-5)
    assert list(keep_indices(np.array([3.0, 1.0, 2.0, 0.5]), 0.5, 1)) == [0, 2]


def test_non_mobile_and_bad_ratio_are_refused():
    from ppfom.api import load_fomm
    from ppfom.prune import prune_fomm

    plain = load_fomm(tiny_config(align_corners=False))
    with pytest.raises(ConfigError, match="mobile"):
        prune_fomm(plain.config, plain.kp_detector, plain.generator, pairs(), ratio=0.5)
    fomm = mobile_fomm()
    with pytest.raises(ConfigError, match="ratio"):
        prune_fomm(fomm.config, fomm.kp_detector, fomm.generator, pairs(), ratio=1.0)


def test_prune_tool_writes_config_weights_and_report(tmp_path):
    import paddle

    from ppfom.data.synthetic import make_dataset

    data = tmp_path / "data"
    make_dataset(data, n_train=2, n_test=1, size=64, frames=6, seed=1, progress=False)
    fomm = mobile_fomm(5)
    cfg = copy.deepcopy(fomm.config)
    cfg["dataset"] = {"train": {"name": "FirstOrderDataset", "dataroot": str(data), "frame_shape": [64, 64, 3]}}
    config = tmp_path / "mobile.yaml"
    config.write_text(yaml.safe_dump(cfg))
    weights = tmp_path / "w.pdparams"
    paddle.save({"kp_detector": fomm.kp_detector.state_dict(), "generator": fomm.generator.state_dict()}, str(weights))
    out = tmp_path / "pruned"
    tool = [sys.executable, str(REPO / "tools" / "prune.py"), "--config-file", str(config), "--load", str(weights),
            "--pairs", "4", "--output", str(out)]
    done = subprocess.run(tool + ["--ratio", "0.5"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["after"]["macs"]["per_frame"] < report["before"]["macs"]["per_frame"]
    assert report["after"]["params"] < report["before"]["params"]
    from ppfom.api import load_fomm

    pruned = load_fomm(str(out / "config.yaml"), weights=str(out / "pruned.pdparams"))
    assert np.isfinite(run(pruned, *pairs(1)[0])[1]).all()
    # Existing output is not overwritten without asking; a bad ratio is one clear line.
    again = subprocess.run(tool + ["--ratio", "0.5"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert again.returncode != 0 and "exists" in again.stderr and "Traceback" not in again.stderr
    bad = subprocess.run(tool[:-2] + ["--output", str(tmp_path / "x"), "--ratio", "1.5"], capture_output=True,
                         text=True, cwd=REPO, timeout=300)
    assert bad.returncode != 0 and "ratio" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x").exists()
