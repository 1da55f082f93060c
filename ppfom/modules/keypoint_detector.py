"""Keypoint detector: heatmaps -> keypoints (soft-argmax) and local jacobians."""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..registry import KEYPOINT_DETECTORS
from .blocks import AntiAliasInterpolation2d, Hourglass, coordinate_grid


@KEYPOINT_DETECTORS.register
class KPDetector(nn.Layer):
    """Predicts ``num_kp`` keypoints in [-1, 1] (x, y) and, optionally, a 2x2 jacobian each.

    Input: NCHW float32 images in [0, 1]. Output: ``{"value": (N, K, 2), "jacobian": (N, K, 2, 2)}``.
    """

    def __init__(
        self,
        block_expansion,
        num_kp,
        num_channels,
        max_features,
        num_blocks,
        temperature,
        estimate_jacobian=False,
        scale_factor=1,
        single_jacobian_map=False,
        pad=0,
        antialias="strided",
    ):
        super().__init__()
        self.predictor = Hourglass(block_expansion, in_features=num_channels, max_features=max_features, num_blocks=num_blocks)
        self.kp = nn.Conv2D(self.predictor.out_filters, num_kp, kernel_size=7, padding=pad)
        self.num_kp = num_kp
        if estimate_jacobian:
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            # Starts at the identity jacobian, as in the original.
            self.jacobian = nn.Conv2D(
                self.predictor.out_filters,
                4 * self.num_jacobian_maps,
                kernel_size=7,
                padding=pad,
                weight_attr=nn.initializer.Constant(0.0),
                bias_attr=nn.initializer.Assign(np.array([1, 0, 0, 1] * self.num_jacobian_maps, dtype="float32")),
            )
        else:
            self.jacobian = None
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor, mode=antialias)

    def forward(self, x):
        if self.scale_factor != 1:
            x = self.down(x)
        feature_map = self.predictor(x)
        logits = self.kp(feature_map)
        h, w = logits.shape[2], logits.shape[3]
        heatmap = F.softmax(logits.reshape([0, self.num_kp, h * w]) / self.temperature, axis=2)

        # Soft-argmax as a 4-D product summed over the pixel axis (Lite: no 5-D reductions).
        xx, yy = coordinate_grid(h, w, heatmap.dtype)
        grid = paddle.concat([xx.reshape([1, 1, h * w, 1]), yy.reshape([1, 1, h * w, 1])], axis=3)
        value = (heatmap.unsqueeze(-1) * grid).sum(axis=2)
        out = {"value": value}

        if self.jacobian is not None:
            jacobian_map = self.jacobian(feature_map).reshape([0, self.num_jacobian_maps, 4, h * w])
            jacobian = (heatmap.unsqueeze(2) * jacobian_map).sum(axis=-1)
            out["jacobian"] = jacobian.reshape([0, self.num_kp, 2, 2])
        return out
