"""Training objective: TPS warps, perceptual/GAN losses and the full models, on tiny networks."""
import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from helpers import tiny_config
from ppfom.api import Numerics, build_networks
from ppfom.errors import CheckpointError, ConfigError, WeightsUnavailable
from ppfom.registry import DISCRIMINATORS, LOSSES
from ppfom.training.full_model import DiscriminatorFullModel, GeneratorFullModel
from ppfom.training.losses import (
    ImagePyramid,
    PyramidL1Loss,
    VGG19Features,
    VGG19PerceptualLoss,
    build_perceptual,
    gan_loss_discriminator,
    gan_loss_generator,
)
from ppfom.training.transforms import TPSTransform, pixel_grid

SIZE = 64
NUM_KP = 5


def train_params(perceptual_loss="pyramid_l1", scales=(1, 0.5, 0.25, 0.125), **weights):
    loss_weights = {"generator_gan": 0, "discriminator_gan": 1, "feature_matching": [10, 10, 10, 10],
                    "perceptual": [10, 10, 10, 10, 10], "equivariance_value": 10, "equivariance_jacobian": 10}
    loss_weights.update(weights)
    return {"scales": list(scales), "loss_weights": loss_weights, "perceptual_loss": perceptual_loss,
            "transform_params": {"sigma_affine": 0.05, "sigma_tps": 0.005, "points_tps": 5}}


def networks(align_corners=False, use_kp=False, seed=0):
    paddle.seed(seed)
    kp_detector, generator = build_networks(tiny_config(num_kp=NUM_KP), Numerics(align_corners=align_corners))
    discriminator = DISCRIMINATORS.build({"name": "MultiScaleDiscriminator", "scales": [1], "block_expansion": 8,
                                          "max_features": 32, "num_blocks": 4, "sn": True, "use_kp": use_kp,
                                          "num_kp": NUM_KP, "num_channels": 3})
    return kp_detector, generator, discriminator


def image_pair(batch=2, seed=0):
    """A smooth source and a shifted, brighter copy as the driving frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    imgs = []
    for shift in (0.0, 0.08):
        chans = [0.5 + 0.4 * np.sin(2 * np.pi * (f * (xx - shift) + g * yy) + p)
                 for f, g, p in rng.uniform(0.5, 2.0, (3, 3))]
        imgs.append(np.stack(chans)[None].repeat(batch, 0).astype("float32"))
    return {"source": paddle.to_tensor(imgs[0]), "driving": paddle.to_tensor(imgs[1])}


# ------------------------------------------------------------------------------------ TPS
@pytest.mark.parametrize("align_corners", [True, False])
def test_zero_sigma_transform_is_the_identity(align_corners):
    tps = TPSTransform(3, sigma_affine=0.0, sigma_tps=0.0, points_tps=5, align_corners=align_corners, seed=1)
    coords = paddle.to_tensor(np.random.default_rng(0).uniform(-1, 1, (3, 11, 2)).astype("float32"))
    np.testing.assert_array_equal(tps.warp_coordinates(coords).numpy(), coords.numpy())
    np.testing.assert_array_equal(tps.jacobian(coords).numpy(), np.tile(np.eye(2, dtype="float32"), (3, 11, 1, 1)))

    frame = paddle.rand([3, 3, 20, 24])
    warped = tps.transform_frame(frame).numpy()
    if align_corners:  # grid points on the pixel centres: the frame itself
        np.testing.assert_allclose(warped, frame.numpy(), atol=1e-5)
    else:  # the networks' convention under False: the identity grid, sampled as they sample
        grid = pixel_grid(20, 24).reshape([1, 20, 24, 2]).expand([3, 20, 24, 2])
        expected = F.grid_sample(frame, grid, padding_mode="reflection", align_corners=False)
        np.testing.assert_allclose(warped, expected.numpy(), atol=1e-6)


def test_without_tps_parameters_the_warp_is_affine():
    tps = TPSTransform(2, sigma_affine=0.1, seed=3)
    assert not tps.tps
    coords = paddle.to_tensor(np.random.default_rng(1).uniform(-1, 1, (2, 6, 2)).astype("float32"))
    theta = tps.theta.numpy()
    expected = np.einsum("bij,bnj->bni", theta[:, :, :2], coords.numpy()) + theta[:, None, :, 2]
    np.testing.assert_allclose(tps.warp_coordinates(coords).numpy(), expected, atol=1e-6)


def test_randomness_comes_from_paddle_seed_unless_a_seed_is_given():
    paddle.seed(7)
    a = TPSTransform(2, 0.05, 0.005, 5)
    paddle.seed(7)
    b = TPSTransform(2, 0.05, 0.005, 5)
    c = TPSTransform(2, 0.05, 0.005, 5)
    np.testing.assert_array_equal(a.theta.numpy(), b.theta.numpy())
    np.testing.assert_array_equal(a.control_params.numpy(), b.control_params.numpy())
    assert not np.array_equal(a.theta.numpy(), c.theta.numpy())
    paddle.seed(7)
    TPSTransform(2, 0.05, 0.005, 5, seed=5)  # a private generator: paddle's is not advanced
    np.testing.assert_array_equal(TPSTransform(2, 0.05, 0.005, 5).theta.numpy(), a.theta.numpy())


@pytest.mark.parametrize("align_corners", [True, False])
def test_a_bright_dot_moves_where_the_coordinates_say(align_corners):
    """transform_frame samples the frame at T(p): a dot at q shows at p with T(p) = q."""
    n = 96
    tps = TPSTransform(1, sigma_affine=0.12, sigma_tps=0.02, points_tps=5, align_corners=align_corners, seed=11)
    q = np.array([0.25, -0.3])
    # The input pixel where grid_sample reads coordinate q, in the given convention.
    u = (q + 1) * (n - 1) / 2 if align_corners else ((q + 1) * n - 1) / 2
    yy, xx = np.mgrid[0:n, 0:n]
    dot = np.exp(-((xx - u[0]) ** 2 + (yy - u[1]) ** 2) / (2 * 1.5 ** 2)).astype("float32")
    out = tps.transform_frame(paddle.to_tensor(dot[None, None])).numpy()[0, 0]
    weight = np.clip(out - 0.5 * out.max(), 0, None)
    centre_px = np.array([(weight * xx).sum(), (weight * yy).sum()]) / weight.sum()
    p = 2 * centre_px / (n - 1) - 1  # output pixels are at pixel_grid's coordinates
    moved_to = tps.warp_coordinates(paddle.to_tensor(p[None, None].astype("float32"))).numpy()[0, 0]
    pixel = 2 / n
    assert np.abs(p - q).max() > 3 * pixel, "the warp should move the dot visibly"
    assert np.abs(moved_to - q).max() < 0.5 * pixel


def test_jacobian_matches_finite_differences_and_autograd():
    tps = TPSTransform(3, sigma_affine=0.1, sigma_tps=0.05, points_tps=5, seed=2)
    pts = np.random.default_rng(4).uniform(-1.1, 1.1, (3, 9, 2))
    analytic = tps.jacobian(paddle.to_tensor(pts)).numpy()
    assert analytic.dtype == np.float64

    h = 1e-6
    numeric = np.zeros_like(analytic)
    for j in range(2):
        step = np.zeros(2)
        step[j] = h
        plus = tps.warp_coordinates(paddle.to_tensor(pts + step)).numpy()
        minus = tps.warp_coordinates(paddle.to_tensor(pts - step)).numpy()
        numeric[..., j] = (plus - minus) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7)

    # The original's way: autograd of the warp.
    coords = paddle.to_tensor(pts)
    coords.stop_gradient = False
    warped = tps.warp_coordinates(coords)
    rows = [paddle.grad(warped[:, :, i].sum(), coords, retain_graph=True)[0].numpy() for i in range(2)]
    np.testing.assert_allclose(analytic, np.stack(rows, axis=-2), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------------ losses
def test_image_pyramid_keys_and_sizes():
    pyramid = ImagePyramid([1.0, 0.5, 0.25], 3)
    out = pyramid(paddle.rand([1, 3, 32, 32]))
    assert {k: list(v.shape[2:]) for k, v in out.items()} == {
        "prediction_1": [32, 32], "prediction_0.5": [16, 16], "prediction_0.25": [8, 8]}


def test_gan_losses_are_least_squares():
    real = paddle.to_tensor([[0.5, 1.0]])
    fake = paddle.to_tensor([[0.0, 0.5]])
    assert float(gan_loss_generator(fake)) == pytest.approx((1 + 0.25) / 2)
    assert float(gan_loss_discriminator(real, fake)) == pytest.approx((0.25 + 0 + 0 + 0.25) / 2)


def test_perceptual_losses_are_registered():
    assert "vgg19" in LOSSES and "pyramid_l1" in LOSSES
    loss = build_perceptual("pyramid_l1")
    assert isinstance(loss, PyramidL1Loss)
    a, b = paddle.zeros([1, 3, 4, 4]), paddle.full([1, 3, 4, 4], 0.5)
    assert float(loss(a, b, [1, 2, 3])) == pytest.approx(3.0)
    with pytest.raises(ConfigError, match="perceptual_loss"):
        build_perceptual("lpips")


def test_vgg19_offline_without_weights_says_which_file(monkeypatch, tmp_path):
    monkeypatch.setenv("PPFOM_HOME", str(tmp_path))
    monkeypatch.setenv("PPFOM_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable, match="vgg19.pdparams") as err:
        build_perceptual("vgg19")
    assert "\n" not in str(err.value)
    kp_detector, generator, discriminator = networks()
    with pytest.raises(WeightsUnavailable, match="vgg19.pdparams"):
        GeneratorFullModel(kp_detector, generator, discriminator, train_params(perceptual_loss="vgg19"))
    # The pyramid L1 loss needs no weights.
    GeneratorFullModel(kp_detector, generator, discriminator, train_params(perceptual_loss="pyramid_l1"))


def test_vgg19_features_load_paddle_vgg19_names_strictly(monkeypatch, tmp_path):
    from paddle.vision.models.vgg import cfgs, make_layers

    paddle.seed(3)
    reference = make_layers(cfgs["E"])  # what paddle.vision.models.vgg19().features holds
    state = {"features." + k: v.numpy() for k, v in reference.state_dict().items()}
    state["classifier.0.weight"] = np.zeros((4, 4), "float32")  # the rest of vgg19(): ignored
    (tmp_path / "weights").mkdir()
    paddle.save(state, str(tmp_path / "weights" / "vgg19.pdparams"))
    monkeypatch.setenv("PPFOM_HOME", str(tmp_path))
    monkeypatch.setenv("PPFOM_OFFLINE", "1")

    vgg = VGG19Features.pretrained()  # through the weight store, as training does
    ours = vgg.state_dict()
    assert sorted(ours) == sorted(k for k in state if k.startswith("features.") and int(k.split(".")[1]) < 30)
    for key in ours:
        np.testing.assert_array_equal(ours[key].numpy(), state[key])
    assert all(p.stop_gradient for p in vgg.parameters())

    # The five slices end at relu1_1 .. relu5_1 of the reference network.
    x = paddle.rand([1, 3, 32, 32])
    feats = vgg(x)
    ref, normalized = [], (x - vgg.mean) / vgg.std
    for i, layer in enumerate(reference):
        normalized = layer(normalized)
        if i in (1, 6, 11, 20, 29):
            ref.append(normalized.numpy())
    for got, want in zip(feats, ref):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)

    # Names as vgg19().features gives them, without the prefix, load too; any difference is named.
    VGG19Features().load_vgg19_state({k: v.numpy() for k, v in reference.state_dict().items()})
    broken = dict(state)
    del broken["features.28.bias"]
    broken["features.0.weight"] = np.zeros((64, 3, 5, 5), "float32")
    with pytest.raises(CheckpointError, match="features.28.bias") as err:
        VGG19Features().load_vgg19_state(broken)
    assert "features.0.weight" in str(err.value)


# ------------------------------------------------------------------------------------ full models
@pytest.fixture(scope="module")
def random_vgg():
    paddle.seed(5)
    return VGG19PerceptualLoss(features=VGG19Features())


SETTINGS = {
    # the original's vox/taichi recipe: no GAN
    "original": ({}, {"perceptual", "equivariance_value", "equivariance_jacobian"}),
    "everything": ({"generator_gan": 1}, {"perceptual", "gen_gan", "feature_matching", "equivariance_value",
                                           "equivariance_jacobian"}),
    "gan_without_feature_matching": ({"generator_gan": 1, "feature_matching": [0, 0, 0, 0]},
                                     {"perceptual", "gen_gan", "equivariance_value", "equivariance_jacobian"}),
    "values_only": ({"perceptual": [0, 0, 0, 0, 0], "equivariance_jacobian": 0}, {"equivariance_value"}),
    "no_equivariance": ({"equivariance_value": 0, "equivariance_jacobian": 0}, {"perceptual"}),
}


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_generator_full_model_losses_per_setting(setting):
    weights, expected = SETTINGS[setting]
    kp_detector, generator, discriminator = networks(use_kp=setting == "everything")
    model = GeneratorFullModel(kp_detector, generator, discriminator, train_params(**weights))
    x = image_pair()
    losses, generated = model(x)
    assert set(losses) == expected
    for name, value in losses.items():
        assert value.shape == [] and np.isfinite(float(value)), name
    assert {"prediction", "kp_source", "kp_driving", "deformed", "occlusion_map"} <= set(generated)
    if "equivariance_value" in expected:
        assert list(generated["transformed_frame"].shape) == [2, 3, SIZE, SIZE]
        assert list(generated["transformed_kp"]["value"].shape) == [2, NUM_KP, 2]
    assert x["source"].stop_gradient  # the caller's tensor is left alone


def test_gradients_reach_every_trained_network_and_discriminator_loss():
    kp_detector, generator, discriminator = networks(use_kp=True)
    params = train_params(generator_gan=1)
    gen_full = GeneratorFullModel(kp_detector, generator, discriminator, params)
    disc_full = DiscriminatorFullModel(kp_detector, generator, discriminator, params)
    x = image_pair()
    losses, generated = gen_full(x)
    paddle.add_n(list(losses.values())).backward()
    for layer, names in ((kp_detector, ["kp.weight", "jacobian.weight", "predictor.encoder.down_blocks.0.conv.weight"]),
                         (generator, ["final.weight", "first.conv.weight", "dense_motion_network.mask.weight",
                                      "dense_motion_network.occlusion.weight"])):
        found = dict(layer.named_parameters())
        for name in names:
            grad = found[name].grad
            assert grad is not None and float(grad.abs().sum()) > 0, name

    for layer in (kp_detector, generator, discriminator):
        layer.clear_gradients()
    disc_losses = disc_full(x, generated)
    assert set(disc_losses) == {"disc_gan"} and np.isfinite(float(disc_losses["disc_gan"]))
    disc_losses["disc_gan"].backward()
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in discriminator.parameters())
    # The prediction and the keypoints are detached: nothing flows back into the generator.
    for p in list(generator.parameters()) + list(kp_detector.parameters()):
        assert p.grad is None or float(p.grad.abs().sum()) == 0


def test_random_vgg_perceptual_loss_in_the_full_model(random_vgg):
    kp_detector, generator, discriminator = networks()
    model = GeneratorFullModel(kp_detector, generator, discriminator,
                               train_params(perceptual_loss="vgg19", scales=(1, 0.5)), perceptual=random_vgg)
    losses, _ = model(image_pair(batch=1))
    assert np.isfinite(float(losses["perceptual"])) and float(losses["perceptual"]) > 0
    losses["perceptual"].backward()
    assert float(generator.final.weight.grad.abs().sum()) > 0
    assert all(p.grad is None for p in random_vgg.parameters())


def test_a_few_adam_steps_lower_the_loss():
    kp_detector, generator, discriminator = networks(seed=1)
    model = GeneratorFullModel(kp_detector, generator, discriminator, train_params())
    opt = paddle.optimizer.Adam(learning_rate=2e-3, beta1=0.5,
                                parameters=list(kp_detector.parameters()) + list(generator.parameters()))
    x = image_pair(batch=2, seed=2)
    transform = TPSTransform(2, 0.05, 0.005, 5, align_corners=generator.align_corners, seed=9)
    totals = []
    for _ in range(15):
        losses, _ = model(x, transform=transform)
        total = paddle.add_n(list(losses.values()))
        totals.append(float(total))
        total.backward()
        opt.step()
        opt.clear_grad()
    assert all(np.isfinite(totals))
    assert totals[-1] < 0.75 * totals[0], totals


def test_config_errors_are_named(random_vgg):
    kp_detector, generator, discriminator = networks()
    with pytest.raises(ConfigError, match="equivariance_jacobian"):
        GeneratorFullModel(kp_detector, generator, discriminator,
                           {**train_params(), "loss_weights": {"perceptual": [1], "generator_gan": 0,
                                                               "equivariance_value": 1}})
    with pytest.raises(ConfigError, match="not in model.train_params.scales"):
        GeneratorFullModel(kp_detector, generator, discriminator, train_params(generator_gan=1, scales=(0.5,)))
    with pytest.raises(ConfigError, match="no discriminator"):
        GeneratorFullModel(kp_detector, generator, None, train_params(generator_gan=1))
    no_jac_kp, no_jac_gen = build_networks(tiny_config(num_kp=NUM_KP, estimate_jacobian=False))
    with pytest.raises(ConfigError, match="estimate_jacobian"):
        GeneratorFullModel(no_jac_kp, no_jac_gen, discriminator, train_params())
    with pytest.raises(ConfigError, match="6 weights"):
        GeneratorFullModel(kp_detector, generator, discriminator, train_params(perceptual=[1] * 6),
                           perceptual=random_vgg)
