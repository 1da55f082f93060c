"""The generator's warped-source blend (ours): the frame is a learned per-pixel mix of the decoded
frame and the source warped by the flow; off by default, loadable from weights without it,
carried through the source cache, export and pruning."""

import numpy as np
import paddle
import pytest

from helpers import randomize, tiny_config
from ppfom.api import load_fomm
from ppfom.errors import ConfigError
from test_skip_connections import assert_engines_match, export_backends, frames, train_from_plain_weights


def fomm_with(seed=0, mobile_net=False, **generator_options):
    cfg = tiny_config(align_corners=True)
    cfg["model"]["generator"]["generator_cfg"].update(mobile_net=mobile_net, **generator_options)
    paddle.seed(seed)
    return load_fomm(cfg)


def set_blend_bias(generator, bias):
    generator.blend.weight.set_value(paddle.zeros(generator.blend.weight.shape))
    generator.blend.bias.set_value(paddle.full(generator.blend.bias.shape, bias))


def run(generator, kp_detector, source, driving, cached=False):
    with paddle.no_grad():
        kp_s, kp_d = kp_detector(source), kp_detector(driving)
        cache = generator.encode(source) if cached else None
        return generator(source, kp_driving=kp_d, kp_source=kp_s, source_cache=cache)


@pytest.mark.parametrize("skip_source_image", [False, True])
def test_blend_mixes_the_decoded_frame_with_the_warped_source(skip_source_image):
    plain = fomm_with(skip_source_image=skip_source_image)
    assert plain.generator.blend is None  # off by default
    blended = fomm_with(skip_source_image=skip_source_image, blend_warped_source=True)
    added = set(blended.generator.state_dict()) - set(plain.generator.state_dict())
    assert added == {"blend.weight", "blend.bias"}
    randomize(plain.generator, 3), randomize(plain.kp_detector, 4)
    blended.generator.set_state_dict(plain.generator.state_dict())
    blended.kp_detector.set_state_dict(plain.kp_detector.state_dict())
    plain.eval(), blended.eval()
    source, driving = frames(5), frames(6)
    base = run(plain.generator, plain.kp_detector, source, driving)
    decoded, warped = base["prediction"].numpy(), base["deformed"].numpy()
    assert np.abs(decoded - warped).mean() > 1e-2  # so that the checks below tell the two apart

    set_blend_bias(blended.generator, 0.0)  # its zero start: an even mix
    out = run(blended.generator, blended.kp_detector, source, driving, cached=True)
    np.testing.assert_allclose(out["prediction"].numpy(), (decoded + warped) / 2, atol=1e-5)
    np.testing.assert_allclose(out["deformed"].numpy(), warped, atol=1e-6)
    set_blend_bias(blended.generator, 30.0)  # all warp
    got = run(blended.generator, blended.kp_detector, source, driving)["prediction"].numpy()
    np.testing.assert_allclose(got, warped, atol=1e-5)
    set_blend_bias(blended.generator, -30.0)  # all decoder: the frames without the blend
    got = run(blended.generator, blended.kp_detector, source, driving)["prediction"].numpy()
    np.testing.assert_allclose(got, decoded, atol=1e-5)


def test_blend_caches_the_source_and_cached_equals_uncached():
    fomm = fomm_with(7, blend_warped_source=True)
    randomize(fomm.generator, 8)
    fomm.eval()
    source, driving = frames(9), frames(10)
    with paddle.no_grad():
        cache = fomm.generator.encode(source)
    _, inputs = fomm.generator._unpack(cache["features"])
    np.testing.assert_array_equal(inputs[-1].numpy(), source.numpy())  # no image skip: packed for the blend
    cached = run(fomm.generator, fomm.kp_detector, source, driving, cached=True)["prediction"].numpy()
    uncached = run(fomm.generator, fomm.kp_detector, source, driving)["prediction"].numpy()
    np.testing.assert_allclose(cached, uncached, atol=1e-6)


def test_blend_without_dense_motion_is_a_config_error():
    from ppfom.modules.generator import OcclusionAwareGenerator

    with pytest.raises(ConfigError, match="blend_warped_source needs a dense motion network"):
        OcclusionAwareGenerator(3, 10, 8, 32, 2, 1, blend_warped_source=True)


def test_blend_learns_at_ten_times_the_rate():
    fomm = fomm_with(11, blend_warped_source=True)
    source, driving = frames(12), frames(13)
    with paddle.no_grad():
        kp_s, kp_d = fomm.kp_detector(source), fomm.kp_detector(driving)
    fomm.generator.train()
    optimizer = paddle.optimizer.Adam(learning_rate=1e-3, parameters=fomm.generator.blend.parameters())
    loss = paddle.abs(fomm.generator(source, kp_driving=kp_d, kp_source=kp_s)["prediction"] - driving).mean()
    loss.backward()
    optimizer.step()
    # Adam's first step moves each weight with a gradient by about lr, times the blend's 10x
    assert np.abs(fomm.generator.blend.bias.numpy()).max() > 5e-3
    assert np.abs(fomm.generator.blend.weight.numpy()).max() > 5e-3


def test_pruning_the_last_up_block_slices_the_blend_too():
    from ppfom.checkpoint.state import load_state_strict
    from ppfom.prune import prune_fomm
    from test_prune import mobile_config, mobile_fomm, pairs
    from test_prune import run as run_pair

    cfg = mobile_config()
    cfg["model"]["generator"]["generator_cfg"].update(skip_connections=True, blend_warped_source=True)
    fomm = mobile_fomm(14, cfg)
    randomize(fomm.generator.blend, 15)
    cfg, state = prune_fomm(fomm.config, fomm.kp_detector, fomm.generator, pairs(), ratio=0.5)
    pruned = load_fomm(cfg)
    load_state_strict(pruned.kp_detector, state["kp_detector"], "kp")
    load_state_strict(pruned.generator, state["generator"], "gen")
    last_up = pruned.generator.default_widths()["up"][-1]
    assert last_up < fomm.generator.default_widths()["up"][-1]
    assert state["generator"]["blend.weight"].shape == (1, last_up, 3, 3)
    prediction = run_pair(pruned, *pairs(1, seed=16)[0])[1]
    assert np.isfinite(prediction).all() and prediction.shape == (2, 3, 64, 64)


def test_training_loads_weights_without_the_blend_and_trains_it(tmp_path):
    result, state = train_from_plain_weights(tmp_path, blend_warped_source=True)
    assert "no warped-source blend in these weights; they start at zero" in result.stderr
    assert np.abs(np.asarray(state["blend.weight"])).max() > 0


def test_blend_model_exports_and_matches_dygraph_cached_and_uncached(tmp_path):
    """With exact_flow_resize too, as the shipped models have it (an align_corners=True resize).
    The blend is the same conv in both layouts: the mobile one (the shipped student's) is
    exported and compared here; the full one runs through Paddle Inference in the no-argument
    demo test (the shipped model)."""
    from ppfom.infer import create_engine

    backends = export_backends()
    cfg = tiny_config()
    cfg["model"]["generator"]["generator_cfg"].update(mobile_net=True, skip_source_image=True,
                                                      blend_warped_source=True, exact_flow_resize=True)
    fomm = load_fomm(cfg)
    randomize(fomm.kp_detector, 17), randomize(fomm.generator, 18)
    fomm.eval()
    source, driving = frames(19, n=1).numpy(), frames(20, n=2).numpy()
    reference = create_engine(fomm, "dygraph", size=64)
    kp_source, kp_driving = reference.keypoints(source), reference.keypoints(driving)
    want = reference.generate(reference.encode_source(source), kp_source, kp_driving)
    trained = {k: v.numpy() for k, v in fomm.generator.blend.state_dict().items()}
    set_blend_bias(fomm.generator, -30.0)  # all decoder: the blend must change the frames
    without = reference.generate(reference.encode_source(source), kp_source, kp_driving)
    assert np.abs(want - without).max() > 1e-3
    fomm.generator.blend.set_state_dict(trained)
    assert_engines_match(fomm, backends, tmp_path, source, kp_source, kp_driving, want)
