"""PaddleGAN's inference-time border fix, as an opt-in setting (``numerics.border_fix``).

PaddleGAN's demo pulls the flow towards the identity near the image edge and forces the
occlusion map to 1 on a thin border, which hides smeared edges. Training and PaddleGAN's
export do not do this, so it stays off unless asked.

PaddleGAN builds its masks with numpy and cv2.GaussianBlur. Here they are graph ops (arange,
comparisons, a separable 9-tap blur with reflect-101 padding), so they are right for any
input size and export to Paddle Inference and Lite without numpy constants.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

MARGIN = 5
# cv2.GaussianBlur(ksize=9, sigma=0) uses OpenCV's fixed 9-tap table, not the Gaussian formula.
BLUR_TAPS = [1 / 64, 3.25 / 64, 7.5 / 64, 12.75 / 64, 15 / 64, 12.75 / 64, 7.5 / 64, 3.25 / 64, 1 / 64]
BLUR_SIZE = len(BLUR_TAPS)


def _inside_1d(n, dtype):
    """(n,) 1.0 for indices in [MARGIN, n - MARGIN), else 0.0.

    Arithmetic and clip only: comparisons with a scalar export a scalar constant that Paddle
    Lite's runtime aborts on."""
    index = paddle.arange(n, dtype=dtype)
    after_start = paddle.clip(index - (MARGIN - 1), 0.0, 1.0)
    before_end = paddle.clip((n - MARGIN) - index, 0.0, 1.0)
    return after_start * before_end


def inside_mask(height, width, dtype="float32"):
    """(1, 1, H, W): 1 inside, 0 on a MARGIN-pixel border."""
    return _inside_1d(height, dtype).reshape([1, 1, height, 1]) * _inside_1d(width, dtype).reshape([1, 1, 1, width])


def flow_weight(height, width, taps, dtype="float32"):
    """How much of the predicted flow to keep per pixel, (1, 1, H, W): the inside mask blurred."""
    r = BLUR_SIZE // 2
    mask = F.pad(inside_mask(height, width, dtype), [r, r, r, r], mode="reflect")  # reflect-101, as OpenCV
    mask = F.conv2d(mask, taps.reshape([1, 1, 1, BLUR_SIZE]))
    return F.conv2d(mask, taps.reshape([1, 1, BLUR_SIZE, 1]))


class BorderFix(nn.Layer):
    def __init__(self):
        super().__init__()
        # Not persistable: a constant, not a weight, so checkpoints keep PaddleGAN's keys.
        self.register_buffer("taps", paddle.to_tensor(BLUR_TAPS, dtype="float32"), persistable=False)

    def flow(self, deformation, identity):
        """Blend a (B, H, W, 2) flow towards the identity grid near the edge."""
        weight = flow_weight(deformation.shape[1], deformation.shape[2], self.taps, deformation.dtype)
        weight = weight.reshape([1, deformation.shape[1], deformation.shape[2], 1])
        return weight * deformation + (1 - weight) * identity

    def occlusion(self, occlusion_map):
        """Set a (B, 1, H, W) occlusion map to 1 on the border."""
        inside = inside_mask(occlusion_map.shape[2], occlusion_map.shape[3], occlusion_map.dtype)
        return occlusion_map * inside + (1 - inside)
