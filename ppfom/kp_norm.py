"""Keypoint normalization for animation: relative motion and adapt_movement_scale.

Runs on the host in numpy (float32), one implementation for every engine: exported graphs
never contain it, since the movement scale is one number per video. Paddle tensors in give
Paddle tensors out.
"""
import numpy as np
from scipy.spatial import ConvexHull


def hull_area(points):
    """Area of the convex hull of (K, 2) points (scipy's 2-D ``volume``); 0 when degenerate."""
    points = np.asarray(points, dtype=np.float64)
    try:
        return float(ConvexHull(points).volume)
    except Exception:  # fewer than 3 points or all on a line: no area to compare
        return 0.0


def movement_scale(kp_source_value, kp_driving_initial_value):
    """sqrt(source hull area / initial driving hull area), from batch element 0 as the original.

    A degenerate hull (collinear keypoints) gives 1, where the original raises.
    """
    source_area = hull_area(_numpy(kp_source_value)[0])
    driving_area = hull_area(_numpy(kp_driving_initial_value)[0])
    if source_area <= 0 or driving_area <= 0:
        return 1.0
    return float(np.sqrt(source_area) / np.sqrt(driving_area))


def _numpy(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def inverse_2x2(m):
    """Closed-form inverse of (..., 2, 2) matrices, as the exported graphs compute it."""
    a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
    det = a * d - b * c
    return np.stack([np.stack([d, -b], -1), np.stack([-c, a], -1)], -2) / det[..., None, None]


def normalize_kp(
    kp_source,
    kp_driving,
    kp_driving_initial,
    adapt_movement_scale=False,
    use_relative_movement=False,
    use_relative_jacobian=False,
    scale=None,
):
    """Move the source keypoints by the driving motion since the initial driving frame.

    Keypoint dicts hold ``value`` (N, K, 2) and optionally ``jacobian`` (N, K, 2, 2), as numpy
    arrays or Paddle tensors. ``scale`` overrides the convex-hull movement scale (one number
    per video, computed once); by default it is computed here when ``adapt_movement_scale``.
    Returns a new dict like ``kp_driving``, of the same array type.
    """
    as_paddle = any(hasattr(v, "place") for v in kp_driving.values())
    driving = {k: _numpy(v).astype(np.float32, copy=False) for k, v in kp_driving.items()}
    out = dict(driving)
    if use_relative_movement:
        if scale is None:
            scale = movement_scale(kp_source["value"], kp_driving_initial["value"]) if adapt_movement_scale else 1.0
        initial = _numpy(kp_driving_initial["value"])
        out["value"] = (driving["value"] - initial) * np.float32(scale) + _numpy(kp_source["value"])
        if use_relative_jacobian and "jacobian" in driving:
            relative = np.matmul(driving["jacobian"], inverse_2x2(_numpy(kp_driving_initial["jacobian"])))
            out["jacobian"] = np.matmul(relative, _numpy(kp_source["jacobian"]))
    out = {k: v.astype(np.float32, copy=False) for k, v in out.items()}
    if as_paddle:
        import paddle

        out = {k: paddle.to_tensor(v) for k, v in out.items()}
    return out
