"""The mobile (depthwise-separable) FOMM networks: PaddleGAN's vox-mobile layout, explicit widths.

The expected key lists are written from the layout of PaddleGAN's mobile networks (block by
block, with the channel numbers of its vox-mobile config), not read from our model.
"""
import math

import numpy as np
import paddle
import pytest

from ppfom.api import expected_weight_shapes, load_fomm
from ppfom.config import load_config
from ppfom.errors import ConfigError
from ppfom.modules import DenseMotionNetwork, KPDetector, OcclusionAwareGenerator
from ppfom.modules.blocks import AntiAliasInterpolation2d

BN = ("weight", "bias", "_mean", "_variance")


# ----------------------------------------------------------------------------- expected layouts


def bn(prefix, c):
    return {f"{prefix}.{k}": (c,) for k in BN}


def conv(prefix, c_out, c_in, k, bias=True):
    out = {f"{prefix}.weight": (c_out, c_in, k, k)}
    if bias:
        out[f"{prefix}.bias"] = (c_out,)
    return out


def mobile_down(prefix, i, o):
    return {**conv(f"{prefix}.conv", i, 1, 3, False), **bn(f"{prefix}.norm", i),
            **conv(f"{prefix}.conv1", o, i, 1, False), **bn(f"{prefix}.norm1", o)}


def mobile_up(prefix, i, o):
    return {**conv(f"{prefix}.conv", i, 1, 3, False), **conv(f"{prefix}.conv1", o, i, 1, False),
            **bn(f"{prefix}.norm", i), **bn(f"{prefix}.norm1", o)}


def mobile_res(prefix, c, hidden):
    return {**conv(f"{prefix}.conv_pw", hidden, c, 1, False), **conv(f"{prefix}.conv_dw", hidden, 1, 3, False),
            **conv(f"{prefix}.conv_pw_linear", c, hidden, 1, False), **bn(f"{prefix}.norm1", c),
            **bn(f"{prefix}.norm_pw", hidden), **bn(f"{prefix}.norm_dw", hidden), **bn(f"{prefix}.norm_pw_linear", c)}


def down(prefix, i, o):
    return {**conv(f"{prefix}.conv", o, i, 3), **bn(f"{prefix}.norm", o)}


def res(prefix, c):
    return {**conv(f"{prefix}.conv1", c, c, 3), **conv(f"{prefix}.conv2", c, c, 3),
            **bn(f"{prefix}.norm1", c), **bn(f"{prefix}.norm2", c)}


def hourglass(prefix, enc, dec, down_fn, up_fn):
    out = {}
    for i, (c_in, c_out) in enumerate(enc):
        out.update(down_fn(f"{prefix}.encoder.down_blocks.{i}", c_in, c_out))
    for j, (c_in, c_out) in enumerate(dec):
        out.update(up_fn(f"{prefix}.decoder.up_blocks.{j}", c_in, c_out))
    return out


def head(prefix, widths, step):
    """Convs (3x3, bias) through widths, keyed 0, step, 2*step."""
    out = {}
    for k, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
        out.update(conv(f"{prefix}.{k * step}", c_out, c_in, 3))
    return out


# PaddleGAN's vox-mobile: be 32, mf 256, num_blocks 5.
KP_ENC = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 256)]
DM_ENC = [(44, 64), (64, 128), (128, 256), (256, 256), (256, 256)]
MOBILE_DEC = [(256, 256), (512, 256), (512, 128), (256, 64), (128, 32)]


def vox_mobile_kp_detector():
    return {
        **hourglass("predictor", KP_ENC, MOBILE_DEC, mobile_down, mobile_up),
        **head("kp", [35, 35, 35, 10], 1),
        **head("jacobian", [35, 35, 35, 40], 1),
        "down.weight": (3, 1, 3, 3),
    }


def vox_mobile_generator():
    dm = "dense_motion_network"
    out = {
        **hourglass(f"{dm}.hourglass", DM_ENC, MOBILE_DEC, mobile_down, mobile_up),
        **head(f"{dm}.mask", [76, 76, 76, 11], 2),
        **head(f"{dm}.occlusion", [76, 76, 76, 1], 2),
        f"{dm}.down.weight": (3, 1, 3, 3),
    }
    for k, (c_in, c_out) in enumerate([(3, 3), (3, 3), (3, 32)]):
        out.update({**conv(f"first.{k}.conv", c_out, c_in, 3, False), **bn(f"first.{k}.norm", c_out)})
    out.update(mobile_down("down_blocks.0", 32, 64))
    out.update(mobile_down("down_blocks.1", 64, 128))
    out.update(mobile_up("up_blocks.0", 128, 64))
    out.update(mobile_up("up_blocks.1", 64, 32))
    for r in range(6):
        out.update(mobile_res(f"bottleneck.r{r}", 128, 256))
    out.update(head("final", [32, 32, 32, 3], 2))
    return out


def vox_256_kp_detector():
    enc = [(3, 64), (64, 128), (128, 256), (256, 512), (512, 1024)]
    dec = [(1024, 512), (1024, 256), (512, 128), (256, 64), (128, 32)]
    return {**hourglass("predictor", enc, dec, down, down), **conv("kp", 10, 35, 7), **conv("jacobian", 40, 35, 7),
            "down.weight": (3, 1, 13, 13)}


def vox_256_generator():
    dm = "dense_motion_network"
    enc = [(44, 128), (128, 256), (256, 512), (512, 1024), (1024, 1024)]
    dec = [(1024, 1024), (2048, 512), (1024, 256), (512, 128), (256, 64)]
    out = {**hourglass(f"{dm}.hourglass", enc, dec, down, down), **conv(f"{dm}.mask", 11, 108, 7),
           **conv(f"{dm}.occlusion", 1, 108, 7), f"{dm}.down.weight": (3, 1, 13, 13)}
    out.update({**conv("first.conv", 64, 3, 7), **bn("first.norm", 64)})
    out.update({**down("down_blocks.0", 64, 128), **down("down_blocks.1", 128, 256)})
    out.update({**down("up_blocks.0", 256, 128), **down("up_blocks.1", 128, 64)})
    for r in range(6):
        out.update(res(f"bottleneck.r{r}", 256))
    out.update(conv("final", 3, 64, 7))
    return out


def as_tuples(shapes):
    return {k: tuple(v) for k, v in shapes.items()}


def trainable(net):
    return sum(int(np.prod(p.shape)) for p in net.parameters() if not p.stop_gradient)


# ----------------------------------------------------------------------------- vox-mobile layout


@pytest.fixture(scope="module")
def vox_mobile():
    return load_fomm("firstorder_vox_mobile_256")


def test_vox_mobile_keys_and_shapes_are_paddlegans():
    shapes = expected_weight_shapes("firstorder_vox_mobile_256")
    kp, gen = vox_mobile_kp_detector(), vox_mobile_generator()
    assert (len(kp), len(gen)) == (113, 288)
    assert as_tuples(shapes["kp_detector"]) == kp
    assert as_tuples(shapes["generator"]) == gen


def test_vox_mobile_parameter_counts(vox_mobile):
    assert trainable(vox_mobile.kp_detector) == 544_361
    assert trainable(vox_mobile.generator) == 1_164_801
    total = lambda net: sum(int(np.prod(v.shape)) for v in net.state_dict().values())  # noqa: E731
    assert (total(vox_mobile.kp_detector), total(vox_mobile.generator)) == (552_522, 1_183_488)


def test_vox_mobile_config():
    cfg = load_config("firstorder_vox_mobile_256")
    model = cfg["model"]
    assert model["mode"] == "generator"
    assert model["teacher"] == {"config": "firstorder_vox_256", "weights": "vox-cpk"}
    assert model["distillation"] == {"keypoints": 10, "jacobians": 10, "prediction": 10}
    assert model["kp_weight_path"] is None and model["gen_weight_path"] is None
    assert model["numerics"]["align_corners"] is True


def test_mobile_antialias_kernel():
    layer = AntiAliasInterpolation2d(3, 0.25, mobile_net=True)
    kernel = layer.weight.numpy()
    assert kernel.shape == (3, 1, 3, 3)
    taps = np.array([math.exp(-8.0), 1.0, math.exp(-8.0)])
    want = np.outer(taps, taps) / np.outer(taps, taps).sum()
    np.testing.assert_allclose(kernel[1, 0], want, rtol=1e-6)
    out = layer(paddle.rand([1, 3, 64, 64]))
    assert out.shape == [1, 3, 16, 16]


def test_jacobian_head_starts_at_identity(vox_mobile):
    jac = vox_mobile.kp_detector.jacobian
    assert not jac[2].weight.numpy().any()
    np.testing.assert_array_equal(jac[2].bias.numpy(), np.array([1, 0, 0, 1] * 10, dtype="float32"))
    # The hidden convs are random: were they zero too, no weight of the head would ever learn.
    assert jac[0].weight.numpy().any() and jac[1].weight.numpy().any()


def jacobian_spread_after_training(kp, steps=5):
    """Std over images of the jacobians after ``steps`` Adam steps towards random targets."""
    paddle.seed(0)
    images, target = paddle.rand([4, 3, 64, 64]), paddle.rand([4, 4, 2, 2])
    kp.train()
    np.testing.assert_allclose(kp(images)["jacobian"].numpy(), np.tile(np.eye(2), (4, 4, 1, 1)), atol=1e-6)
    opt = paddle.optimizer.Adam(1e-2, parameters=kp.parameters())
    for _ in range(steps):
        loss = paddle.abs(kp(images)["jacobian"] - target).mean()
        loss.backward()
        opt.step()
        opt.clear_grad()
    kp.eval()
    return float(kp(images)["jacobian"].numpy().std(axis=0).mean())


def test_mobile_jacobian_head_learns_and_a_dead_one_is_revived():
    kp = KPDetector(**{**TINY_KP, "mobile_net": True})
    assert jacobian_spread_after_training(kp) > 1e-3  # depends on the image: the head learned
    # A head with every conv at zero (ppfom's mobile detectors before 2026-12-07) stays constant...
    dead = KPDetector(**{**TINY_KP, "mobile_net": True})
    for conv in (dead.jacobian[0], dead.jacobian[1]):
        conv.weight.set_value(paddle.zeros_like(conv.weight))
    frozen = KPDetector(**{**TINY_KP, "mobile_net": True})
    frozen.set_state_dict(dead.state_dict())
    assert jacobian_spread_after_training(frozen) < 1e-5  # rounding of the heatmap sum alone
    # ... until revived: same output, then it learns. A live head is left alone.
    images = paddle.rand([2, 3, 64, 64])
    dead.eval()
    before = dead(images)["jacobian"].numpy()
    assert dead.revive_jacobian_head() and not dead.revive_jacobian_head()
    np.testing.assert_array_equal(dead(images)["jacobian"].numpy(), before)
    assert jacobian_spread_after_training(dead) > 1e-3
    assert not KPDetector(**TINY_KP).revive_jacobian_head()  # not mobile: nothing to revive


# ----------------------------------------------------------------------------- save / load


def test_save_and_load_through_load_fomm(vox_mobile, tmp_path):
    paddle.seed(7)
    state = vox_mobile.state_dicts()
    rng = np.random.default_rng(0)
    # Random values everywhere (BN statistics included) so that a skipped key would show.
    arrays = {sec: {k: rng.standard_normal(v.shape).astype("float32") * 0.1 for k, v in sd.items()}
              for sec, sd in state.items()}
    for sd in arrays.values():
        for k in sd:
            if k.endswith("_variance"):
                sd[k] = np.abs(sd[k]) + 1.0
    path = tmp_path / "mobile.pdparams"
    paddle.save(arrays, str(path))

    fomm = load_fomm("firstorder_vox_mobile_256", weights=str(path))
    assert fomm.numerics.align_corners is True
    for sec, net in (("kp_detector", fomm.kp_detector), ("generator", fomm.generator)):
        got = net.state_dict()
        assert set(got) == set(arrays[sec])
        for k, v in arrays[sec].items():
            np.testing.assert_array_equal(got[k].numpy(), v, err_msg=k)

    x = paddle.rand([1, 3, 128, 128])
    kp = fomm.kp_detector(x)
    out = fomm.generator(x, kp_driving=kp, kp_source=kp)
    assert kp["value"].shape == [1, 10, 2] and kp["jacobian"].shape == [1, 10, 2, 2]
    assert out["prediction"].shape == [1, 3, 128, 128]
    assert np.isfinite(out["prediction"].numpy()).all()


# ----------------------------------------------------------------------------- small networks

TINY_KP = dict(block_expansion=8, num_kp=4, num_channels=3, max_features=32, num_blocks=3, temperature=0.1,
               estimate_jacobian=True, scale_factor=0.5)
TINY_GEN = dict(num_channels=3, num_kp=4, block_expansion=8, max_features=32, num_down_blocks=2,
                num_bottleneck_blocks=2, estimate_occlusion_map=True, estimate_jacobian=True,
                dense_motion_params=dict(block_expansion=8, max_features=32, num_blocks=3, scale_factor=0.5))


def run_tiny(kp_detector, generator, size=64):
    kp_detector.eval()
    generator.eval()
    src, drv = paddle.rand([2, 3, size, size]), paddle.rand([2, 3, size, size])
    kp_s, kp_d = kp_detector(src), kp_detector(drv)
    out = generator(src, kp_driving=kp_d, kp_source=kp_s)
    assert kp_s["value"].shape == [2, 4, 2] and kp_s["jacobian"].shape == [2, 4, 2, 2]
    assert out["prediction"].shape == [2, 3, size, size]
    assert out["occlusion_map"].shape == [2, 1, size // 2, size // 2]
    assert np.isfinite(out["prediction"].numpy()).all()
    return src, kp_s, kp_d, out


def test_tiny_mobile_forward_and_source_cache():
    paddle.seed(0)
    kp_detector = KPDetector(**TINY_KP, mobile_net=True)
    generator = OcclusionAwareGenerator(**TINY_GEN, mobile_net=True)
    assert generator.dense_motion_network.mobile_net
    src, kp_s, kp_d, out = run_tiny(kp_detector, generator)
    # The jacobian head starts at the identity.
    np.testing.assert_allclose(kp_s["jacobian"].numpy(), np.tile(np.eye(2), (2, 4, 1, 1)), atol=1e-5)
    cached = generator(None, kp_driving=kp_d, kp_source=kp_s, source_cache=generator.encode(src), full_outputs=False)
    np.testing.assert_array_equal(cached["prediction"].numpy(), out["prediction"].numpy())


def test_default_widths_are_complete_and_rebuild_the_same_network():
    kp_detector = KPDetector(**TINY_KP, mobile_net=True)
    generator = OcclusionAwareGenerator(**TINY_GEN, mobile_net=True)
    dm = generator.dense_motion_network
    assert kp_detector.default_widths() == {"encoder": [16, 32, 32], "decoder": [32, 16, 8], "kp": [11, 11],
                                            "jacobian": [11, 11]}
    assert dm.default_widths() == {"encoder": [16, 32, 32], "decoder": [32, 16, 8], "mask": [28, 28],
                                   "occlusion": [28, 28]}
    assert generator.default_widths() == {"first": [3, 3, 8], "down": [16, 32], "bottleneck_hidden": [64, 64],
                                          "up": [16, 8], "final": [8, 8]}
    again = KPDetector(**TINY_KP, mobile_net=True, widths=kp_detector.default_widths())
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in kp_detector.state_dict().items()}
    params = dict(TINY_GEN, dense_motion_params=dict(TINY_GEN["dense_motion_params"], widths=dm.default_widths()))
    again = OcclusionAwareGenerator(**params, mobile_net=True, widths=generator.default_widths())
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in generator.state_dict().items()}
    assert KPDetector(**TINY_KP).default_widths() is None


def test_narrowed_widths_build_run_and_have_the_narrowed_shapes():
    kp_widths = {"encoder": [5, 7, 9], "decoder": [6, 4, 3], "kp": [10, 12], "jacobian": [2, 3]}
    dm_widths = {"encoder": [9, 11, 13], "decoder": [12, 10, 5], "mask": [7, 6], "occlusion": [4, 2]}
    gen_widths = {"first": [2, 4, 6], "down": [10, 14], "bottleneck_hidden": [20, 9], "up": [12, 5],
                  "final": [7, 3]}
    kp_detector = KPDetector(**TINY_KP, mobile_net=True, widths=kp_widths)
    params = dict(TINY_GEN, dense_motion_params=dict(TINY_GEN["dense_motion_params"], widths=dm_widths))
    generator = OcclusionAwareGenerator(**params, mobile_net=True, widths=gen_widths)
    run_tiny(kp_detector, generator)
    assert kp_detector.default_widths() == kp_widths
    assert generator.default_widths() == gen_widths
    assert generator.dense_motion_network.default_widths() == dm_widths

    # e = [3, 5, 7, 9], d = [6, 4, 3]: up 0 takes e_3, up j takes d_{j-1} + e_{3-j}; output d_2 + e_0.
    want_kp = {
        **hourglass("predictor", [(3, 5), (5, 7), (7, 9)], [(9, 6), (6 + 7, 4), (4 + 5, 3)], mobile_down, mobile_up),
        **head("kp", [6, 10, 12, 4], 1), **head("jacobian", [6, 2, 3, 16], 1), "down.weight": (3, 1, 3, 3),
    }
    assert {k: tuple(v.shape) for k, v in kp_detector.state_dict().items()} == want_kp
    dm = "dense_motion_network"
    want_gen = {
        **hourglass(f"{dm}.hourglass", [(20, 9), (9, 11), (11, 13)], [(13, 12), (12 + 11, 10), (10 + 9, 5)],
                    mobile_down, mobile_up),
        **head(f"{dm}.mask", [25, 7, 6, 5], 2), **head(f"{dm}.occlusion", [25, 4, 2, 1], 2),
        f"{dm}.down.weight": (3, 1, 3, 3),
        **mobile_down("down_blocks.0", 6, 10), **mobile_down("down_blocks.1", 10, 14),
        **mobile_res("bottleneck.r0", 14, 20), **mobile_res("bottleneck.r1", 14, 9),
        **mobile_up("up_blocks.0", 14, 12), **mobile_up("up_blocks.1", 12, 5),
        **head("final", [5, 7, 3, 3], 2),
    }
    for k, (c_in, c_out) in enumerate([(3, 2), (2, 4), (4, 6)]):
        want_gen.update({**conv(f"first.{k}.conv", c_out, c_in, 3, False), **bn(f"first.{k}.norm", c_out)})
    assert {k: tuple(v.shape) for k, v in generator.state_dict().items()} == want_gen


def test_partial_widths_keep_the_other_defaults():
    kp_detector = KPDetector(**TINY_KP, mobile_net=True, widths={"decoder": [32, 16, 4]})
    # The heads follow the hourglass output (4 + 3 channels) unless given.
    assert kp_detector.default_widths() == {"encoder": [16, 32, 32], "decoder": [32, 16, 4], "kp": [7, 7],
                                            "jacobian": [7, 7]}
    generator = OcclusionAwareGenerator(**TINY_GEN, mobile_net=True, widths={"down": [16, 24]})
    assert generator.default_widths()["bottleneck_hidden"] == [48, 48]
    assert generator.default_widths()["first"] == [3, 3, 8]


@pytest.mark.parametrize("widths, message", [
    ({"encoders": [1, 2, 3]}, "unknown widths key"),
    ({"encoder": [4, 4]}, "widths.encoder"),
    ({"kp": [4, 0]}, "widths.kp"),
    ({"kp": [4, 2.5]}, "widths.kp"),
    ({"first": [3, 3, 8]}, "unknown widths key"),
])
def test_bad_kp_widths_are_config_errors(widths, message):
    with pytest.raises(ConfigError, match=message):
        KPDetector(**TINY_KP, mobile_net=True, widths=widths)


def test_bad_widths_elsewhere_are_config_errors():
    with pytest.raises(ConfigError, match="unknown widths key"):
        OcclusionAwareGenerator(**TINY_GEN, mobile_net=True, widths={"dense_motion": {}})
    with pytest.raises(ConfigError, match="widths.up"):
        OcclusionAwareGenerator(**TINY_GEN, mobile_net=True, widths={"up": [8]})
    with pytest.raises(ConfigError, match="unknown widths key"):
        DenseMotionNetwork(block_expansion=8, num_blocks=3, max_features=32, num_kp=4, num_channels=3,
                           mobile_net=True, widths={"occlusion": [2, 2]})  # no occlusion head
    with pytest.raises(ConfigError, match="mobile"):
        KPDetector(**TINY_KP, widths={"kp": [4, 4]})
    with pytest.raises(ConfigError, match="mobile"):
        OcclusionAwareGenerator(**TINY_GEN, widths={})
    params = dict(TINY_GEN, dense_motion_params=dict(TINY_GEN["dense_motion_params"], mobile_net=False))
    with pytest.raises(ConfigError, match="mobile_net"):
        OcclusionAwareGenerator(**params, mobile_net=True)


def test_bad_widths_in_a_config_are_config_errors():
    with pytest.raises(ConfigError, match="unknown widths key"):
        load_fomm("firstorder_vox_mobile_256", overrides=["+model.generator.kp_detector_cfg.widths={decoders: [1]}"])
    with pytest.raises(ConfigError, match="only for the mobile"):
        load_fomm("firstorder_vox_256", overrides=["+model.generator.generator_cfg.widths={up: [1, 2]}"])


# ----------------------------------------------------------------------------- non-mobile unchanged


def test_non_mobile_layout_unchanged():
    shapes = expected_weight_shapes("firstorder_vox_256")
    assert as_tuples(shapes["kp_detector"]) == vox_256_kp_detector()
    assert as_tuples(shapes["generator"]) == vox_256_generator()


def test_non_mobile_antialias_kernel_unchanged():
    assert AntiAliasInterpolation2d(3, 0.25).weight.shape == [3, 1, 13, 13]
