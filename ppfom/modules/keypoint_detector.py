"""Keypoint detector: heatmaps -> keypoints (soft-argmax) and local jacobians."""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..registry import KEYPOINT_DETECTORS
from .blocks import (AntiAliasInterpolation2d, ExplicitWidths, Hourglass, conv_stack, coordinate_grid,
                     mobile_widths)


@KEYPOINT_DETECTORS.register
class KPDetector(ExplicitWidths, nn.Layer):
    """Predicts ``num_kp`` keypoints in [-1, 1] (x, y) and, optionally, a 2x2 jacobian each.

    Input: NCHW float32 images in [0, 1]. Output: ``{"value": (N, K, 2), "jacobian": (N, K, 2, 2)}``.

    ``mobile_net``: PaddleGAN's mobile layout: a depthwise-separable hourglass, a 3x3 anti-alias
    kernel, and kp/jacobian heads of three 3x3 convs (no activation between them) instead of one
    7x7 conv; with ``pad`` 0 both shrink the heatmap by 6 pixels.
    ``widths`` (mobile only, for pruned networks): ``encoder`` (each down block's output width),
    ``decoder`` (each up block's output width, deepest first), ``kp`` and ``jacobian`` (the two
    hidden widths of each head; by default the hourglass output width). Missing keys take their
    defaults; :meth:`default_widths` gives the complete dict.
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
        mobile_net=False,
        widths=None,
    ):
        super().__init__()
        heads = ("kp", "jacobian") if estimate_jacobian else ("kp",)
        self.widths = mobile_widths(
            "KPDetector", widths, mobile_net, block_expansion, num_channels, num_blocks, max_features, heads
        )
        self.mobile_net = mobile_net
        self.predictor = Hourglass(
            block_expansion, in_features=num_channels, max_features=max_features, num_blocks=num_blocks,
            mobile_net=mobile_net, widths=self.widths,
        )
        feat = self.predictor.out_filters
        if mobile_net:
            self.kp = conv_stack([feat, *self.widths["kp"], num_kp], padding=pad, relu=False,
                                 weight_attr=nn.initializer.KaimingUniform)
        else:
            self.kp = nn.Conv2D(feat, num_kp, kernel_size=7, padding=pad)
        self.num_kp = num_kp
        if estimate_jacobian:
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            # Starts at the identity jacobian, as in the original.
            zero = lambda: nn.initializer.Constant(0.0)  # noqa: E731
            identity = nn.initializer.Assign(np.array([1, 0, 0, 1] * self.num_jacobian_maps, dtype="float32"))
            if mobile_net:
                # Only the last conv starts at zero: with every conv of the stack at zero no weight
                # gets a gradient and the head stays constant for good (see revive_jacobian_head).
                self.jacobian = conv_stack([feat, *self.widths["jacobian"], 4 * self.num_jacobian_maps],
                                           padding=pad, relu=False, weight_attr=nn.initializer.KaimingUniform,
                                           last_weight_attr=zero, last_bias_attr=identity)
            else:
                self.jacobian = nn.Conv2D(feat, 4 * self.num_jacobian_maps, kernel_size=7, padding=pad,
                                          weight_attr=zero(), bias_attr=identity)
        else:
            self.jacobian = None
        self.temperature = temperature
        self.return_heatmap = False
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor, mode=antialias, mobile_net=mobile_net)

    def revive_jacobian_head(self):
        """Give a dead mobile jacobian head back its gradients; True when it was dead.

        ppfom's mobile detectors up to 2026-12-07 started every conv of the jacobian head at zero:
        no weight of it ever got a gradient, so their jacobians are one constant (the last bias)
        for every image (measured on the shipped student: std 0 over frames). When all the
        head's weights are zero, the hidden convs get fresh random weights; the last stays zero,
        so the output is unchanged until training moves it.
        """
        if not self.mobile_net or self.jacobian is None:
            return False
        convs = [layer for layer in self.jacobian if isinstance(layer, nn.Conv2D)]
        if len(convs) < 2 or any(bool((conv.weight != 0).any()) for conv in convs):
            return False
        for conv in convs[:-1]:
            nn.initializer.KaimingUniform()(conv.weight)
        return True

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
        if self.return_heatmap:  # set by heatmap distillation (training only; exports never see it)
            out["heatmap"] = heatmap

        if self.jacobian is not None:
            jacobian_map = self.jacobian(feature_map).reshape([0, self.num_jacobian_maps, 4, h * w])
            jacobian = (heatmap.unsqueeze(2) * jacobian_map).sum(axis=-1)
            out["jacobian"] = jacobian.reshape([0, self.num_kp, 2, 2])
        return out
