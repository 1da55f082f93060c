"""Patch discriminator at several scales, as in the original FOMM (used only in training)."""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..registry import DISCRIMINATORS
from .blocks import kp2gaussian


class DiscriminatorDownBlock(nn.Layer):
    """Conv (optionally spectral-normalised), optional InstanceNorm, LeakyReLU, optional 2x2 pooling."""

    def __init__(self, in_features, out_features, norm=False, kernel_size=4, pool=False, sn=False):
        super().__init__()
        self.conv = nn.Conv2D(in_features, out_features, kernel_size=kernel_size)
        if sn:
            self.conv = nn.utils.spectral_norm(self.conv)
        self.norm = nn.InstanceNorm2D(out_features, epsilon=1e-5) if norm else None
        self.pool = pool

    def forward(self, x):
        out = self.conv(x)
        if self.norm is not None:
            out = self.norm(out)
        out = F.leaky_relu(out, 0.2)
        if self.pool:
            out = F.avg_pool2d(out, kernel_size=2)
        return out


@DISCRIMINATORS.register
class Discriminator(nn.Layer):
    """Returns the feature maps of every block and a patch prediction map."""

    def __init__(
        self,
        num_channels=3,
        block_expansion=64,
        num_blocks=4,
        max_features=512,
        sn=False,
        use_kp=False,
        num_kp=10,
        kp_variance=0.01,
        estimate_jacobian=False,
    ):
        super().__init__()
        blocks = []
        for i in range(num_blocks):
            in_features = num_channels + num_kp * use_kp if i == 0 else min(max_features, block_expansion * (2 ** i))
            blocks.append(
                DiscriminatorDownBlock(
                    in_features,
                    min(max_features, block_expansion * (2 ** (i + 1))),
                    norm=(i != 0),
                    kernel_size=4,
                    pool=(i != num_blocks - 1),
                    sn=sn,
                )
            )
        self.down_blocks = nn.LayerList(blocks)
        last = min(max_features, block_expansion * (2 ** num_blocks))
        self.conv = nn.Conv2D(last, 1, kernel_size=1)
        if sn:
            self.conv = nn.utils.spectral_norm(self.conv)
        self.use_kp = use_kp
        self.kp_variance = kp_variance

    def forward(self, x, kp=None):
        out = x
        if self.use_kp:
            heatmap = kp2gaussian(kp["value"], x.shape[2], x.shape[3], self.kp_variance)
            out = paddle.concat([out, heatmap], axis=1)
        feature_maps = []
        for block in self.down_blocks:
            out = block(out)
            feature_maps.append(out)
        return feature_maps, self.conv(out)


@DISCRIMINATORS.register
class MultiScaleDiscriminator(nn.Layer):
    """One discriminator per scale; input ``{"prediction_<scale>": image}`` as the original."""

    def __init__(self, scales=(), **kwargs):
        super().__init__()
        self.scales = [float(s) if not float(s).is_integer() else int(s) for s in scales]
        self.discs = nn.LayerDict({str(s).replace(".", "-"): Discriminator(**kwargs) for s in self.scales})

    def forward(self, x, kp=None):
        out = {}
        for key, disc in self.discs.items():
            scale = key.replace("-", ".")
            feature_maps, prediction_map = disc(x["prediction_" + scale], kp)
            out["feature_maps_" + scale] = feature_maps
            out["prediction_map_" + scale] = prediction_map
        return out
