"""GPEN (GAN Prior Embedded Network, Yang et al., CVPR 2021) in Paddle, with PaddleGAN's names.

The network is the ``GPEN`` generator of PaddleGAN's face enhancer
(``ppgan/models/generators/gpen.py`` + ``generator_gpen.py``, built as
``GPEN(size=512, style_dim=512, n_mlp=8)`` by ``ppgan/faceutils/face_enhancement``): a
StyleGAN2 decoder (``generator.*``) fed by a convolutional encoder (``ecd0`` ...
``ecd{log2(size)-2}``, then ``final_linear``). The encoder's feature maps replace the
StyleGAN2 noise inputs (they are concatenated to each styled convolution's output,
``is_concat``), and its last map, through ``final_linear``, is the style vector.

State dict (what ``GPEN-512.pdparams`` holds, per PaddleGAN's source)
--------------------------------------------------------------------
Every parameter and persistable buffer keeps PaddleGAN's name and shape:

* learned parameters: ``ecd{i}.0.{0|1}.weight`` (EqualConv2D), ``ecd{i}.0.{1|2}.bias``
  (FusedLeakyReLU), ``final_linear.0.weight/bias``, ``generator.style.{1..n_mlp}``,
  ``generator.input.input``, ``generator.conv1.*``, ``generator.to_rgb1.*``,
  ``generator.convs.{j}.*``, ``generator.to_rgbs.{j}.*``. Linear weights are
  ``(out, in)`` as in PaddleGAN's ``EqualLinear_gpen`` (the torch layout), not Paddle's
  usual ``(in, out)``.
* persistable buffers: ``generator.to_rgbs.{j}.upsample.kernel`` (the 4x4 FIR kernel of
  ``Upfirdn2dUpsample``) and ``generator.noises.noise_{k}`` (``1x1xRxR``; PaddleGAN fills
  them with ``randn``, we with zeros: GPEN never reads them, see below).
* not in the state dict: the blur kernels of ``Upfirdn2dBlur`` (``persistable=False`` in
  PaddleGAN). The original PyTorch GPEN does store them (``...conv.blur.kernel``,
  ``ecd{i}.0.0.kernel``) and has no ``noises``; :func:`prepare_gpen_state` accepts a file
  in either layout (see there), every other key is matched strictly by name and shape.

Noise and determinism
---------------------
``GPEN.forward`` always passes the encoder features as the noise of every layer, so the
random branch of ``NoiseInjection`` (``randn`` when no noise is given) and the ``noises``
buffers are never used: inference is deterministic. Calling the decoder alone without
noise uses zeros here (PaddleGAN's decoder cannot be called that way).

``upfirdn2d`` is written with plain Paddle ops (a transposed convolution for the zero
insertion, padding, a per-channel convolution), so no custom CUDA op is needed.
"""
import math
from typing import Dict, Sequence, Tuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

DEFAULT_BLUR = (1, 3, 3, 1)
_SQRT2 = math.sqrt(2.0)

# The published GPEN-512 configuration, as ppgan/faceutils/face_enhancement builds it.
GPEN_512 = dict(size=512, style_dim=512, n_mlp=8, channel_multiplier=2, narrow=1.0)


# --------------------------------------------------------------------------- FIR filtering
def fir_kernel(taps: Sequence[float] = DEFAULT_BLUR, gain: float = 1.0) -> np.ndarray:
    """2-D separable FIR kernel from 1-D taps, normalised to sum to ``gain`` (float32)."""
    k = np.asarray(taps, dtype=np.float64)
    if k.ndim == 1:
        k = np.outer(k, k)
    k = k / k.sum() * gain
    return k.astype(np.float32)


def upfirdn2d(x, kernel, up: int = 1, down: int = 1, pad: Tuple[int, int] = (0, 0)):
    """Upsample (zero insertion), pad, convolve with ``kernel``, downsample; per channel.

    x: (N, C, H, W); kernel: (kh, kw) tensor; ``pad = (before, after)`` on both axes,
    negative values crop. Output size per axis: ``(H * up + before + after - kh) // down + 1``.
    This is the StyleGAN2 ``upfirdn2d`` (true convolution, i.e. the kernel flipped for a
    correlation), written with stock Paddle ops.
    """
    n, c, h, w = x.shape
    kh, kw = kernel.shape
    p0, p1 = int(pad[0]), int(pad[1])
    y = x.reshape([n * c, 1, h, w])
    weight = kernel.reshape([1, 1, kh, kw]).astype(x.dtype)
    if up > 1:
        # conv2d_transpose with stride ``up`` is the full convolution of the zero-inserted
        # input with the kernel: index t of the result is index t + k - 1 - p0 of that.
        full = F.conv2d_transpose(y, weight, stride=up)
        fh, fw = full.shape[2], full.shape[3]
        out_h, out_w = h * up + p0 + p1 - kh + 1, w * up + p0 + p1 - kw + 1
        y = _window(full, kh - 1 - p0, out_h, fh, kw - 1 - p0, out_w, fw)
        if down > 1:
            y = y[:, :, ::down, ::down]
    else:
        y = _pad_or_crop(y, p0, p1)
        y = F.conv2d(y, paddle.flip(weight, axis=[2, 3]), stride=down)
    return y.reshape([n, c, y.shape[2], y.shape[3]])


def _pad_or_crop(y, p0, p1):
    if max(p0, p1, 0) > 0:
        y = F.pad(y, [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    if min(p0, p1) < 0:
        h, w = y.shape[2], y.shape[3]
        y = y[:, :, max(-p0, 0):h - max(-p1, 0), max(-p0, 0):w - max(-p1, 0)]
    return y


def _window(y, start_h, len_h, size_h, start_w, len_w, size_w):
    """``y[:, :, start:start+len]`` on both axes, zeros where the window leaves ``y``."""
    before_h, after_h = max(-start_h, 0), max(start_h + len_h - size_h, 0)
    before_w, after_w = max(-start_w, 0), max(start_w + len_w - size_w, 0)
    if before_h or after_h or before_w or after_w:
        y = F.pad(y, [before_w, after_w, before_h, after_h])
        start_h += before_h
        start_w += before_w
    return y[:, :, start_h:start_h + len_h, start_w:start_w + len_w]


class FIRFilter(nn.Layer):
    """A fixed FIR kernel applied with :func:`upfirdn2d`.

    Stands for PaddleGAN's ``Upfirdn2dUpsample`` (``up=2``, kernel persistable: it is in the
    state dict as ``...upsample.kernel``) and ``Upfirdn2dBlur`` (``persistable=False``).
    """

    def __init__(self, taps=DEFAULT_BLUR, pad=(0, 0), up=1, down=1, gain=1.0, persistable=False):
        super().__init__()
        self.register_buffer("kernel", paddle.to_tensor(fir_kernel(taps, gain)), persistable=persistable)
        self.pad = (int(pad[0]), int(pad[1]))
        self.up = int(up)
        self.down = int(down)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.up, down=self.down, pad=self.pad)


def upsample_filter(taps=DEFAULT_BLUR, factor=2):
    """PaddleGAN's ``Upfirdn2dUpsample``: zero insertion, then the kernel times factor**2."""
    p = len(taps) - factor
    return FIRFilter(taps, pad=((p + 1) // 2 + factor - 1, p // 2), up=factor, gain=factor * factor,
                     persistable=True)


# --------------------------------------------------------------------------- equalised layers
def fused_leaky_relu(x, bias=None):
    """StyleGAN2's bias + LeakyReLU(0.2) + gain sqrt(2)."""
    if bias is not None:
        x = x + bias.reshape([1, -1] + [1] * (len(x.shape) - 2))
    return F.leaky_relu(x, negative_slope=0.2) * _SQRT2


class FusedLeakyReLU(nn.Layer):
    def __init__(self, channels, bias=True):
        super().__init__()
        self.bias = (self.create_parameter([channels], default_initializer=nn.initializer.Constant(0.0))
                     if bias else None)

    def forward(self, x):
        return fused_leaky_relu(x, self.bias)


class EqualConv2D(nn.Layer):
    """Convolution with the weight scaled by 1/sqrt(fan_in) at run time."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.weight = self.create_parameter([out_channels, in_channels, kernel_size, kernel_size],
                                            default_initializer=nn.initializer.Normal())
        self.bias = (self.create_parameter([out_channels], default_initializer=nn.initializer.Constant(0.0))
                     if bias else None)
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.stride = stride
        self.padding = padding

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, bias=self.bias, stride=self.stride, padding=self.padding)


class EqualLinear(nn.Layer):
    """Equalised linear layer with the weight stored ``(out, in)`` (PaddleGAN's ``EqualLinear_gpen``)."""

    def __init__(self, in_dim, out_dim, bias=True, bias_init=0.0, lr_mul=1.0, activation=False):
        super().__init__()
        self.weight = self.create_parameter([out_dim, in_dim],
                                            default_initializer=nn.initializer.Normal(std=1.0 / lr_mul))
        self.bias = (self.create_parameter([out_dim], default_initializer=nn.initializer.Constant(float(bias_init)))
                     if bias else None)
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = bool(activation)

    def forward(self, x):
        out = paddle.matmul(x, self.weight * self.scale, transpose_y=True)
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(out, bias)
        return out + bias if bias is not None else out


class ConvLayer(nn.Sequential):
    """[blur when downsampling] + EqualConv2D + [FusedLeakyReLU]: PaddleGAN's ConvLayer.

    The sub-layer indices are part of the names: ``0`` is the conv (or the blur, which
    holds nothing persistable, when downsampling), the activation comes next.
    """

    def __init__(self, in_channels, out_channels, kernel_size, downsample=False, blur_kernel=DEFAULT_BLUR,
                 bias=True, activate=True):
        layers = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(FIRFilter(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2D(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channels, bias=bias))
        super().__init__(*layers)


# --------------------------------------------------------------------------- StyleGAN2 decoder
class PixelNorm(nn.Layer):
    def forward(self, x):
        return x * paddle.rsqrt(paddle.mean(x * x, axis=1, keepdim=True) + 1e-8)


class ModulatedConv2D(nn.Layer):
    """Style-modulated (and by default demodulated) convolution, one weight set per sample."""

    def __init__(self, in_channels, out_channels, kernel_size, style_dim, demodulate=True, upsample=False,
                 blur_kernel=DEFAULT_BLUR):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.upsample = upsample
        self.demodulate = demodulate
        if upsample:
            p = (len(blur_kernel) - 2) - (kernel_size - 1)
            self.blur = FIRFilter(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1), gain=4.0)
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2
        self.weight = self.create_parameter([1, out_channels, in_channels, kernel_size, kernel_size],
                                            default_initializer=nn.initializer.Normal())
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)

    def forward(self, x, style):
        b, c, h, w = x.shape
        k, o = self.kernel_size, self.out_channels
        s = self.modulation(style).reshape([b, 1, c, 1, 1])
        weight = self.weight * self.scale * s  # (b, o, c, k, k)
        if self.demodulate:
            demod = paddle.rsqrt((weight * weight).reshape([b, o, c * k * k]).sum(axis=2) + 1e-8)
            weight = weight * demod.reshape([b, o, 1, 1, 1])
        x = x.reshape([1, b * c, h, w])
        if self.upsample:
            # transposed conv wants (in, out/groups, k, k) per group
            weight = weight.transpose([0, 2, 1, 3, 4]).reshape([b * c, o, k, k])
            out = F.conv2d_transpose(x, weight, stride=2, padding=0, groups=b)
            out = out.reshape([b, o, out.shape[2], out.shape[3]])
            return self.blur(out)
        out = F.conv2d(x, weight.reshape([b * o, c, k, k]), padding=self.padding, groups=b)
        return out.reshape([b, o, out.shape[2], out.shape[3]])


class NoiseInjection(nn.Layer):
    """Adds (or, in GPEN, concatenates) ``weight * noise``; zeros when no noise is given."""

    def __init__(self, is_concat=True):
        super().__init__()
        self.weight = self.create_parameter([1], default_initializer=nn.initializer.Constant(0.0))
        self.is_concat = is_concat

    def forward(self, x, noise=None):
        if noise is None:
            noise = paddle.zeros_like(x) if self.is_concat else paddle.zeros_like(x[:, :1])
        if self.is_concat:
            return paddle.concat([x, self.weight * noise], axis=1)
        return x + self.weight * noise


class ConstantInput(nn.Layer):
    def __init__(self, channels, size=4):
        super().__init__()
        self.input = self.create_parameter([1, channels, size, size], default_initializer=nn.initializer.Normal())

    def forward(self, batch):
        return paddle.tile(self.input, [batch, 1, 1, 1])


class StyledConv(nn.Layer):
    def __init__(self, in_channels, out_channels, kernel_size, style_dim, upsample=False,
                 blur_kernel=DEFAULT_BLUR, is_concat=True):
        super().__init__()
        self.conv = ModulatedConv2D(in_channels, out_channels, kernel_size, style_dim, upsample=upsample,
                                    blur_kernel=blur_kernel)
        self.noise = NoiseInjection(is_concat=is_concat)
        self.activate = FusedLeakyReLU(out_channels * 2 if is_concat else out_channels)

    def forward(self, x, style, noise=None):
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Layer):
    def __init__(self, in_channels, style_dim, upsample=True, blur_kernel=DEFAULT_BLUR):
        super().__init__()
        if upsample:
            self.upsample = upsample_filter(blur_kernel)
        self.conv = ModulatedConv2D(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = self.create_parameter([1, 3, 1, 1], default_initializer=nn.initializer.Constant(0.0))

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


def gpen_channels(channel_multiplier=2, narrow=1.0) -> Dict[int, int]:
    """Feature width per resolution, as in PaddleGAN (and the original GPEN)."""
    m, n = channel_multiplier, narrow
    return {
        4: int(512 * n), 8: int(512 * n), 16: int(512 * n), 32: int(512 * n),
        64: int(256 * m * n), 128: int(128 * m * n), 256: int(64 * m * n),
        512: int(32 * m * n), 1024: int(16 * m * n), 2048: int(8 * m * n),
    }


def _log2_size(size):
    size = int(size)
    if size < 8 or size & (size - 1) or size > 2048:
        raise ValueError(f"GPEN size must be a power of two between 8 and 2048, not {size}")
    return size.bit_length() - 1


class StyleGAN2Decoder(nn.Layer):
    """PaddleGAN's ``StyleGANv2Generator`` of ``generator_gpen.py`` (the ``generator`` of GPEN)."""

    def __init__(self, size, style_dim, n_mlp, channel_multiplier=2, narrow=1.0, blur_kernel=DEFAULT_BLUR,
                 lr_mlp=0.01, is_concat=True):
        super().__init__()
        self.size = size
        self.style_dim = style_dim
        self.log_size = _log2_size(size)
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.n_latent = self.log_size * 2 - 2
        self.is_concat = is_concat
        self.channels = ch = gpen_channels(channel_multiplier, narrow)
        wide = 2 if is_concat else 1

        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation=True) for _ in range(n_mlp)])
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, style_dim, blur_kernel=blur_kernel, is_concat=is_concat)
        self.to_rgb1 = ToRGB(ch[4] * wide, style_dim, upsample=False)
        self.convs = nn.LayerList()
        self.to_rgbs = nn.LayerList()
        self.noises = nn.Layer()
        for k in range(self.num_layers):
            res = 2 ** ((k + 5) // 2)
            self.noises.register_buffer(f"noise_{k}", paddle.zeros([1, 1, res, res]), persistable=True)
        in_ch = ch[4]
        for i in range(3, self.log_size + 1):
            out_ch = ch[2 ** i]
            self.convs.append(StyledConv(in_ch * wide, out_ch, 3, style_dim, upsample=True,
                                         blur_kernel=blur_kernel, is_concat=is_concat))
            self.convs.append(StyledConv(out_ch * wide, out_ch, 3, style_dim, blur_kernel=blur_kernel,
                                         is_concat=is_concat))
            self.to_rgbs.append(ToRGB(out_ch * wide, style_dim, blur_kernel=blur_kernel))
            in_ch = out_ch

    def forward(self, style, noise=None, input_is_latent=False, truncation=1.0, truncation_latent=None):
        """style: (B, style_dim); noise: a list of ``num_layers`` maps or None (zeros)."""
        w = style if input_is_latent else self.style(style)
        if truncation < 1:
            w = truncation_latent + truncation * (w - truncation_latent)
        if noise is None:
            noise = [None] * self.num_layers
        if len(noise) != self.num_layers:
            raise ValueError(f"the decoder takes {self.num_layers} noise maps, not {len(noise)}")
        # every layer gets the same style (PaddleGAN tiles it n_latent times)
        out = self.conv1(self.input(w.shape[0]), w, noise[0])
        skip = self.to_rgb1(out, w)
        for j, to_rgb in enumerate(self.to_rgbs):
            out = self.convs[2 * j](out, w, noise[2 * j + 1])
            out = self.convs[2 * j + 1](out, w, noise[2 * j + 2])
            skip = to_rgb(out, w, skip)
        return skip


class GPEN(nn.Layer):
    """GPEN face restoration network: ``(B, 3, size, size)`` in [-1, 1] -> the same, RGB.

    ``GPEN()`` is the published 512 configuration; ``narrow`` scales every width (tests use
    tiny ones). The forward pass returns the image only (PaddleGAN returns ``(image, None)``).
    """

    def __init__(self, size=512, style_dim=512, n_mlp=8, channel_multiplier=2, narrow=1.0,
                 blur_kernel=DEFAULT_BLUR, lr_mlp=0.01, is_concat=True):
        super().__init__()
        self.size = int(size)
        self.log_size = _log2_size(size)
        self.config = dict(size=self.size, style_dim=style_dim, n_mlp=n_mlp, channel_multiplier=channel_multiplier,
                           narrow=narrow, is_concat=is_concat, blur_kernel=tuple(blur_kernel))
        ch = gpen_channels(channel_multiplier, narrow)
        if min(ch[2 ** i] for i in range(2, self.log_size + 1)) < 1:
            raise ValueError(f"narrow={narrow} leaves a layer with no channels")
        self.generator = StyleGAN2Decoder(size, style_dim, n_mlp, channel_multiplier=channel_multiplier,
                                          narrow=narrow, blur_kernel=blur_kernel, lr_mlp=lr_mlp,
                                          is_concat=is_concat)
        self.names = [f"ecd{i}" for i in range(self.log_size - 1)]
        setattr(self, self.names[0], nn.Sequential(ConvLayer(3, ch[self.size], 1)))
        in_ch = ch[self.size]
        for i in range(self.log_size, 2, -1):
            out_ch = ch[2 ** (i - 1)]
            setattr(self, self.names[self.log_size - i + 1],
                    nn.Sequential(ConvLayer(in_ch, out_ch, 3, downsample=True, blur_kernel=blur_kernel)))
            in_ch = out_ch
        self.final_linear = nn.Sequential(EqualLinear(ch[4] * 4 * 4, style_dim, activation=True))

    def forward(self, x):
        if x.shape[2] != self.size or x.shape[3] != self.size:
            raise ValueError(f"GPEN-{self.size} takes {self.size}x{self.size} images, not "
                             f"{x.shape[2]}x{x.shape[3]}")
        feats = []
        for name in self.names:
            x = getattr(self, name)(x)
            feats.append(x)
        style = self.final_linear(x.reshape([x.shape[0], -1]))
        # coarse to fine, each encoder map feeding the two styled convs of its resolution;
        # the 4x4 map feeds conv1 once (PaddleGAN: repeat every map twice, reverse, drop one)
        noise = [feats[-1]]
        for f in reversed(feats[:-1]):
            noise += [f, f]
        return self.generator(style, noise=noise)


# --------------------------------------------------------------------------- names and shapes
def gpen_parameter_shapes(size=512, style_dim=512, n_mlp=8, channel_multiplier=2, narrow=1.0,
                          is_concat=True) -> Dict[str, Tuple[int, ...]]:
    """``{name: shape}`` of GPEN's learned parameters, computed without building the network."""
    log_size = _log2_size(size)
    ch = gpen_channels(channel_multiplier, narrow)
    wide = 2 if is_concat else 1
    shapes = {}

    def modconv(prefix, cin, cout, k):
        shapes[f"{prefix}.weight"] = (1, cout, cin, k, k)
        shapes[f"{prefix}.modulation.weight"] = (cin, style_dim)
        shapes[f"{prefix}.modulation.bias"] = (cin,)

    def styled(prefix, cin, cout):
        modconv(f"{prefix}.conv", cin, cout, 3)
        shapes[f"{prefix}.noise.weight"] = (1,)
        shapes[f"{prefix}.activate.bias"] = (cout * wide,)

    def to_rgb(prefix, cin):
        modconv(f"{prefix}.conv", cin, 3, 1)
        shapes[f"{prefix}.bias"] = (1, 3, 1, 1)

    g = "generator"
    for i in range(1, n_mlp + 1):
        shapes[f"{g}.style.{i}.weight"] = (style_dim, style_dim)
        shapes[f"{g}.style.{i}.bias"] = (style_dim,)
    shapes[f"{g}.input.input"] = (1, ch[4], 4, 4)
    styled(f"{g}.conv1", ch[4], ch[4])
    to_rgb(f"{g}.to_rgb1", ch[4] * wide)
    in_ch = ch[4]
    for j, i in enumerate(range(3, log_size + 1)):
        out_ch = ch[2 ** i]
        styled(f"{g}.convs.{2 * j}", in_ch * wide, out_ch)
        styled(f"{g}.convs.{2 * j + 1}", out_ch * wide, out_ch)
        to_rgb(f"{g}.to_rgbs.{j}", out_ch * wide)
        in_ch = out_ch

    shapes["ecd0.0.0.weight"] = (ch[size], 3, 1, 1)
    shapes["ecd0.0.1.bias"] = (ch[size],)
    in_ch = ch[size]
    for i in range(log_size, 2, -1):
        out_ch = ch[2 ** (i - 1)]
        name = f"ecd{log_size - i + 1}"
        shapes[f"{name}.0.1.weight"] = (out_ch, in_ch, 3, 3)  # .0.0 is the blur
        shapes[f"{name}.0.2.bias"] = (out_ch,)
        in_ch = out_ch
    shapes["final_linear.0.weight"] = (style_dim, ch[4] * 16)
    shapes["final_linear.0.bias"] = (style_dim,)
    return shapes


def gpen_buffer_shapes(size=512, **_ignored) -> Dict[str, Tuple[int, ...]]:
    """``{name: shape}`` of the persistable buffers of PaddleGAN's GPEN (not learned)."""
    log_size = _log2_size(size)
    shapes = {f"generator.to_rgbs.{j}.upsample.kernel": (4, 4) for j in range(log_size - 2)}
    for k in range((log_size - 2) * 2 + 1):
        res = 2 ** ((k + 5) // 2)
        shapes[f"generator.noises.noise_{k}"] = (1, 1, res, res)
    return shapes


def gpen_state_shapes(size=512, style_dim=512, n_mlp=8, channel_multiplier=2, narrow=1.0,
                      is_concat=True) -> Dict[str, Tuple[int, ...]]:
    """``{name: shape}`` of the whole state dict of PaddleGAN's ``GPEN`` (= ours)."""
    shapes = gpen_parameter_shapes(size, style_dim, n_mlp, channel_multiplier, narrow, is_concat)
    shapes.update(gpen_buffer_shapes(size))
    return shapes


def _constant_kernels(size, blur_kernel=DEFAULT_BLUR) -> Dict[str, np.ndarray]:
    """Every fixed FIR kernel a GPEN file may hold: PaddleGAN's upsample kernels and the
    blur kernels that only the original PyTorch layout stores."""
    log_size = _log2_size(size)
    up = fir_kernel(blur_kernel, 4.0)
    kernels = {f"generator.to_rgbs.{j}.upsample.kernel": up for j in range(log_size - 2)}
    for j in range(log_size - 2):
        kernels[f"generator.convs.{2 * j}.conv.blur.kernel"] = up
    for i in range(1, log_size - 1):
        kernels[f"ecd{i}.0.0.kernel"] = fir_kernel(blur_kernel)
    return kernels


def gpen_512_parameter_shapes():
    """The learned parameters a ``GPEN-512.pdparams`` must hold (the weight store's check)."""
    return gpen_parameter_shapes(**GPEN_512)


def check_gpen_state(state, size=512, style_dim=512, n_mlp=8, channel_multiplier=2, narrow=1.0,
                     is_concat=True, blur_kernel=DEFAULT_BLUR, what="GPEN weights"):
    """Check a flat GPEN state dict by name; raises CheckpointError listing every problem.

    Every learned parameter must be there with its shape, and every other key must be one
    of the known buffers with its shape: PaddleGAN's ``upsample.kernel`` and ``noises``
    (either may be absent: the kernels are constants, the noise maps are never read) or
    the original's blur kernels. Stored FIR kernels must equal the fixed kernel.
    """
    from ..checkpoint.state import describe_differences, shape_of
    from ..errors import CheckpointError

    params = gpen_parameter_shapes(size, style_dim, n_mlp, channel_multiplier, narrow, is_concat)
    buffers = dict(gpen_buffer_shapes(size))
    kernels = _constant_kernels(size, blur_kernel)
    buffers.update({k: v.shape for k, v in kernels.items()})
    keys = [k for k in state if "@@" not in str(k)]
    missing = [k for k in params if k not in state]
    unexpected = [k for k in keys if k not in params and k not in buffers]
    mismatched = [(k, tuple(want), shape_of(state[k])) for k, want in list(params.items()) + list(buffers.items())
                  if k in state and tuple(want) != shape_of(state[k])]
    problems = []
    if missing or unexpected or mismatched:
        problems.append(describe_differences(missing, unexpected, mismatched))
    bad = [k for k, want in kernels.items() if k in state and shape_of(state[k]) == want.shape
           and not np.allclose(_numpy(state[k]), want, atol=1e-6)]
    if bad:
        problems.append(f"{len(bad)} FIR kernel(s) differ from the fixed {list(blur_kernel)} kernel "
                        f"({', '.join(bad[:6])})")
    if problems:
        raise CheckpointError(f"{what} does not fit GPEN-{size}: {'; '.join(problems)}")


def check_gpen_512_state(state):
    """The weight store's extra check of a downloaded or imported ``GPEN-512.pdparams``."""
    check_gpen_state(state, what="GPEN-512.pdparams", **GPEN_512)


def _numpy(value):
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def prepare_gpen_state(state, model: GPEN, what="GPEN weights"):
    """Check ``state`` (:func:`check_gpen_state`) and return exactly ``model``'s state-dict keys.

    Learned parameters come from ``state``. Buffers: a stored ``upsample.kernel`` or
    ``noise_k`` is used, an absent one keeps the model's (the fixed kernel; zeros); the
    original layout's blur kernels, checked equal to the fixed kernel, are dropped (ours
    are not persistable, as in PaddleGAN).
    """
    check_gpen_state(state, what=what, **model.config)
    own = model.state_dict()
    out = {}
    for k, v in own.items():
        out[k] = state[k] if k in state else v.numpy()
    return out

