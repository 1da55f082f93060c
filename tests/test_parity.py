"""load_fomm on the original's checkpoints reproduces the original PyTorch FOMM's outputs.

The fixture (shared/fixtures) was made by the original code; tests/test_parity_torch.py
repeats this on other configs and seeds through an independent PyTorch reference.
"""
import numpy as np
import paddle
import pytest
import yaml

from ppfom import load_fomm, normalize_kp

# Tolerances of the fixture README: the original's own fp32 noise is 10x smaller.
TIGHT, LOOSE = 1e-4, 5e-4
CHECKS = [
    ("kp_source/value", TIGHT), ("kp_source/jacobian", TIGHT),
    ("kp_driving/value", TIGHT), ("kp_driving/jacobian", TIGHT),
    ("kp_norm/value", TIGHT), ("kp_norm/jacobian", TIGHT),
    ("normalize/adapt_movement_scale", 1e-5),
    ("out/mask", TIGHT), ("out/occlusion_map", TIGHT), ("dense_motion/deformation", TIGHT),
    ("out/sparse_deformed", LOOSE), ("out/deformed", LOOSE), ("out/prediction", LOOSE),
]


def run_like_original_demo(fomm, source, driving):
    """The fixture README's 'What was run': one kp call for all driving frames, then per frame."""
    from ppfom.kp_norm import movement_scale

    out = {}
    with paddle.no_grad():
        kp_source = fomm.kp_detector(paddle.to_tensor(source))
        kp_driving = fomm.kp_detector(paddle.to_tensor(driving))
        kp_initial = {k: v[0:1] for k, v in kp_driving.items()}
        out["kp_source/value"], out["kp_source/jacobian"] = kp_source["value"], kp_source["jacobian"]
        out["kp_driving/value"], out["kp_driving/jacobian"] = kp_driving["value"], kp_driving["jacobian"]
        out["normalize/adapt_movement_scale"] = movement_scale(kp_source["value"], kp_initial["value"])
        frames = {}
        for i in range(driving.shape[0]):
            kp_norm = normalize_kp(kp_source, {k: v[i:i + 1] for k, v in kp_driving.items()}, kp_initial,
                                   use_relative_movement=True, use_relative_jacobian=True,
                                   adapt_movement_scale=True)
            gen = fomm.generator(paddle.to_tensor(source), kp_source=kp_source, kp_driving=kp_norm)
            gen["kp_norm/value"], gen["kp_norm/jacobian"] = kp_norm["value"], kp_norm["jacobian"]
            for key, value in gen.items():
                frames.setdefault(key, []).append(value.numpy())
    names = {"prediction": "out/prediction", "deformed": "out/deformed", "mask": "out/mask",
             "sparse_deformed": "out/sparse_deformed", "occlusion_map": "out/occlusion_map",
             "deformation": "dense_motion/deformation"}
    for key, values in frames.items():
        out[names.get(key, key)] = np.concatenate(values)
    return {k: (v.numpy() if hasattr(v, "numpy") else np.asarray(v)) for k, v in out.items()}


def max_errors(ours, reference):
    return {key: float(np.abs(np.asarray(ours[key], np.float64) - reference[key]).max()) for key, _ in CHECKS}


@pytest.fixture(scope="module")
def reference(shared_fixtures):
    return dict(np.load(shared_fixtures / "fomm_small.npz"))


@pytest.mark.parametrize("checkpoint", ["fomm_small_zip.pth.tar", "fomm_small_legacy.pth.tar"])
def test_original_checkpoint_reproduces_original_outputs(shared_fixtures, reference, checkpoint):
    config = yaml.safe_load(str(reference["config_yaml"]))  # the original's own YAML layout
    fomm = load_fomm(config, weights=str(shared_fixtures / checkpoint))
    assert fomm.numerics.align_corners is False, "a .pth.tar runs as upstream runs it today"
    ours = run_like_original_demo(fomm, reference["input/source"], reference["input/driving"])
    errors = max_errors(ours, reference)
    for key, tolerance in CHECKS:
        assert errors[key] <= tolerance, f"{key}: max abs error {errors[key]:.2e} > {tolerance:.0e}"


def test_wrong_convention_is_detected(shared_fixtures, reference):
    """The comparison has teeth: PaddleGAN's align_corners=True moves the prediction far out."""
    config = yaml.safe_load(str(reference["config_yaml"]))
    fomm = load_fomm(config, weights=str(shared_fixtures / "fomm_small_zip.pth.tar"),
                     overrides=["model.numerics.align_corners=true"])
    ours = run_like_original_demo(fomm, reference["input/source"], reference["input/driving"])
    assert max_errors(ours, reference)["out/prediction"] > 1e-2


def test_converted_pdparams_gives_the_same_pictures(shared_fixtures, reference, tmp_path):
    """convert_weights writes PaddleGAN's layout; loading it (with the original's numerics) is equal."""
    from ppfom.checkpoint.convert import original_to_paddlegan, save_pdparams
    from ppfom.checkpoint.torch_reader import read_torch_checkpoint

    dst = tmp_path / "small.pdparams"
    save_pdparams(original_to_paddlegan(read_torch_checkpoint(shared_fixtures / "fomm_small_zip.pth.tar")), dst)
    config = yaml.safe_load(str(reference["config_yaml"]))
    fomm = load_fomm(config, weights=str(dst), overrides=["model.numerics.align_corners=false"])
    ours = run_like_original_demo(fomm, reference["input/source"], reference["input/driving"])
    assert max_errors(ours, reference)["out/prediction"] <= LOOSE
    # Without the override a .pdparams is taken to be PaddleGAN's, which runs align_corners=True.
    assert load_fomm(config, weights=str(dst)).numerics.align_corners is True
