"""Dense motion network: from sparse keypoint motions to a dense flow and an occlusion map."""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .blocks import (
    AntiAliasInterpolation2d,
    ExplicitWidths,
    Hourglass,
    conv_stack,
    coordinate_grid,
    kp2gaussian,
    matmul_inverse_2x2,
    mobile_widths,
    split_xy,
)


def stack_grid(x, y, height, width):
    """Two (..., H, W) coordinate tensors -> a (M, H, W, 2) sampling grid for grid_sample."""
    return paddle.concat([x.reshape([-1, height, width, 1]), y.reshape([-1, height, width, 1])], axis=3)


class DenseMotionNetwork(ExplicitWidths, nn.Layer):
    """Predicts, for each pixel of the driving frame, where to sample the source.

    Motions are kept as separate x and y tensors of shape (B, K+1, H, W) (index 0 is the
    background, i.e. no motion), so that no reduction runs over a 5-D tensor.

    ``mobile_net``: PaddleGAN's mobile layout: a depthwise-separable hourglass, a 3x3 anti-alias
    kernel, and mask/occlusion heads [conv 3x3, ReLU, conv 3x3, ReLU, conv 3x3] instead of one
    7x7 conv. ``widths`` (mobile only, for pruned networks): ``encoder``, ``decoder`` (as
    KPDetector's), ``mask`` and ``occlusion`` (the two hidden widths of each head; by default
    the hourglass output width). See :meth:`default_widths`.
    """

    def __init__(
        self,
        block_expansion,
        num_blocks,
        max_features,
        num_kp,
        num_channels,
        estimate_occlusion_map=False,
        scale_factor=1,
        kp_variance=0.01,
        align_corners=False,
        antialias="strided",
        mobile_net=False,
        widths=None,
    ):
        super().__init__()
        in_features = (num_kp + 1) * (num_channels + 1)
        heads = ("mask", "occlusion") if estimate_occlusion_map else ("mask",)
        self.widths = mobile_widths(
            "DenseMotionNetwork", widths, mobile_net, block_expansion, in_features, num_blocks, max_features, heads
        )
        self.mobile_net = mobile_net
        self.hourglass = Hourglass(
            block_expansion=block_expansion,
            in_features=in_features,
            max_features=max_features,
            num_blocks=num_blocks,
            mobile_net=mobile_net,
            widths=self.widths,
        )
        feat = self.hourglass.out_filters
        if mobile_net:
            kaiming = nn.initializer.KaimingUniform
            self.mask = conv_stack([feat, *self.widths["mask"], num_kp + 1], weight_attr=kaiming)
            self.occlusion = (
                conv_stack([feat, *self.widths["occlusion"], 1], weight_attr=kaiming) if estimate_occlusion_map else None
            )
        else:
            self.mask = nn.Conv2D(feat, num_kp + 1, kernel_size=7, padding=3)
            self.occlusion = nn.Conv2D(feat, 1, kernel_size=7, padding=3) if estimate_occlusion_map else None
        self.num_kp = num_kp
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        self.align_corners = align_corners
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor, mode=antialias, mobile_net=mobile_net)

    def heatmap_representation(self, h, w, kp_driving, kp_source):
        """Driving minus source gaussians, with a zero background channel: (B, K+1, H, W)."""
        heatmap = kp2gaussian(kp_driving["value"], h, w, self.kp_variance) - kp2gaussian(
            kp_source["value"], h, w, self.kp_variance
        )
        return paddle.concat([heatmap[:, 0:1] * 0.0, heatmap], axis=1)

    def sparse_motions(self, h, w, kp_driving, kp_source):
        """Where each keypoint's local affine motion takes every pixel: x and y, (B, K+1, H, W)."""
        xx, yy = coordinate_grid(h, w, kp_driving["value"].dtype)
        dx_, dy_ = split_xy(kp_driving["value"])
        sx, sy = split_xy(kp_source["value"])
        dx = xx - dx_
        dy = yy - dy_
        if "jacobian" in kp_driving and kp_driving["jacobian"] is not None:
            j00, j01, j10, j11 = matmul_inverse_2x2(kp_source["jacobian"], kp_driving["jacobian"])
            dx, dy = j00 * dx + j01 * dy, j10 * dx + j11 * dy
        motion_x = dx + sx
        motion_y = dy + sy
        # The background keeps every pixel where it is; "* 0" borrows the batch size.
        zero = motion_x[:, 0:1] * 0.0
        return paddle.concat([xx + zero, motion_x], axis=1), paddle.concat([yy + zero, motion_y], axis=1)

    def deformed_sources(self, source, motion_x, motion_y):
        """The source warped by each of the K+1 motions: (B*(K+1), C, H, W)."""
        c, h, w = source.shape[1], source.shape[2], source.shape[3]
        k1 = self.num_kp + 1
        repeated = paddle.tile(source.reshape([0, 1, c * h, w]), [1, k1, 1, 1]).reshape([-1, c, h, w])
        grid = stack_grid(motion_x, motion_y, h, w)
        return F.grid_sample(repeated, grid, mode="bilinear", padding_mode="zeros", align_corners=self.align_corners)

    def downsample(self, source_image):
        """The source at the resolution motion is estimated at (depends on the source alone)."""
        return self.down(source_image) if self.scale_factor != 1 else source_image

    def forward(self, source_image, kp_driving, kp_source, source_small=None):
        """``source_small`` is ``downsample(source_image)``, when the caller has it cached."""
        source_image = self.downsample(source_image) if source_small is None else source_small
        c, h, w = source_image.shape[1], source_image.shape[2], source_image.shape[3]
        k1 = self.num_kp + 1

        heatmap = self.heatmap_representation(h, w, kp_driving, kp_source)
        motion_x, motion_y = self.sparse_motions(h, w, kp_driving, kp_source)
        deformed = self.deformed_sources(source_image, motion_x, motion_y)

        # Per keypoint: its heatmap channel followed by its warped source, as the original orders them.
        features = paddle.concat(
            [heatmap.reshape([0, k1, 1, h * w]), deformed.reshape([-1, k1, c, h * w])], axis=2
        ).reshape([-1, k1 * (c + 1), h, w])
        prediction = self.hourglass(features)

        mask = F.softmax(self.mask(prediction), axis=1)
        deformation = stack_grid((mask * motion_x).sum(axis=1), (mask * motion_y).sum(axis=1), h, w)
        out = {
            "sparse_deformed": deformed.reshape([-1, k1, c, h, w]),
            "mask": mask,
            "deformation": deformation,
        }
        if self.occlusion is not None:
            out["occlusion_map"] = F.sigmoid(self.occlusion(prediction))
        return out
