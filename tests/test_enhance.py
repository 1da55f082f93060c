"""GPEN face enhancer: network, PaddleGAN's names, strict loading, the enhancement stage."""
import numpy as np
import paddle
import pytest

from ppfom import weights
from ppfom.errors import CheckpointError, WeightsUnavailable
from ppfom.enhance import GPENEnhancer, check_enhancer_available, feather_mask
from ppfom.enhance import gpen as G
from ppfom.registry import ENHANCERS

TINY = dict(size=32, style_dim=32, n_mlp=2, narrow=1 / 32)  # 16 channels everywhere

# --------------------------------------------------------------------------- PaddleGAN's names
# The state dict of PaddleGAN's GPEN(size=512, style_dim=512, n_mlp=8) (channel_multiplier=2,
# narrow=1, is_concat=True), as ppgan/faceutils/face_enhancement/face_enhance.py builds it,
# written out by hand from PaddleGAN's source:
#   ppgan/models/generators/gpen.py           GPEN: generator, ecd0..ecd7 (nn.Sequential of one
#                                             ConvLayer each), final_linear (nn.Sequential)
#   ppgan/models/generators/generator_gpen.py StyleGANv2Generator: style (PixelNorm + n_mlp
#                                             EqualLinear), input, conv1, to_rgb1, convs, to_rgbs,
#                                             noises.noise_k buffers (randn, persistable);
#                                             StyledConv (conv, noise, activate),
#                                             ModulatedConv2D (weight, modulation, blur), ToRGB
#                                             (upsample, conv, bias), NoiseInjection (weight)
#   ppgan/models/discriminators/discriminator_styleganv2.py  ConvLayer = Sequential([blur],
#                                             EqualConv2D(bias only without activation),
#                                             FusedLeakyReLU(bias))
#   ppgan/modules/equalized.py                EqualLinear_gpen: weight (out, in), bias (out,)
#   ppgan/modules/upfirdn2d.py                Upfirdn2dUpsample: kernel buffer, persistable;
#                                             Upfirdn2dBlur: kernel buffer, persistable=False
# Widths: 4..64 -> 512, 128 -> 256, 256 -> 128, 512 -> 64; the styled convs see twice their
# input width (the encoder map is concatenated).
_STYLED = [(1024, 512)] * 8 + [(1024, 256), (512, 256), (512, 128), (256, 128), (256, 64), (128, 64)]
_TO_RGB_IN = [1024, 1024, 1024, 1024, 512, 256, 128]
_ENCODER = [(3, 64), (64, 128), (128, 256), (256, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
_NOISE_RES = [4] + [r for r in (8, 16, 32, 64, 128, 256, 512) for _ in (0, 1)]


def _paddlegan_gpen512_state():
    s = {}
    for i in range(1, 9):
        s[f"generator.style.{i}.weight"] = (512, 512)
        s[f"generator.style.{i}.bias"] = (512,)
    s["generator.input.input"] = (1, 512, 4, 4)

    def styled(p, cin, cout):
        s.update({f"{p}.conv.weight": (1, cout, cin, 3, 3), f"{p}.conv.modulation.weight": (cin, 512),
                  f"{p}.conv.modulation.bias": (cin,), f"{p}.noise.weight": (1,),
                  f"{p}.activate.bias": (2 * cout,)})

    def to_rgb(p, cin):
        s.update({f"{p}.conv.weight": (1, 3, cin, 1, 1), f"{p}.conv.modulation.weight": (cin, 512),
                  f"{p}.conv.modulation.bias": (cin,), f"{p}.bias": (1, 3, 1, 1)})

    styled("generator.conv1", 512, 512)
    to_rgb("generator.to_rgb1", 1024)
    for j, (cin, cout) in enumerate(_STYLED):
        styled(f"generator.convs.{j}", cin, cout)
    for j, cin in enumerate(_TO_RGB_IN):
        to_rgb(f"generator.to_rgbs.{j}", cin)
        s[f"generator.to_rgbs.{j}.upsample.kernel"] = (4, 4)
    for k, r in enumerate(_NOISE_RES):
        s[f"generator.noises.noise_{k}"] = (1, 1, r, r)
    s["ecd0.0.0.weight"] = (64, 3, 1, 1)  # no blur: index 0 is the conv
    s["ecd0.0.1.bias"] = (64,)
    for i, (cin, cout) in enumerate(_ENCODER[1:], start=1):
        s[f"ecd{i}.0.1.weight"] = (cout, cin, 3, 3)  # index 0 is the (non-persistable) blur
        s[f"ecd{i}.0.2.bias"] = (cout,)
    s["final_linear.0.weight"] = (512, 512 * 4 * 4)
    s["final_linear.0.bias"] = (512,)
    return s


def test_gpen512_names_and_shapes_are_paddlegans():
    expected = _paddlegan_gpen512_state()
    ours = G.gpen_state_shapes(**G.GPEN_512)
    assert set(ours) == set(expected)
    assert {k: tuple(v) for k, v in ours.items()} == expected
    assert len(expected) == 164  # 142 learned parameters + 7 upsample kernels + 15 noise maps
    params = G.gpen_parameter_shapes(**G.GPEN_512)
    assert len(params) == 142 and not any(k.endswith("kernel") or ".noises." in k for k in params)
    # 71.0 M learned numbers: GPEN-BFR-512 (PaddleGAN's file is about 284 MB of float32)
    assert sum(int(np.prod(v)) for v in params.values()) == 71_005_223
    for name, shape in [("generator.convs.13.conv.modulation.weight", (128, 512)),
                        ("generator.to_rgbs.6.conv.weight", (1, 3, 128, 1, 1)),
                        ("generator.noises.noise_14", (1, 1, 512, 512)),
                        ("ecd7.0.1.weight", (512, 512, 3, 3)),
                        ("final_linear.0.weight", (512, 8192))]:
        assert ours[name] == shape


def test_built_512_module_has_the_same_names():
    """The 512 layout built for real (narrow widths: names do not depend on widths)."""
    cfg = dict(G.GPEN_512, narrow=1 / 16)
    model = G.GPEN(**cfg)
    state = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert set(state) == set(_paddlegan_gpen512_state())
    assert state == G.gpen_state_shapes(**cfg)


@pytest.mark.parametrize("cfg", [TINY, dict(size=64, style_dim=16, n_mlp=3, narrow=1 / 16, channel_multiplier=1)])
def test_shape_function_matches_built_module(cfg):
    model = G.GPEN(**cfg)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == G.gpen_state_shapes(**cfg)


# --------------------------------------------------------------------------- the network
def _direct_upfirdn(x, k, up, down, p0, p1):
    """upfirdn2d by its definition: zero insertion, pad/crop, true convolution, decimation."""
    n, c, h, w = x.shape
    u = np.zeros((n, c, h * up, w * up))
    u[:, :, ::up, ::up] = x
    u = np.pad(u, ((0, 0), (0, 0), (max(p0, 0), max(p1, 0)), (max(p0, 0), max(p1, 0))))
    u = u[:, :, max(-p0, 0):u.shape[2] - max(-p1, 0), max(-p0, 0):u.shape[3] - max(-p1, 0)]
    kh, kw = k.shape
    oh, ow = u.shape[2] - kh + 1, u.shape[3] - kw + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(kh):
        for j in range(kw):
            out += k[kh - 1 - i, kw - 1 - j] * u[:, :, i:i + oh, j:j + ow]
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 1)), (1, 2, (2, 2)), (2, 1, (2, 1)), (2, 2, (0, 0)),
                                         (1, 1, (-1, 2)), (2, 1, (-1, 3)), (3, 1, (4, -1))])
def test_upfirdn2d_matches_its_definition(up, down, pad):
    rng = np.random.default_rng(up * 10 + down)
    x = rng.standard_normal((2, 3, 9, 7)).astype(np.float32)
    k = rng.standard_normal((4, 3)).astype(np.float32)  # asymmetric: catches a missing flip
    got = G.upfirdn2d(paddle.to_tensor(x), paddle.to_tensor(k), up, down, pad).numpy()
    want = _direct_upfirdn(x, k, up, down, *pad)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_tiny_gpen_runs_deterministic_and_per_sample():
    paddle.seed(1)
    model = G.GPEN(**TINY)
    model.eval()
    x = paddle.uniform([3, 3, 32, 32], min=-1.0, max=1.0, seed=2)
    with paddle.no_grad():
        y = model(x).numpy()
        again = model(x).numpy()
        single = model(x[1:2]).numpy()
    assert y.shape == (3, 3, 32, 32) and y.dtype == np.float32
    assert np.isfinite(y).all() and np.abs(y).max() < 50
    np.testing.assert_array_equal(y, again)  # no random noise at inference
    np.testing.assert_allclose(y[1:2], single, atol=1e-4)  # grouped per-sample weights
    assert np.abs(y[0] - y[1]).max() > 1e-3  # the output depends on the input
    with pytest.raises(ValueError, match="32x32"):
        model(paddle.zeros([1, 3, 16, 16]))


def test_modulated_upsampling_conv_matches_a_per_sample_reference():
    paddle.seed(3)
    conv = G.ModulatedConv2D(4, 5, 3, style_dim=6, upsample=True)
    x = paddle.randn([2, 4, 5, 5])
    style = paddle.randn([2, 6])
    got = conv(x, style).numpy()
    assert got.shape == (2, 5, 10, 10)
    w = conv.weight.numpy()[0] * conv.scale  # (o, c, k, k)
    s = conv.modulation(style).numpy()
    for b in range(2):
        wb = w * s[b][None, :, None, None]
        wb = wb / np.sqrt((wb ** 2).sum(axis=(1, 2, 3), keepdims=True) + 1e-8)
        t = paddle.nn.functional.conv2d_transpose(x[b:b + 1], paddle.to_tensor(wb.transpose(1, 0, 2, 3)), stride=2)
        ref = G.upfirdn2d(t, paddle.to_tensor(G.fir_kernel(gain=4.0)), pad=(1, 1)).numpy()
        np.testing.assert_allclose(got[b:b + 1], ref, atol=1e-4)


# --------------------------------------------------------------------------- strict loading
def _save_tiny(tmp_path, name="tiny.pdparams", edit=None, seed=5):
    paddle.seed(seed)
    model = G.GPEN(**TINY)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    if edit:
        edit(state)
    path = tmp_path / name
    paddle.save(state, str(path))
    return model, path


def test_saved_tiny_weights_load_strictly(tmp_path):
    model, path = _save_tiny(tmp_path)
    enhancer = GPENEnhancer(weights=str(path), batch_size=2, **{k: v for k, v in TINY.items()})
    x = paddle.uniform([1, 3, 32, 32], min=-1.0, max=1.0, seed=4)
    model.eval()
    with paddle.no_grad():
        np.testing.assert_allclose(enhancer.model(x).numpy(), model(x).numpy(), atol=1e-5)
    loaded = enhancer.model.state_dict()
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(loaded[k].numpy(), v.numpy())


@pytest.mark.parametrize("edit,named", [
    (lambda s: s.pop("generator.convs.1.conv.modulation.weight"), "generator.convs.1.conv.modulation.weight"),
    (lambda s: s.pop("ecd2.0.1.weight"), "ecd2.0.1.weight"),
    (lambda s: s.__setitem__("generator.extra.weight", np.zeros(3, np.float32)), "generator.extra.weight"),
    (lambda s: s.__setitem__("final_linear.0.bias", np.zeros(7, np.float32)), "final_linear.0.bias"),
    (lambda s: s.__setitem__("generator.to_rgbs.0.upsample.kernel", np.ones((4, 4), np.float32)),
     "generator.to_rgbs.0.upsample.kernel"),
])
def test_bad_weights_fail_by_name(tmp_path, edit, named):
    _, path = _save_tiny(tmp_path, edit=edit)
    with pytest.raises(CheckpointError) as info:
        GPENEnhancer(weights=str(path), **TINY)
    assert named in str(info.value)
    assert str(path) in str(info.value)


def test_original_layout_buffers_are_accepted(tmp_path):
    """The PyTorch GPEN stores the blur kernels and no noise maps; such a file loads too."""

    def torch_layout(state):
        for k in [k for k in state if ".noises." in k]:
            del state[k]
        state["generator.convs.0.conv.blur.kernel"] = G.fir_kernel(gain=4.0)
        state["generator.convs.2.conv.blur.kernel"] = G.fir_kernel(gain=4.0)
        state["ecd1.0.0.kernel"] = G.fir_kernel()

    model, path = _save_tiny(tmp_path, edit=torch_layout)
    enhancer = GPENEnhancer(weights=str(path), **TINY)
    x = paddle.uniform([1, 3, 32, 32], min=-1.0, max=1.0, seed=6)
    model.eval()
    with paddle.no_grad():
        np.testing.assert_allclose(enhancer.model(x).numpy(), model(x).numpy(), atol=1e-5)

    def wrong_blur(state):
        state["ecd1.0.0.kernel"] = np.ones((4, 4), np.float32)

    _, bad = _save_tiny(tmp_path, name="bad.pdparams", edit=wrong_blur)
    with pytest.raises(CheckpointError, match="ecd1.0.0.kernel"):
        GPENEnhancer(weights=str(bad), **TINY)


def test_weight_store_checks_gpen512_by_name():
    entry = weights.ENTRIES["GPEN-512"]
    shapes = G.gpen_state_shapes(**G.GPEN_512)
    # zero-stride views: the shapes of 71 M numbers without the memory
    state = {k: np.broadcast_to(np.float32(0), v) for k, v in shapes.items()}
    for k in [k for k in state if k.endswith("upsample.kernel")]:
        state[k] = G.fir_kernel(gain=4.0)
    weights.verify_state(entry, state)
    for drop in ("generator.convs.5.noise.weight", "ecd4.0.2.bias"):
        broken = {k: v for k, v in state.items() if k != drop}
        with pytest.raises(CheckpointError, match=drop.replace(".", r"\.")):
            weights.verify_state(entry, broken)
    with pytest.raises(CheckpointError, match="generator.bogus"):
        weights.verify_state(entry, dict(state, **{"generator.bogus": np.zeros(1, np.float32)}))
    with pytest.raises(CheckpointError, match="generator.style.3.weight"):
        weights.verify_state(entry, dict(state, **{"generator.style.3.weight": np.zeros((512, 256), np.float32)}))


# --------------------------------------------------------------------------- the stage
def test_enhancer_keeps_sizes_and_dtype(tmp_path):
    _, path = _save_tiny(tmp_path)
    enhancer = GPENEnhancer(weights=str(path), batch_size=2, **TINY)
    rng = np.random.default_rng(7)
    faces = rng.integers(0, 256, size=(3, 70, 90, 3), dtype=np.uint8)
    out = enhancer.enhance(faces)
    assert out.shape == faces.shape and out.dtype == np.uint8
    assert not np.array_equal(out, faces)
    # batching does not change the result, and it is deterministic
    one_by_one = np.concatenate([enhancer.enhance(faces[i:i + 1]) for i in range(3)])
    assert np.abs(out.astype(int) - one_by_one.astype(int)).max() <= 1
    np.testing.assert_array_equal(enhancer.enhance(faces), out)
    small = rng.integers(0, 256, size=(2, 17, 23, 3), dtype=np.uint8)  # smaller than the network
    assert enhancer.enhance(small).shape == small.shape
    assert enhancer.enhance(np.zeros((0, 40, 40, 3), np.uint8)).shape == (0, 40, 40, 3)
    with pytest.raises(ValueError, match="uint8"):
        enhancer.enhance(faces.astype(np.float32))
    with pytest.raises(ValueError, match="N, H, W, 3"):
        enhancer.enhance(faces[0])


def test_feather_mask_is_paddlegans_at_512():
    import cv2

    # PaddleGAN's FaceEnhancement.__init__ recipe, at 512
    want = np.zeros((512, 512), np.float32)
    cv2.rectangle(want, (26, 26), (486, 486), (1, 1, 1), -1, cv2.LINE_AA)
    want = cv2.GaussianBlur(cv2.GaussianBlur(want, (101, 101), 11), (101, 101), 11)
    mask = feather_mask(512)[:, :, 0]
    np.testing.assert_array_equal(mask, want)
    assert mask[256, 256] > 0.999 and mask[0, 0] < 0.02 and mask[0, 256] < 0.15
    np.testing.assert_allclose(mask, mask.T, atol=1e-6)
    tiny = feather_mask(32)
    assert tiny.shape == (32, 32, 1) and tiny[16, 16, 0] > 0.9 and tiny[0, 0, 0] < 0.2


def test_enhancer_is_registered():
    assert ENHANCERS.get("GPEN") is GPENEnhancer


def test_missing_weights_offline_fail_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("PPFOM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PPFOM_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable) as info:
        check_enhancer_available("GPEN-512")
    message = str(info.value)
    assert "GPEN-512.pdparams" in message
    assert str(tmp_path / "home" / "weights" / "GPEN-512.pdparams") in message
    assert "https://paddlegan.bj.bcebos.com/models/GPEN-512.pdparams" in message
    built = []
    monkeypatch.setattr(G, "GPEN", lambda *a, **k: built.append(1))
    with pytest.raises(WeightsUnavailable, match="GPEN-512.pdparams"):
        GPENEnhancer()  # the default weights: fails before building anything
    assert not built
    with pytest.raises(WeightsUnavailable, match="nope.pdparams"):
        check_enhancer_available(str(tmp_path / "nope.pdparams"))


def test_cached_file_that_is_not_gpen512_is_refused(tmp_path, monkeypatch):
    """A tiny GPEN saved under the store's file name fails the store's GPEN-512 verification."""
    home = tmp_path / "home"
    (home / "weights").mkdir(parents=True)
    monkeypatch.setenv("PPFOM_HOME", str(home))
    monkeypatch.setenv("PPFOM_OFFLINE", "1")
    _save_tiny(home / "weights", name="GPEN-512.pdparams")
    with pytest.raises(WeightsUnavailable, match="fail verification"):
        check_enhancer_available("GPEN-512")
