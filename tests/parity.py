"""Run a loaded FOMM the way the original's demo.py does, and compare with stored outputs."""
import numpy as np
import paddle

from ppfom import normalize_kp
from ppfom.kp_norm import movement_scale

TIGHT, LOOSE = 1e-4, 5e-4  # the fixture README's tolerances
TOLERANCES = {
    "kp_source/value": TIGHT, "kp_source/jacobian": TIGHT,
    "kp_driving/value": TIGHT, "kp_driving/jacobian": TIGHT,
    "kp_norm/value": TIGHT, "kp_norm/jacobian": TIGHT,
    "normalize/adapt_movement_scale": 1e-5,
    "out/mask": TIGHT, "out/occlusion_map": TIGHT, "dense_motion/deformation": TIGHT,
    "out/sparse_deformed": LOOSE, "out/deformed": LOOSE, "out/prediction": LOOSE,
}
_GENERATOR_KEYS = {"prediction": "out/prediction", "deformed": "out/deformed", "mask": "out/mask",
                   "sparse_deformed": "out/sparse_deformed", "occlusion_map": "out/occlusion_map",
                   "deformation": "dense_motion/deformation"}
DEMO_NORMALIZATION = {"use_relative_movement": True, "use_relative_jacobian": True, "adapt_movement_scale": True}


def run_like_original_demo(fomm, source, driving, normalization=None):
    """kp_detector on the source and on all driving frames at once, then per frame
    normalize_kp and the generator. Returns numpy arrays under the fixture's keys."""
    norm = dict(DEMO_NORMALIZATION if normalization is None else normalization)
    out = {}
    with paddle.no_grad():
        kp_source = fomm.kp_detector(paddle.to_tensor(source))
        kp_driving = fomm.kp_detector(paddle.to_tensor(driving))
        kp_initial = {k: v[0:1] for k, v in kp_driving.items()}
        for name in kp_source:
            out[f"kp_source/{name}"] = kp_source[name]
            out[f"kp_driving/{name}"] = kp_driving[name]
        adapt = norm.get("adapt_movement_scale")
        out["normalize/adapt_movement_scale"] = movement_scale(kp_source["value"], kp_initial["value"]) if adapt else 1.0
        frames = {}
        for i in range(driving.shape[0]):
            kp_frame = {k: v[i:i + 1] for k, v in kp_driving.items()}
            kp_norm = normalize_kp(kp_source, kp_frame, kp_initial, **norm)
            generated = fomm.generator(paddle.to_tensor(source), kp_source=kp_source, kp_driving=kp_norm)
            for name, value in kp_norm.items():
                frames.setdefault(f"kp_norm/{name}", []).append(value.numpy())
            for name, value in generated.items():
                frames.setdefault(_GENERATOR_KEYS.get(name, name), []).append(value.numpy())
    out.update({k: np.concatenate(v) for k, v in frames.items()})
    return {k: (v.numpy() if hasattr(v, "numpy") else np.asarray(v)) for k, v in out.items()}


def parity_errors(ours, reference):
    """Max abs error for every key of TOLERANCES present in the reference."""
    errors = {}
    for key in TOLERANCES:
        if key in reference:
            assert key in ours, f"{key} is in the reference but ppfom did not produce it"
            errors[key] = float(np.abs(np.asarray(ours[key], np.float64) - reference[key]).max())
    return errors


def assert_parity(ours, reference, label=""):
    errors = parity_errors(ours, reference)
    assert "out/prediction" in errors
    bad = {k: e for k, e in errors.items() if e > TOLERANCES[k]}
    assert not bad, f"{label}: " + ", ".join(f"{k} {e:.2e} > {TOLERANCES[k]:.0e}" for k, e in bad.items())
    return errors
