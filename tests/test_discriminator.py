"""The multi-scale discriminator: builds from the configs' discriminator_cfg, runs, original names."""
import numpy as np
import paddle

from ppfom.checkpoint.convert import torch_state_to_paddle
from ppfom.config import load_config
from ppfom.registry import DISCRIMINATORS


def build(cfg_name, **changes):
    import ppfom.modules  # noqa: F401  (fills the registries)

    cfg = load_config(cfg_name)
    disc_cfg = {**cfg["model"]["discriminator"]["discriminator_cfg"], **changes}
    common = cfg["model"]["common_params"]
    return DISCRIMINATORS.build({"name": "MultiScaleDiscriminator", **disc_cfg, **common})


def test_vox_discriminator_runs_at_every_scale():
    disc = build("firstorder_vox_256", scales=[1, 0.5], block_expansion=8, max_features=32)
    images = {"prediction_1": paddle.rand([2, 3, 128, 128]), "prediction_0.5": paddle.rand([2, 3, 64, 64])}
    out = disc(images)
    assert [list(f.shape) for f in out["feature_maps_1"]] == [[2, 16, 62, 62], [2, 32, 29, 29], [2, 32, 13, 13], [2, 32, 10, 10]]
    assert list(out["prediction_map_0.5"].shape) == [2, 1, 2, 2]
    keys = list(disc.state_dict())
    # The original's names: scale keys with '-', spectral norm's weight_orig/u/v, InstanceNorm scale.
    assert "discs.0-5.down_blocks.0.conv.weight_orig" in keys
    assert "discs.1.down_blocks.1.conv.weight_u" in keys and "discs.1.conv.weight_v" in keys
    assert "discs.1.down_blocks.1.norm.scale" in keys


def test_keypoint_conditioned_discriminator():
    disc = build("firstorder_vox_256", use_kp=True, block_expansion=8, max_features=32)
    kp = {"value": paddle.to_tensor(np.random.default_rng(0).uniform(-1, 1, (2, 10, 2)).astype("float32"))}
    out = disc({"prediction_1": paddle.rand([2, 3, 64, 64])}, kp)
    assert list(disc.state_dict()["discs.1.down_blocks.0.conv.weight_orig"].shape) == [16, 3 + 10, 4, 4]
    assert np.isfinite(out["prediction_map_1"].numpy()).all()


def test_torch_discriminator_names_convert_to_ours():
    """A state dict named as torch names the original's discriminator loads into ours."""
    disc = build("firstorder_vox_256", block_expansion=8, max_features=32)
    ours = disc.state_dict()
    torch_named = {}
    for key, value in ours.items():
        torch_named[key.replace("norm.scale", "norm.weight")] = value.numpy()
    converted = torch_state_to_paddle(torch_named)
    assert list(converted) == list(ours)
