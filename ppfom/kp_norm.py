"""Keypoint normalization for animation: relative motion and adapt_movement_scale."""
import numpy as np
import paddle
from scipy.spatial import ConvexHull

from .modules.blocks import matmul_inverse_2x2


def hull_area(points):
    """Area of the convex hull of (K, 2) points (scipy's 2-D ``volume``); 0 when degenerate."""
    points = np.asarray(points, dtype=np.float64)
    try:
        return float(ConvexHull(points).volume)
    except Exception:  # fewer than 3 points or all on a line: no area to compare
        return 0.0


def movement_scale(kp_source_value, kp_driving_initial_value):
    """sqrt(source hull area / initial driving hull area), from batch element 0 as the original."""
    src = _numpy(kp_source_value)[0]
    drv = _numpy(kp_driving_initial_value)[0]
    source_area, driving_area = hull_area(src), hull_area(drv)
    if source_area <= 0 or driving_area <= 0:
        return 1.0
    return float(np.sqrt(source_area) / np.sqrt(driving_area))


def _numpy(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def _tensor(x):
    return x if isinstance(x, paddle.Tensor) else paddle.to_tensor(np.asarray(x, dtype=np.float32))


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

    Keypoint dicts hold ``value`` (N, K, 2) and optionally ``jacobian`` (N, K, 2, 2).
    ``scale`` overrides the convex-hull movement scale (e.g. one number per video computed
    once); by default it is computed here when ``adapt_movement_scale`` is on.
    Returns a new dict like ``kp_driving``.
    """
    if scale is None:
        scale = movement_scale(kp_source["value"], kp_driving_initial["value"]) if adapt_movement_scale else 1.0
    kp_new = {k: _tensor(v) for k, v in kp_driving.items()}
    if use_relative_movement:
        diff = _tensor(kp_driving["value"]) - _tensor(kp_driving_initial["value"])
        kp_new["value"] = diff * scale + _tensor(kp_source["value"])
        if use_relative_jacobian and "jacobian" in kp_driving:
            jac = _relative_jacobian(
                _tensor(kp_driving["jacobian"]), _tensor(kp_driving_initial["jacobian"]), _tensor(kp_source["jacobian"])
            )
            kp_new["jacobian"] = jac
    return kp_new


def _relative_jacobian(driving, initial, source):
    """(driving @ inverse(initial)) @ source, for (N, K, 2, 2) tensors."""
    a, b, c, d = matmul_inverse_2x2(driving, initial)
    rel = paddle.concat([a, b, c, d], axis=-1).reshape(a.shape[:2] + [2, 2])
    return paddle.matmul(rel, paddle.expand_as(source, rel) if source.shape[0] != rel.shape[0] else source)
