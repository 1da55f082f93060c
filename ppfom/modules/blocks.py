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

from ..errors import ConfigError


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


def gaussian_kernel(channels, scale, mobile_net=False):
    """The original anti-alias kernel: Gaussian with sigma (1/scale - 1)/2, depthwise.

    The mobile networks use a fixed 3x3 kernel with sigma 0.25 (taps ~ [e^-8, 1, e^-8]) at
    every scale; PaddleGAN adds 1e-9 to the denominator there, kept for the same numbers.
    """
    if mobile_net:
        sigma, size, eps = 0.25, 3, 1e-9
    else:
        sigma = (1 / scale - 1) / 2
        size = 2 * round(sigma * 4) + 1
        eps = 0.0
    coords = np.arange(size, dtype=np.float32)
    mean = (size - 1) / 2
    one_d = np.exp(-((coords - mean) ** 2) / (2 * sigma ** 2 + eps))
    kernel = np.outer(one_d, one_d)
    kernel = kernel / kernel.sum()
    return np.tile(kernel[None, None].astype(np.float32), (channels, 1, 1, 1)), size


class AntiAliasInterpolation2d(nn.Layer):
    """Band-limited downsampling: Gaussian blur, then keep every (1/scale)-th pixel.

    ``mode="strided"`` is the original (and PaddleGAN >= mid-2022): the blur and the
    subsampling are one depthwise convolution with stride 1/scale, which equals blurring and
    then slicing ``[:, :, ::s, ::s]``. ``mode="nearest"`` reproduces the pip package
    ppgan 2.1.0, which resized the blurred image with corner-aligned nearest sampling.
    ``mobile_net``: PaddleGAN's mobile networks blur with a 3x3 kernel (sigma 0.25) instead.
    """

    def __init__(self, channels, scale, mode="strided", mobile_net=False):
        super().__init__()
        if mode not in ("strided", "nearest"):
            raise ValueError(f"antialias mode must be 'strided' or 'nearest', not {mode!r}")
        kernel, size = gaussian_kernel(channels, scale, mobile_net)
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


class SpaceToDepth(nn.Layer):
    """``pixel_unshuffle`` by ``factor`` as a grouped conv with one-hot kernels: Paddle Lite 2.13
    has no x86 kernel for pixel_unshuffle (its inverse, pixel_shuffle, runs on x86 and ARM)."""

    def __init__(self, channels, factor):
        super().__init__()
        one_hot = np.eye(factor * factor, dtype="float32").reshape([factor * factor, 1, factor, factor])
        # Not persistable: a constant, not a weight, so checkpoints do not carry it.
        self.register_buffer("kernel", paddle.to_tensor(np.tile(one_hot, [channels, 1, 1, 1])), persistable=False)
        self.channels, self.factor = channels, factor
        self.out_channels = channels * factor * factor

    def forward(self, x):
        return F.conv2d(x, self.kernel, stride=self.factor, groups=self.channels)


class SameBlock2d(nn.Layer):
    """Conv, BatchNorm, ReLU at the same resolution.

    ``mobile_net``: the conv has no bias (the BatchNorm after it has one), as PaddleGAN's mobile
    generator, and Kaiming-uniform initial weights.
    """

    def __init__(self, in_features, out_features, groups=1, kernel_size=3, padding=1, mobile_net=False):
        super().__init__()
        if mobile_net:
            self.conv = nn.Conv2D(in_features, out_features, kernel_size, padding=padding, groups=groups,
                                  weight_attr=nn.initializer.KaimingUniform(), bias_attr=False)
        else:
            self.conv = nn.Conv2D(in_features, out_features, kernel_size, padding=padding, groups=groups)
        self.norm = nn.BatchNorm2D(out_features)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))


# ----------------------------------------------------------------------------- mobile blocks
# Depthwise-separable versions of the blocks above, as PaddleGAN's mobile FOMM lays them out
# (vox-mobile.pdparams): sublayer names, creation order and bias on/off follow its keys. The
# 1x1 and depthwise convs have no bias: a BatchNorm follows each of them.


def _depthwise(channels, kernel_size, padding):
    return nn.Conv2D(channels, channels, kernel_size, padding=padding, groups=channels, bias_attr=False)


def _pointwise(in_features, out_features):
    return nn.Conv2D(in_features, out_features, 1, padding=0, bias_attr=False)


class MobileDownBlock2d(nn.Layer):
    """Depthwise k x k conv, BatchNorm, ReLU, pointwise 1x1 conv, BatchNorm, ReLU, 2x2 average pooling."""

    def __init__(self, in_features, out_features, kernel_size=3, padding=1, groups=None):
        super().__init__()
        self.conv = _depthwise(in_features, kernel_size, padding)
        self.norm = nn.BatchNorm2D(in_features)
        self.pool = nn.AvgPool2D(kernel_size=2)
        self.conv1 = _pointwise(in_features, out_features)
        self.norm1 = nn.BatchNorm2D(out_features)

    def forward(self, x):
        out = F.relu(self.norm(self.conv(x)))
        out = F.relu(self.norm1(self.conv1(out)))
        return self.pool(out)


class MobileUpBlock2d(nn.Layer):
    """Nearest x2 upsampling, depthwise conv, BatchNorm, ReLU, pointwise conv, BatchNorm, ReLU."""

    def __init__(self, in_features, out_features, kernel_size=3, padding=1, groups=None):
        super().__init__()
        self.conv = _depthwise(in_features, kernel_size, padding)
        self.conv1 = _pointwise(in_features, out_features)
        self.norm = nn.BatchNorm2D(in_features)
        self.norm1 = nn.BatchNorm2D(out_features)

    def forward(self, x):
        out = F.interpolate(x, scale_factor=2, mode="nearest")
        out = F.relu(self.norm(self.conv(out)))
        return F.relu(self.norm1(self.conv1(out)))


class MobileResBlock2d(nn.Layer):
    """Inverted residual block: C -> hidden (1x1) -> depthwise -> C (1x1, linear), plus the input.

    Pre-activated like ResBlock2d (BatchNorm and ReLU on the input first); no ReLU between the
    expanding 1x1 conv and the depthwise conv, as PaddleGAN. ``hidden_features`` defaults to 2C.
    """

    def __init__(self, in_features, kernel_size=3, padding=1, hidden_features=None):
        super().__init__()
        hidden = 2 * in_features if hidden_features is None else hidden_features
        self.conv_pw = _pointwise(in_features, hidden)
        self.conv_dw = _depthwise(hidden, kernel_size, padding)
        self.conv_pw_linear = _pointwise(hidden, in_features)
        self.norm1 = nn.BatchNorm2D(in_features)
        self.norm_pw = nn.BatchNorm2D(hidden)
        self.norm_dw = nn.BatchNorm2D(hidden)
        self.norm_pw_linear = nn.BatchNorm2D(in_features)

    def forward(self, x):
        out = self.norm_pw(self.conv_pw(F.relu(self.norm1(x))))
        out = F.relu(self.norm_dw(self.conv_dw(out)))
        return self.norm_pw_linear(self.conv_pw_linear(out)) + x


def conv_stack(widths, kernel_size=3, padding=1, relu=True, weight_attr=None, last_bias_attr=None,
               last_weight_attr=None):
    """``nn.Sequential`` of convs (with bias) through ``widths`` = [in, hidden..., out].

    relu: a ReLU layer between the convs (so the convs are keyed 0, 2, 4); else the convs follow
    each other directly (0, 1, 2). ``weight_attr`` is a callable giving each conv's weight_attr
    (the last one's too, unless ``last_weight_attr`` is given); ``last_bias_attr`` the last
    conv's bias_attr.
    """
    layers = []
    last = len(widths) - 2
    for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
        if i > 0 and relu:
            layers.append(nn.ReLU())
        make_weight = last_weight_attr if i == last and last_weight_attr else weight_attr
        layers.append(nn.Conv2D(c_in, c_out, kernel_size, padding=padding,
                                weight_attr=make_weight() if make_weight else None,
                                bias_attr=last_bias_attr if i == last else None))
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------- explicit widths


class ExplicitWidths:
    """Mixin of the networks that accept ``widths``: they keep the resolved dict in ``self.widths``
    (None when not mobile)."""

    def default_widths(self):
        """The complete widths this mobile network was built with (None for a non-mobile one)."""
        return None if self.widths is None else {k: list(v) for k, v in self.widths.items()}


def resolve_widths(owner, defaults, widths, mobile_net):
    """``defaults`` with the entries of ``widths`` put in, checked; a new dict of lists.

    ``widths`` may give only some keys. Unknown keys, lists of the wrong length and widths that
    are not positive integers raise ConfigError, as does any ``widths`` on a non-mobile network.
    """
    if widths is None:
        return {k: list(v) for k, v in defaults.items()}
    if not mobile_net:
        raise ConfigError(f"{owner}: widths are only for the mobile networks (set mobile_net: true)")
    if not isinstance(widths, dict):
        raise ConfigError(f"{owner}: widths must be a mapping of lists (keys: {', '.join(defaults)}), "
                          f"not {type(widths).__name__}")
    unknown = sorted(map(str, set(widths) - set(defaults)))
    if unknown:
        raise ConfigError(f"{owner}: unknown widths key(s) {', '.join(unknown)} (keys: {', '.join(defaults)})")
    out = {k: list(v) for k, v in defaults.items()}
    for key, value in widths.items():
        want = len(defaults[key])
        if not isinstance(value, (list, tuple)) or len(value) != want:
            raise ConfigError(f"{owner}: widths.{key} must be a list of {want} positive integers, not {value!r}")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            raise ConfigError(f"{owner}: widths.{key} must hold positive integers, not {value!r}")
        out[key] = [int(v) for v in value]
    return out


def hourglass_widths(block_expansion, num_blocks, max_features):
    """Default hourglass widths: each encoder down block's and each decoder up block's output
    (decoder in ``up_blocks`` order, deepest first)."""
    return {
        "encoder": [_width(block_expansion, i + 1, max_features) for i in range(num_blocks)],
        "decoder": [_width(block_expansion, i, max_features) for i in reversed(range(num_blocks))],
    }


def mobile_widths(owner, widths, mobile_net, block_expansion, in_features, num_blocks, max_features, heads):
    """Complete widths of a network made of an hourglass and heads of two hidden convs each.

    Keys: ``encoder``, ``decoder`` and one per head (two hidden widths, by default the
    hourglass output width, as PaddleGAN's heads). None for a non-mobile network.
    """
    if not mobile_net:
        resolve_widths(owner, {}, widths, mobile_net)  # raises if widths were given
        return None
    defaults = hourglass_widths(block_expansion, num_blocks, max_features)
    defaults.update({head: [0, 0] for head in heads})  # placeholders: they follow the hourglass
    out = resolve_widths(owner, defaults, widths, mobile_net)
    feat = (out["decoder"][-1] if num_blocks else 0) + in_features
    for head in heads:
        if not widths or head not in widths:
            out[head] = [feat, feat]
    return out


def _width(block_expansion, level, max_features):
    return min(max_features, block_expansion * (2 ** level))


class Encoder(nn.Layer):
    """Hourglass encoder: returns the input and every down block's output.

    ``widths``: output width of each down block (mobile networks only; default: the usual
    doubling from block_expansion, capped at max_features).
    """

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256, mobile_net=False,
                 widths=None):
        super().__init__()
        if widths is None:
            widths = hourglass_widths(block_expansion, num_blocks, max_features)["encoder"]
        block = MobileDownBlock2d if mobile_net else DownBlock2d
        inputs = [in_features] + list(widths[:-1])
        self.down_blocks = nn.LayerList([block(c_in, c_out) for c_in, c_out in zip(inputs, widths)])
        self.out_widths = [in_features] + list(widths)

    def forward(self, x):
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Layer):
    """Hourglass decoder: upsamples and concatenates the matching encoder output.

    ``widths``: output width of each up block, deepest first; ``encoder_widths``: the encoder's
    input and outputs (e_0 = in_features, e_1 .. e_n). Up block j takes d_{j-1} + e_{n-j}
    channels (the deepest takes e_n); the output has d_{n-1} + e_0. Mobile networks only.
    """

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256, mobile_net=False,
                 widths=None, encoder_widths=None):
        super().__init__()
        if not mobile_net:
            blocks = []
            for i in reversed(range(num_blocks)):
                skip = 1 if i == num_blocks - 1 else 2
                blocks.append(
                    UpBlock2d(skip * _width(block_expansion, i + 1, max_features),
                              _width(block_expansion, i, max_features))
                )
            self.up_blocks = nn.LayerList(blocks)
            self.out_filters = block_expansion + in_features
            return
        defaults = hourglass_widths(block_expansion, num_blocks, max_features)
        widths = defaults["decoder"] if widths is None else list(widths)
        enc = [in_features] + (defaults["encoder"] if encoder_widths is None else list(encoder_widths))
        n = num_blocks
        inputs = [enc[n]] + [widths[j - 1] + enc[n - j] for j in range(1, n)]
        self.up_blocks = nn.LayerList([MobileUpBlock2d(c_in, c_out) for c_in, c_out in zip(inputs, widths)])
        self.out_filters = (widths[-1] if n else 0) + enc[0]

    def forward(self, encoded):
        encoded = list(encoded)
        out = encoded.pop()
        for block in self.up_blocks:
            out = paddle.concat([block(out), encoded.pop()], axis=1)
        return out


class Hourglass(nn.Layer):
    """U-Net style encoder-decoder.

    ``widths`` (mobile networks only): ``{"encoder": [...], "decoder": [...]}``, complete (see
    :func:`hourglass_widths` and :func:`resolve_widths`).
    """

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256, mobile_net=False,
                 widths=None):
        super().__init__()
        widths = widths or {}
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features, mobile_net,
                               widths.get("encoder"))
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features, mobile_net,
                               widths.get("decoder"), widths.get("encoder"))
        self.out_filters = self.decoder.out_filters

    def forward(self, x):
        return self.decoder(self.encoder(x))
