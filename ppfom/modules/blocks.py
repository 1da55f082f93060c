"""Building blocks shared by the FOMM networks.

Layer and parameter names follow the original FOMM (and PaddleGAN, which kept them), so
checkpoints of both load by name. Everything here obeys the Paddle Lite rules in
``shared/notes/paddle-lite.md``: reductions only over tensors of at most four dimensions,
no 0-D constants, no slice assignment, no ``paddle.eye``.
"""
import math

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F


def coordinate_grid(height, width, dtype="float32"):
    """Return (xx, yy), each (1, 1, H, W), with coordinates in [-1, 1] (x along the width).

    Built the way the original builds it (arange, divide by size-1, times 2, minus 1) so the
    values are bit-identical; made with graph ops, so exported models take any input size.
    """
    x = paddle.arange(width, dtype=dtype)
    y = paddle.arange(height, dtype=dtype)
    x = 2 * (x / (width - 1)) - 1
    y = 2 * (y / (height - 1)) - 1
    xx = paddle.tile(x.reshape([1, 1, 1, width]), [1, 1, height, 1])
    yy = paddle.tile(y.reshape([1, 1, height, 1]), [1, 1, 1, width])
    return xx, yy


def split_xy(points):
    """(B, K, 2) keypoints -> x and y, each (B, K, 1, 1), ready to broadcast over a grid."""
    x = points[:, :, 0:1].unsqueeze(-1)
    y = points[:, :, 1:2].unsqueeze(-1)
    return x, y


def kp2gaussian(kp_value, height, width, kp_variance):
    """Gaussian heatmaps (B, K, H, W) centred on the keypoints, as the original's kp2gaussian.

    The squared distance is summed over x and y by hand instead of over a 5-D tensor.
    """
    xx, yy = coordinate_grid(height, width, kp_value.dtype)
    mx, my = split_xy(kp_value)
    dx = xx - mx
    dy = yy - my
    return paddle.exp(-0.5 * (dx * dx + dy * dy) / kp_variance)


def jacobian_entries(jacobian):
    """(B, K, 2, 2) -> a, b, c, d, each (B, K, 1, 1), for [[a, b], [c, d]]."""
    flat = jacobian.reshape([0, 0, 4]).unsqueeze(-1)
    return flat[:, :, 0:1], flat[:, :, 1:2], flat[:, :, 2:3], flat[:, :, 3:4]


def matmul_inverse_2x2(left, right):
    """``left @ inverse(right)`` for (B, K, 2, 2) tensors, with the exact closed-form inverse.

    Returns the four entries (each (B, K, 1, 1)); Paddle Lite has no fast inverse kernel.
    """
    a, b, c, d = jacobian_entries(left)
    p, q, r, s = jacobian_entries(right)
    det = p * s - q * r
    # inverse(right) = [[s, -q], [-r, p]] / det
    i00, i01, i10, i11 = s / det, -q / det, -r / det, p / det
    return a * i00 + b * i10, a * i01 + b * i11, c * i00 + d * i10, c * i01 + d * i11


def gaussian_kernel(channels, scale):
    """The original anti-alias kernel: Gaussian with sigma (1/scale - 1)/2, depthwise."""
    sigma = (1 / scale - 1) / 2
    size = 2 * round(sigma * 4) + 1
    coords = np.arange(size, dtype=np.float32)
    mean = (size - 1) / 2
    one_d = np.exp(-((coords - mean) ** 2) / (2 * sigma ** 2))
    kernel = np.outer(one_d, one_d)
    kernel = kernel / kernel.sum()
    return np.tile(kernel[None, None].astype(np.float32), (channels, 1, 1, 1)), size


class AntiAliasInterpolation2d(nn.Layer):
    """Band-limited downsampling: Gaussian blur, then keep every (1/scale)-th pixel.

    ``mode="strided"`` is the original (and PaddleGAN >= mid-2022): the blur and the
    subsampling are one depthwise convolution with stride 1/scale, which equals blurring and
    then slicing ``[:, :, ::s, ::s]``. ``mode="nearest"`` reproduces the pip package
    ppgan 2.1.0, which resized the blurred image with corner-aligned nearest sampling.
    """

    def __init__(self, channels, scale, mode="strided"):
        super().__init__()
        if mode not in ("strided", "nearest"):
            raise ValueError(f"antialias mode must be 'strided' or 'nearest', not {mode!r}")
        kernel, size = gaussian_kernel(channels, scale)
        ka = size // 2
        kb = ka - 1 if size % 2 == 0 else ka
        self.padding = [ka, kb, ka, kb]
        # A persistable buffer named 'weight': the checkpoints carry it as 'down.weight'.
        self.register_buffer("weight", paddle.to_tensor(kernel), persistable=True)
        self.groups = channels
        self.scale = scale
        self.stride = int(1 / scale)
        self.mode = mode

    def forward(self, x):
        if self.scale == 1.0:
            return x
        if self.mode == "strided":
            return F.conv2d(x, self.weight, stride=self.stride, padding=self.padding, groups=self.groups)
        out = F.conv2d(x, self.weight, padding=self.padding, groups=self.groups)
        h, w = out.shape[2], out.shape[3]
        out = paddle.index_select(out, _corner_aligned_rows(h, int(math.floor(h * self.scale))), axis=2)
        return paddle.index_select(out, _corner_aligned_rows(w, int(math.floor(w * self.scale))), axis=3)


def _corner_aligned_rows(size_in, size_out):
    """Rows that corner-aligned nearest resizing keeps: round(k * (in - 1) / (out - 1))."""
    step = (size_in - 1) / max(size_out - 1, 1)
    return paddle.floor(paddle.arange(size_out, dtype="float32") * step + 0.5).astype("int64")


class ResBlock2d(nn.Layer):
    """Pre-activation residual block that keeps the resolution."""

    def __init__(self, in_features, kernel_size, padding):
        super().__init__()
        self.conv1 = nn.Conv2D(in_features, in_features, kernel_size, padding=padding)
        self.conv2 = nn.Conv2D(in_features, in_features, kernel_size, padding=padding)
        self.norm1 = nn.BatchNorm2D(in_features)
        self.norm2 = nn.BatchNorm2D(in_features)

    def forward(self, x):
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class UpBlock2d(nn.Layer):
    """Nearest x2 upsampling, then conv, BatchNorm, ReLU."""

    def __init__(self, in_features, out_features, kernel_size=3, padding=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2D(in_features, out_features, kernel_size, padding=padding, groups=groups)
        self.norm = nn.BatchNorm2D(out_features)

    def forward(self, x):
        out = F.interpolate(x, scale_factor=2, mode="nearest")
        return F.relu(self.norm(self.conv(out)))


class DownBlock2d(nn.Layer):
    """Conv, BatchNorm, ReLU, then 2x2 average pooling."""

    def __init__(self, in_features, out_features, kernel_size=3, padding=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2D(in_features, out_features, kernel_size, padding=padding, groups=groups)
        self.norm = nn.BatchNorm2D(out_features)
        self.pool = nn.AvgPool2D(kernel_size=2)

    def forward(self, x):
        return self.pool(F.relu(self.norm(self.conv(x))))


class SameBlock2d(nn.Layer):
    """Conv, BatchNorm, ReLU at the same resolution."""

    def __init__(self, in_features, out_features, groups=1, kernel_size=3, padding=1):
        super().__init__()
        self.conv = nn.Conv2D(in_features, out_features, kernel_size, padding=padding, groups=groups)
        self.norm = nn.BatchNorm2D(out_features)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))


def _width(block_expansion, level, max_features):
    return min(max_features, block_expansion * (2 ** level))


class Encoder(nn.Layer):
    """Hourglass encoder: returns the input and every down block's output."""

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256):
        super().__init__()
        self.down_blocks = nn.LayerList(
            [
                DownBlock2d(
                    in_features if i == 0 else _width(block_expansion, i, max_features),
                    _width(block_expansion, i + 1, max_features),
                )
                for i in range(num_blocks)
            ]
        )

    def forward(self, x):
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Layer):
    """Hourglass decoder: upsamples and concatenates the matching encoder output."""

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            skip = 1 if i == num_blocks - 1 else 2
            blocks.append(
                UpBlock2d(skip * _width(block_expansion, i + 1, max_features), _width(block_expansion, i, max_features))
            )
        self.up_blocks = nn.LayerList(blocks)
        self.out_filters = block_expansion + in_features

    def forward(self, encoded):
        encoded = list(encoded)
        out = encoded.pop()
        for block in self.up_blocks:
            out = paddle.concat([block(out), encoded.pop()], axis=1)
        return out


class Hourglass(nn.Layer):
    """U-Net style encoder-decoder."""

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x):
        return self.decoder(self.encoder(x))
