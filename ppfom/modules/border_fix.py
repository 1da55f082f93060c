"""PaddleGAN's inference-time border fix, as an opt-in setting (``numerics.border_fix``).

PaddleGAN's demo pulls the flow towards the identity near the image edge and forces the
occlusion map to 1 on a thin border, which hides smeared edges. Training and PaddleGAN's
export do not do this, so it stays off unless asked. Built with masks, not slice
assignment, so the graph still runs in Paddle Lite.
"""
import numpy as np
import paddle

MARGIN = 5
_BLUR_SIZE = 9


def _opencv_gaussian_1d(size):
    # OpenCV's GaussianBlur with sigma 0 derives sigma from the size this way.
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-(x * x) / (2 * sigma * sigma))
    return k / k.sum()


def inside_mask(height, width, margin=MARGIN):
    """1 inside, 0 on a ``margin``-pixel border, float32 (H, W)."""
    mask = np.zeros((height, width), np.float32)
    mask[margin:height - margin, margin:width - margin] = 1.0
    return mask


def flow_weight(height, width):
    """How much of the predicted flow to keep per pixel: the inside mask blurred 9x9.

    Separable blur with reflect-101 borders, as cv2.GaussianBlur(..., BORDER_ISOLATED).
    """
    k = _opencv_gaussian_1d(_BLUR_SIZE)
    r = _BLUR_SIZE // 2
    padded = np.pad(inside_mask(height, width).astype(np.float64), r, mode="reflect")
    rows = sum(k[i] * padded[i:i + height, :] for i in range(_BLUR_SIZE))
    out = sum(k[i] * rows[:, i:i + width] for i in range(_BLUR_SIZE))
    return out.astype(np.float32)


class BorderFix:
    """Caches the per-size constants; ``flow`` and ``occlusion`` apply the fix."""

    def __init__(self):
        self._cache = {}

    def _constants(self, h, w):
        if (h, w) not in self._cache:
            self._cache[(h, w)] = (
                paddle.to_tensor(flow_weight(h, w).reshape(1, h, w, 1)),
                paddle.to_tensor(inside_mask(h, w).reshape(1, 1, h, w)),
            )
        return self._cache[(h, w)]

    def flow(self, deformation, identity):
        """Blend a (B, H, W, 2) flow towards the identity grid near the edge."""
        weight, _ = self._constants(deformation.shape[1], deformation.shape[2])
        return weight * deformation + (1 - weight) * identity

    def occlusion(self, occlusion_map):
        """Set a (B, 1, H, W) occlusion map to 1 on the border."""
        _, inside = self._constants(occlusion_map.shape[2], occlusion_map.shape[3])
        return occlusion_map * inside + (1 - inside)
