"""load_fomm's contract: shapes, strict loading by name, PaddleGAN layout round trip."""
import numpy as np
import paddle
import pytest

from ppfom import load_fomm, normalize_kp
from ppfom.errors import CheckpointError, ConfigError

from helpers import randomize, tiny_config


@pytest.fixture(scope="module")
def fomm():
    model = load_fomm(tiny_config())
    randomize(model.kp_detector, 3), randomize(model.generator, 4)
    return model.eval()


def frames(n, size=64, seed=0):
    rng = np.random.default_rng(seed)
    return paddle.to_tensor(rng.uniform(0, 1, (n, 3, size, size)).astype("float32"))


def test_output_shapes_and_ranges(fomm):
    with paddle.no_grad():
        kp = fomm.kp_detector(frames(2))
        assert kp["value"].shape == [2, 5, 2] and kp["jacobian"].shape == [2, 5, 2, 2]
        assert float(paddle.abs(kp["value"]).max()) <= 1.0
        out = fomm.generator(frames(2), kp_source=kp, kp_driving=kp)
    assert out["prediction"].shape == [2, 3, 64, 64]
    assert out["mask"].shape == [2, 6, 16, 16]
    assert out["sparse_deformed"].shape == [2, 6, 3, 16, 16]
    assert out["occlusion_map"].shape == [2, 1, 16, 16]
    assert out["deformed"].shape == [2, 3, 64, 64]
    np.testing.assert_allclose(out["mask"].numpy().sum(axis=1), 1.0, atol=1e-5)
    p = out["prediction"].numpy()
    assert p.min() >= 0 and p.max() <= 1


def test_identity_motion_keeps_the_flow_at_identity(fomm):
    """Driving keypoints equal to the source's: every sparse motion is the identity grid."""
    with paddle.no_grad():
        source = frames(1, seed=5)
        kp = fomm.kp_detector(source)
        out = fomm.generator(source, kp_source=kp, kp_driving=kp)
    h = w = 16
    xs = 2 * (np.arange(w, dtype=np.float32) / (w - 1)) - 1
    grid = np.stack(np.meshgrid(xs, xs), axis=-1)
    np.testing.assert_allclose(out["deformation"].numpy()[0], grid, atol=1e-5)


def test_normalize_kp_relative_and_scale():
    rng = np.random.default_rng(0)
    value = lambda n: paddle.to_tensor(rng.uniform(-0.5, 0.5, (n, 5, 2)).astype("float32"))  # noqa: E731
    jac = lambda n: paddle.to_tensor((np.eye(2) + 0.1 * rng.normal(size=(n, 5, 2, 2))).astype("float32"))  # noqa: E731
    src = {"value": value(1), "jacobian": jac(1)}
    drv = {"value": value(3), "jacobian": jac(3)}
    init = {"value": drv["value"][0:1], "jacobian": drv["jacobian"][0:1]}
    plain = normalize_kp(src, drv, init)
    np.testing.assert_array_equal(plain["value"].numpy(), drv["value"].numpy())
    rel = normalize_kp(src, drv, init, use_relative_movement=True, use_relative_jacobian=True)
    # Frame 0 is the initial frame: relative motion gives the source keypoints back.
    np.testing.assert_allclose(rel["value"].numpy()[0], src["value"].numpy()[0], atol=1e-6)
    np.testing.assert_allclose(rel["jacobian"].numpy()[0], src["jacobian"].numpy()[0], atol=1e-5)
    # Scaling the source by 2 doubles the hull's side, so the motion is doubled.
    big_src = {"value": src["value"] * 2, "jacobian": src["jacobian"]}
    scaled = normalize_kp(big_src, drv, init, use_relative_movement=True, adapt_movement_scale=True)
    from ppfom.kp_norm import hull_area, movement_scale

    s = movement_scale(big_src["value"], init["value"])
    expected = np.sqrt(hull_area(big_src["value"].numpy()[0]) / hull_area(init["value"].numpy()[0]))
    assert s == pytest.approx(expected, rel=1e-6)
    motion = (drv["value"] - init["value"]).numpy()
    np.testing.assert_allclose(scaled["value"].numpy(), motion * s + big_src["value"].numpy(), atol=1e-5)


def test_paddlegan_layout_round_trips_strictly(fomm, tmp_path):
    path = tmp_path / "model.pdparams"
    paddle.save(fomm.state_dicts(), str(path))
    loaded = load_fomm(tiny_config(), weights=str(path))
    for section in ("generator", "kp_detector"):
        ours = getattr(fomm, section).state_dict()
        theirs = getattr(loaded, section if section != "kp_detector" else "kp_detector").state_dict()
        assert list(ours) == list(theirs)
        for key in ours:
            np.testing.assert_array_equal(ours[key].numpy(), theirs[key].numpy(), err_msg=key)


def _save_modified(fomm, tmp_path, change):
    state = {s: {k: v.numpy() for k, v in d.items()} for s, d in fomm.state_dicts().items()}
    change(state)
    path = tmp_path / "changed.pdparams"
    paddle.save(state, str(path))
    return str(path)


def test_missing_key_is_named(fomm, tmp_path):
    path = _save_modified(fomm, tmp_path, lambda s: s["generator"].pop("final.bias"))
    with pytest.raises(CheckpointError, match=r"missing \(final\.bias\)"):
        load_fomm(tiny_config(), weights=path)


def test_extra_key_is_named(fomm, tmp_path):
    path = _save_modified(fomm, tmp_path, lambda s: s["kp_detector"].__setitem__("extra.weight", np.zeros(3, "float32")))
    with pytest.raises(CheckpointError, match=r"unexpected \(extra\.weight\)"):
        load_fomm(tiny_config(), weights=path)


def test_other_architecture_is_refused_by_shape(fomm, tmp_path):
    path = tmp_path / "model.pdparams"
    paddle.save(fomm.state_dicts(), str(path))
    with pytest.raises(CheckpointError, match="another shape"):
        load_fomm(tiny_config(block_expansion=16), weights=str(path))


def test_unknown_network_key_is_named():
    cfg = tiny_config()
    cfg["model"]["generator"]["kp_detector_cfg"]["temprature"] = 0.1
    with pytest.raises(ConfigError, match="temprature"):
        load_fomm(cfg)
    cfg = tiny_config()
    cfg["model"]["generator"]["generator_cfg"]["dense_motion_params"]["blocks"] = 3
    with pytest.raises(ConfigError, match="dense_motion_params.*blocks"):
        load_fomm(cfg)


def test_align_corners_follows_the_weights(fomm, tmp_path):
    assert load_fomm(tiny_config()).numerics.align_corners is False
    path = tmp_path / "m.pdparams"
    paddle.save(fomm.state_dicts(), str(path))
    assert load_fomm(tiny_config(), weights=str(path)).numerics.align_corners is True
    assert load_fomm(tiny_config(align_corners=False), weights=str(path)).numerics.align_corners is False


def test_antialias_modes():
    """strided == blur then [::4, ::4]; nearest == ppgan 2.1.0's corner-aligned resize."""
    from ppfom.modules.blocks import AntiAliasInterpolation2d
    import paddle.nn.functional as F

    x = frames(1, size=64, seed=9)
    strided = AntiAliasInterpolation2d(3, 0.25, "strided")
    blurred = F.conv2d(x, strided.weight, padding=strided.padding, groups=3).numpy()
    np.testing.assert_allclose(strided(x).numpy(), blurred[:, :, ::4, ::4], atol=1e-6)
    nearest = AntiAliasInterpolation2d(3, 0.25, "nearest")
    rows = [int(k * (64 - 1) / (16 - 1) + 0.5) for k in range(16)]
    np.testing.assert_allclose(nearest(x).numpy(), blurred[:, :, rows][:, :, :, rows], atol=1e-6)


def test_border_fix_changes_only_the_edges(fomm):
    """PaddleGAN's inference fix: the flow is pulled to identity near the border only."""
    import cv2

    from ppfom.modules.border_fix import BorderFix, flow_weight, inside_mask

    w = flow_weight(64, 48, BorderFix().taps).numpy()[0, 0]
    # PaddleGAN makes it with cv2.GaussianBlur(mask, (9, 9), 0, borderType=BORDER_ISOLATED).
    mask = inside_mask(64, 48).numpy()[0, 0]
    np.testing.assert_allclose(w, cv2.GaussianBlur(mask, (9, 9), 0.0, borderType=cv2.BORDER_ISOLATED), atol=1e-6)
    assert w[32, 24] == pytest.approx(1.0, abs=1e-6) and w[0, 0] < 0.05
    fixed = load_fomm(tiny_config(), border_fix=True)
    fixed.generator.set_state_dict(fomm.generator.state_dict())
    fixed.kp_detector.set_state_dict(fomm.kp_detector.state_dict())
    with paddle.no_grad():
        source, driving = frames(1, seed=1), frames(1, seed=2)
        ks, kd = fomm.kp_detector(source), fomm.kp_detector(driving)
        plain = fomm.generator(source, kp_source=ks, kp_driving=kd)["deformed"].numpy()
        edged = fixed.generator(source, kp_source=ks, kp_driving=kd)["deformed"].numpy()
    assert np.abs(plain - edged)[..., 20:44, 20:44].max() < 1e-5
    assert np.abs(plain - edged)[..., :3, :].max() > 1e-3


def test_source_cache_gives_the_same_frame(fomm):
    """Caching the source-only work (features, downsampled source) changes nothing."""
    with paddle.no_grad():
        source, driving = frames(1, seed=7), frames(3, seed=8)
        ks, kd = fomm.kp_detector(source), fomm.kp_detector(driving)
        ks3 = {k: paddle.tile(v, [3] + [1] * (len(v.shape) - 1)) for k, v in ks.items()}
        source3 = paddle.tile(source, [3, 1, 1, 1])
        plain = fomm.generator(source3, kp_source=ks3, kp_driving=kd)
        cache = fomm.generator.encode(source)
        cache3 = {k: paddle.tile(v, [3, 1, 1, 1]) for k, v in cache.items()}
        cached = fomm.generator(source3, kp_source=ks3, kp_driving=kd, source_cache=cache3, full_outputs=False)
    np.testing.assert_array_equal(cached["prediction"].numpy(), plain["prediction"].numpy())
    assert "deformed" not in cached and "deformed" in plain


def test_set_border_fix_equals_loading_with_it(fomm, tmp_path):
    path = tmp_path / "w.pdparams"
    paddle.save(fomm.state_dicts(), str(path))
    loaded = load_fomm(tiny_config(), weights=str(path), border_fix=True)
    switched = load_fomm(tiny_config(), weights=str(path), border_fix=False).set_border_fix(True)
    with paddle.no_grad():
        source, driving = frames(1, seed=3), frames(1, seed=4)
        ks, kd = loaded.kp_detector(source), loaded.kp_detector(driving)
        a = loaded.generator(source, kp_source=ks, kp_driving=kd)["prediction"].numpy()
        b = switched.generator(source, kp_source=ks, kp_driving=kd)["prediction"].numpy()
    np.testing.assert_array_equal(a, b)
    assert switched.numerics.border_fix and list(switched.generator.state_dict()) == list(loaded.generator.state_dict())
