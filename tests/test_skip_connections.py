"""The generator's optional skip connections (ours): off by default, zero-started so that weights
trained without them render the same frames, and trainable."""
import copy

import numpy as np
import paddle
import pytest

from helpers import randomize, tiny_config
from ppfom.api import load_fomm


def networks(skip_connections, seed=0, skip_source_image=None):
    cfg = tiny_config(align_corners=True)
    if skip_connections is not None:
        cfg["model"]["generator"]["generator_cfg"]["skip_connections"] = skip_connections
    if skip_source_image is not None:
        cfg["model"]["generator"]["generator_cfg"]["skip_source_image"] = skip_source_image
    paddle.seed(seed)
    fomm = load_fomm(copy.deepcopy(cfg))
    return fomm.kp_detector, fomm.generator


def frames(seed, n=2):
    return paddle.to_tensor(np.random.default_rng(seed).random((n, 3, 64, 64), dtype=np.float32))


def random_and_with_skips_added(seed, before, after):
    """(keypoint detector, a random generator built with the options ``before``, the same built
    with ``after``, the names of the weights that adds): those keep their zero start; all in eval mode."""
    kp_detector, plain = networks(**before)
    randomize(plain, seed)
    randomize(kp_detector, seed + 1)
    _, skipped = networks(**after)
    added = set(skipped.state_dict()) - set(plain.state_dict())
    skipped.set_state_dict(plain.state_dict())
    for net in (plain, skipped, kp_detector):
        net.eval()
    return kp_detector, plain, skipped, added


def test_off_by_default_and_zero_started_skips_render_the_same_frames():
    kp_detector, plain, skipped, added = random_and_with_skips_added(1, {"skip_connections": None}, {"skip_connections": True})
    assert plain.skips is None  # off by default
    assert added == {"skips.0.weight", "skips.1.weight"}
    source, driving = frames(3), frames(4)
    with paddle.no_grad():
        kp_s, kp_d = kp_detector(source), kp_detector(driving)
        want = plain(source, kp_driving=kp_d, kp_source=kp_s)["prediction"].numpy()
        got = skipped(source, kp_driving=kp_d, kp_source=kp_s)["prediction"].numpy()
        cache = skipped.encode(source)
        cached = skipped(source, kp_driving=kp_d, kp_source=kp_s, source_cache=cache)["prediction"].numpy()
    # one cached tensor: the deepest features, then the 32x32 and 64x64 levels packed to 16x16
    assert list(cache) == ["features", "source_small"]
    assert cache["features"].shape == [2, 32 + 16 * 4 + 8 * 16, 16, 16]
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_array_equal(cached, got)


@pytest.mark.parametrize("skip_connections", [False, True])
def test_source_image_skip_starts_at_zero_and_caches_the_source_itself(skip_connections):
    kp_detector, plain, skipped, added = random_and_with_skips_added(
        11, {"skip_connections": skip_connections}, {"skip_connections": skip_connections, "skip_source_image": True})
    assert plain.image_skip is None
    assert added == {"image_skip.weight"}
    assert skipped.image_skip.weight.shape == [8, 3, 1, 1]  # RGB into the full-size decoder output
    source, driving = frames(13), frames(14)
    with paddle.no_grad():
        kp_s, kp_d = kp_detector(source), kp_detector(driving)
        want = plain(source, kp_driving=kp_d, kp_source=kp_s)["prediction"].numpy()
        cache = skipped.encode(source)
        got = skipped(source, kp_driving=kp_d, kp_source=kp_s, source_cache=cache)["prediction"].numpy()
        np.testing.assert_allclose(got, want, atol=1e-6)
        # the source travels in the cache, packed to 16x16 after everything else
        deepest, inputs = skipped._unpack(cache["features"])
        assert cache["features"].shape[1] == 32 + (16 * 4 + 8 * 16 if skip_connections else 0) + 3 * 16
        np.testing.assert_array_equal(inputs[-1].numpy(), source.numpy())
        randomize(skipped.image_skip, 15)
        changed = skipped(source, kp_driving=kp_d, kp_source=kp_s, source_cache=cache)["prediction"].numpy()
    assert np.abs(changed - want).max() > 1e-3


def test_skips_learn_and_then_change_the_frame():
    kp_detector, generator = networks(True)
    source, driving = frames(5), frames(6)
    with paddle.no_grad():
        kp_s, kp_d = kp_detector(source), kp_detector(driving)
    generator.eval()
    with paddle.no_grad():
        before = generator(source, kp_driving=kp_d, kp_source=kp_s)["prediction"].numpy()
    generator.train()
    optimizer = paddle.optimizer.Adam(learning_rate=1e-3, parameters=generator.skips.parameters())
    loss = paddle.abs(generator(source, kp_driving=kp_d, kp_source=kp_s)["prediction"] - driving).mean()
    loss.backward()
    optimizer.step()
    weights = [p.numpy() for p in generator.skips.parameters()]
    # Adam's first step moves every weight with a gradient by about lr, here times the skips' 10x
    assert all(np.abs(w).max() > 5e-3 for w in weights)
    generator.eval()
    with paddle.no_grad():
        after = generator(source, kp_driving=kp_d, kp_source=kp_s)["prediction"].numpy()
    assert np.abs(after - before).max() > 1e-4


def mobile_skip_fomm(skip_connections, seed, cfg=None):
    from test_prune import mobile_config, mobile_fomm

    cfg = copy.deepcopy(cfg) if cfg else mobile_config()
    cfg["model"]["generator"]["generator_cfg"]["skip_connections"] = skip_connections
    return mobile_fomm(seed, cfg)


def test_mobile_skips_start_at_zero_and_map_encoder_widths_to_decoder_widths():
    from test_prune import pairs, run

    plain = mobile_skip_fomm(False, 1)
    skipped = mobile_skip_fomm(True, 1)  # same seed: the same weights but for the skips
    skipped.generator.set_state_dict({**skipped.generator.state_dict(), **{
        f"skips.{i}.weight": paddle.zeros(skipped.generator.skips[i].weight.shape) for i in (0, 1)}})
    widths = skipped.generator.default_widths()
    # skips.0: the 32x32 level (first down block) into up block 0; skips.1: the 64x64 level into up block 1
    assert skipped.generator.skips[0].weight.shape == [widths["up"][0], widths["down"][0], 1, 1]
    assert skipped.generator.skips[1].weight.shape == [widths["up"][1], widths["first"][-1], 1, 1]
    source, driving = pairs(1, seed=2)[0]
    np.testing.assert_allclose(run(skipped, source, driving)[1], run(plain, source, driving)[1], atol=1e-6)
    randomize(skipped.generator.skips, 3)
    assert np.abs(run(skipped, source, driving)[1] - run(plain, source, driving)[1]).max() > 1e-3


@pytest.mark.parametrize("space_key, index, norm, reader_norm", [
    ("first", 2, "first.2.norm", "down_blocks.0.norm"),
    ("down", 0, "down_blocks.0.norm1", "down_blocks.1.norm"),
])
def test_pruning_an_encoder_level_also_prunes_the_skip_that_reads_it(space_key, index, norm, reader_norm):
    """Dead channels of an encoder level are removed from the skip conv that reads it too: the
    sliced weights load strictly and render the same frames."""
    from ppfom.checkpoint.state import load_state_strict
    from ppfom.prune import generator_spaces, slice_state
    from test_prune import pairs, run

    fomm = mobile_skip_fomm(True, 4)
    layers = dict(fomm.generator.named_sublayers())
    size = layers[norm].weight.shape[0]
    dead, live = np.arange(0, size, 2), np.arange(1, size, 2)
    # relu(bn) == 0 on the dead channels, and on the next block's depthwise conv of them
    # (which pruning removes with them)
    for name in (norm, reader_norm):
        weight, bias = layers[name].weight.numpy(), layers[name].bias.numpy()
        weight[dead], bias[dead] = 0.0, -5.0
        if name == norm:
            bias[live] = 5.0
        layers[name].weight.set_value(paddle.to_tensor(weight))
        layers[name].bias.set_value(paddle.to_tensor(bias))
    _, spaces = generator_spaces(fomm.generator)
    space = next(s for s in spaces if s.widths_key == space_key and s.index == index)
    full = {k: v.numpy() for k, v in fomm.generator.state_dict().items()}
    sliced = slice_state(full, [space], {(space_key, index): live})
    reader = "skips.1.weight" if space_key == "first" else "skips.0.weight"  # 64x64 level, 32x32 level
    assert sliced[reader].shape[1] == len(live) < full[reader].shape[1]
    cfg = copy.deepcopy(fomm.config)
    widths = fomm.generator.default_widths()
    widths[space_key][index] = len(live)
    cfg["model"]["generator"]["generator_cfg"]["widths"] = widths
    small = load_fomm(cfg)
    small.kp_detector.set_state_dict(fomm.kp_detector.state_dict())
    load_state_strict(small.generator, sliced, "one level pruned")
    source, driving = pairs(1, seed=5)[0]
    np.testing.assert_allclose(run(small, source, driving)[1], run(fomm, source, driving)[1], atol=1e-5)


def test_pruned_mobile_skip_model_loads_from_its_rewritten_config_and_runs():
    from ppfom.checkpoint.state import load_state_strict
    from ppfom.prune import prune_fomm
    from test_prune import pairs, run

    cfg = mobile_skip_fomm(True, 6).config
    cfg["model"]["generator"]["generator_cfg"]["skip_source_image"] = True
    fomm = mobile_skip_fomm(True, 6, cfg)
    cfg, state = prune_fomm(fomm.config, fomm.kp_detector, fomm.generator, pairs(), ratio=0.5)
    pruned = load_fomm(cfg)
    load_state_strict(pruned.kp_detector, state["kp_detector"], "kp")
    load_state_strict(pruned.generator, state["generator"], "gen")
    widths = pruned.generator.default_widths()
    assert state["generator"]["skips.0.weight"].shape == (widths["up"][0], widths["down"][0], 1, 1)
    assert state["generator"]["image_skip.weight"].shape == (widths["up"][-1], 3, 1, 1)
    assert widths["up"][0] < fomm.generator.default_widths()["up"][0]
    prediction = run(pruned, *pairs(1, seed=7)[0])[1]
    assert np.isfinite(prediction).all() and prediction.shape == (2, 3, 64, 64)


def train_from_plain_weights(tmp_path, **generator_options):
    """Two training steps of a config with ``generator_options``, ``--load``-ing weights saved
    without them: (the completed process, the generator state of the latest checkpoint)."""
    pytest.importorskip("cv2")
    from ppfom.data.synthetic import make_dataset
    from test_train import main_py, run_dir_of, train_config, write_config

    root = tmp_path / "data"
    make_dataset(root, n_train=2, n_test=1, size=64, frames=8, seed=1, progress=False)
    cfg = train_config(root)
    paddle.seed(0)
    weights = tmp_path / "plain.pdparams"
    paddle.save(load_fomm(copy.deepcopy(cfg)).state_dicts(), str(weights))
    cfg["model"]["generator"]["generator_cfg"].update(generator_options)
    result = main_py("--config-file", write_config(tmp_path, cfg), "--load", weights, "--output-dir",
                     tmp_path / "out", "--max-steps", "2")
    assert result.returncode == 0, result.stderr
    state = paddle.load(str(run_dir_of(tmp_path / "out") / "checkpoints" / "latest.pdparams"))
    return result, state["generator"]


def test_training_loads_weights_without_skips_and_starts_them_at_zero(tmp_path):
    result, state = train_from_plain_weights(tmp_path, skip_connections=True, skip_source_image=True)
    assert "no skip connections and no source-image skip in these weights; they start at zero" in result.stderr
    for name in ("skips.0.weight", "skips.1.weight", "image_skip.weight"):
        assert np.abs(np.asarray(state[name])).max() > 0, name


def test_space_to_depth_is_pixel_unshuffle_and_pixel_shuffle_undoes_it():
    import paddle.nn.functional as F

    from ppfom.modules.blocks import SpaceToDepth

    x = frames(7, n=1) * 3 - 1
    x = paddle.concat([x, x * x], axis=1)  # 6 channels
    packed = SpaceToDepth(6, 4)(x)
    np.testing.assert_array_equal(packed.numpy(), F.pixel_unshuffle(x, 4).numpy())
    np.testing.assert_array_equal(F.pixel_shuffle(packed, 4).numpy(), x.numpy())


@pytest.mark.parametrize("mobile_net", [False, True])
def test_skip_model_exports_and_matches_dygraph_cached_and_uncached(tmp_path, mobile_net):
    """The packed source cache travels through the exported source encoder and frame decoder."""
    from ppfom.infer import create_engine

    backends = export_backends()
    cfg = tiny_config()
    cfg["model"]["generator"]["generator_cfg"]["skip_connections"] = True
    cfg["model"]["generator"]["generator_cfg"]["mobile_net"] = mobile_net
    cfg["model"]["generator"]["generator_cfg"]["skip_source_image"] = mobile_net  # once with it
    fomm = load_fomm(cfg)
    randomize(fomm.kp_detector, 51), randomize(fomm.generator, 52)  # the skips too: non-zero
    fomm.eval()
    source, driving = frames(8, n=1).numpy(), frames(9, n=2).numpy()
    reference = create_engine(fomm, "dygraph", size=64)
    kp_source, kp_driving = reference.keypoints(source), reference.keypoints(driving)
    want = reference.generate(reference.encode_source(source), kp_source, kp_driving)
    with paddle.no_grad():
        without_skips = copy.deepcopy(cfg)
        without_skips["model"]["generator"]["generator_cfg"].update(skip_connections=False, skip_source_image=False)
        plain = load_fomm(without_skips)
        plain.generator.set_state_dict(fomm.generator.state_dict())
        plain.eval()
        without = plain.generator(paddle.to_tensor(np.repeat(source, 2, 0)),
                                  kp_source={k: paddle.to_tensor(np.repeat(v, 2, 0)) for k, v in kp_source.items()},
                                  kp_driving={k: paddle.to_tensor(v) for k, v in kp_driving.items()})["prediction"]
    assert np.abs(want - without.numpy()).max() > 1e-3  # the skips do take part
    assert_engines_match(fomm, backends, tmp_path, source, kp_source, kp_driving, want)


def export_backends():
    """The engines that run exported models here (skips the test where paddle cannot export)."""
    from ppfom.export import paddle_can_export

    if not paddle_can_export()[0]:
        pytest.skip("this paddlepaddle cannot export")
    try:
        import paddlelite.lite  # noqa: F401
    except ImportError:
        return ["inference"]
    return ["inference", "lite"]


def assert_engines_match(fomm, backends, tmp_path, source, kp_source, kp_driving, want):
    """Each exported engine renders ``want`` (dygraph's frames), from the cache and without it."""
    from ppfom.infer import create_engine

    for backend in backends:
        engine = create_engine(fomm, backend, size=64, cache_dir=tmp_path, progress=False)
        got = engine.generate(engine.encode_source(source), kp_source, kp_driving)
        assert np.abs(got - want).max() <= 5e-4, backend
        got = engine.generate_uncached(source, kp_source, kp_driving)
        assert np.abs(got - want).max() <= 5e-4, backend
