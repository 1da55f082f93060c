"""exact_flow_resize (ours): the flow is resized with align_corners=True, so a motionless flow
estimated at a quarter of the frame's size still warps the frame onto itself; off by default,
where the original's resize shifts it (kept for parity with its checkpoints)."""
import numpy as np
import paddle
import pytest

from helpers import randomize
from test_blend import fomm_with
from test_skip_connections import frames


def motionless_warp(exact_flow_resize, align_corners):
    from helpers import tiny_config
    from ppfom.api import load_fomm

    cfg = tiny_config(align_corners=align_corners)  # dense motion at 16x16 for 64x64 frames
    cfg["model"]["generator"]["generator_cfg"]["exact_flow_resize"] = exact_flow_resize
    fomm = load_fomm(cfg)
    randomize(fomm.kp_detector, 1), randomize(fomm.generator, 2)
    fomm.eval()
    source = frames(3, n=1)
    with paddle.no_grad():
        kp = fomm.kp_detector(source)
        out = fomm.generator(source, kp_driving=kp, kp_source=kp)
    assert out["deformation"].shape[1:3] == [16, 16]  # so the warp of the 64x64 frame resizes it
    return np.abs(out["deformed"].numpy() - source.numpy())


def test_motionless_flow_resized_exactly_is_the_identity():
    assert motionless_warp(True, align_corners=True).max() < 1e-4


@pytest.mark.parametrize("align_corners", [False, True])
def test_the_original_resize_moves_a_motionless_frame(align_corners):
    # the original's convention (off by default): a half-pixel shift that blurs every edge
    assert motionless_warp(False, align_corners).mean() > 1e-2


def test_exact_resize_changes_only_the_resize():
    plain = fomm_with(4)
    exact = fomm_with(4, exact_flow_resize=True)
    assert set(plain.generator.state_dict()) == set(exact.generator.state_dict())  # no new weights
    randomize(plain.generator, 5)
    exact.generator.set_state_dict(plain.generator.state_dict())
    plain.eval(), exact.eval()
    source, driving = frames(6), frames(7)
    with paddle.no_grad():
        kp_s, kp_d = plain.kp_detector(source), plain.kp_detector(driving)
        a = plain.generator(source, kp_driving=kp_d, kp_source=kp_s)
        b = exact.generator(source, kp_driving=kp_d, kp_source=kp_s)
    np.testing.assert_array_equal(a["deformation"].numpy(), b["deformation"].numpy())
    assert np.abs(a["deformed"].numpy() - b["deformed"].numpy()).max() > 1e-3
