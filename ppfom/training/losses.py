"""The losses of FOMM training: image pyramid, perceptual (VGG19 or pyramid L1), LSGAN, feature matching.

Perceptual losses are layers registered in :data:`ppfom.registry.LOSSES` under the names that
``train_params.perceptual_loss`` takes:

``vgg19``
    the original's: L1 between the VGG19 activations relu1_1 .. relu5_1 of the generated and
    the real image, one weight per activation. Needs PaddleGAN's ImageNet ``vgg19.pdparams``
    from the weight store (``ppfom weights download vgg19``); offline and without it,
    :class:`~ppfom.errors.WeightsUnavailable` says which file to put where.
``pyramid_l1``
    ours, for offline or CPU training: L1 between the images themselves, no network. The image
    stands in for every VGG layer, so its weight is the sum of the perceptual weights.

Every perceptual loss is called per pyramid scale as ``loss(generated, real, weights)`` and
returns the weighted sum over its layers; the caller sums over scales.
"""
import numpy as np
import paddle
import paddle.nn as nn

from ..errors import CheckpointError, ConfigError
from ..modules.blocks import AntiAliasInterpolation2d
from ..registry import LOSSES


# ---------------------------------------------------------------------------- pyramid
def scale_key(scale):
    """The text of a scale in dict keys, as the original writes it: 1 -> '1', 0.5 -> '0.5'.

    1.0 and 1 give the same key (as :class:`~ppfom.modules.MultiScaleDiscriminator` does)."""
    value = float(scale)
    return str(int(value)) if value.is_integer() else str(value)


class ImagePyramid(nn.Layer):
    """``{"prediction_<scale>": image at that scale}`` for each scale, downsampled with the
    networks' anti-aliased interpolation (the original's ``ImagePyramide``)."""

    def __init__(self, scales, num_channels, antialias="strided"):
        super().__init__()
        self.scales = [scale_key(s) for s in scales]
        self.downs = nn.LayerDict()
        for key in self.scales:
            if float(key) != 1.0:  # scale 1 is the image itself
                self.downs[key.replace(".", "-")] = AntiAliasInterpolation2d(num_channels, float(key), mode=antialias)

    def forward(self, x):
        out = {}
        for key in self.scales:
            name = key.replace(".", "-")
            out["prediction_" + key] = self.downs[name](x) if name in self.downs else x
        return out


# ---------------------------------------------------------------------------- VGG19
# paddle.vision.models.vgg19().features (torchvision's layout): a conv and its ReLU per number,
# "M" a 2x2 max pooling. Only layers 0..29 (up to relu5_1) are used.
_VGG19_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512]
# The first layer after each slice: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
VGG19_SLICE_ENDS = (2, 7, 12, 21, 30)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19Features(nn.Layer):
    """The five activations relu1_1 .. relu5_1 of ImageNet VGG19, frozen.

    Input: NCHW images in [0, 1] (normalized here with ImageNet's mean and std). Output: a list
    of five feature maps. The parameters are named as in ``paddle.vision.models.vgg19()``
    (``features.0.weight`` ...), so PaddleGAN's ``vgg19.pdparams`` loads by name; the layers
    after relu5_1 (conv5_2 .. conv5_4) are not built.
    """

    def __init__(self):
        super().__init__()
        layers, c_in = [], 3
        for c in _VGG19_LAYOUT:
            if c == "M":
                layers.append(nn.MaxPool2D(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2D(c_in, c, kernel_size=3, padding=1), nn.ReLU()]
                c_in = c
        assert len(layers) == VGG19_SLICE_ENDS[-1]
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", paddle.to_tensor(np.array(IMAGENET_MEAN, "float32").reshape([1, 3, 1, 1])),
                             persistable=False)
        self.register_buffer("std", paddle.to_tensor(np.array(IMAGENET_STD, "float32").reshape([1, 3, 1, 1])),
                             persistable=False)
        self.freeze()

    def freeze(self):
        for p in self.parameters():
            p.stop_gradient = True
        self.eval()
        return self

    def forward(self, x):
        out = (x - self.mean) / self.std
        outs, start = [], 0
        for end in VGG19_SLICE_ENDS:
            for i in range(start, end):
                out = self.features[i](out)
            outs.append(out)
            start = end
        return outs

    def load_vgg19_state(self, state, what="vgg19 weights"):
        """Load the part of a VGG19 state dict that this network holds, strictly.

        ``state``: named as ``vgg19()`` names them (``features.N.weight``, classifier keys and
        layers past relu5_1 are left out) or as ``vgg19().features`` does (``N.weight``). Any
        missing or mis-shaped key of ours raises CheckpointError by name.
        """
        from ..checkpoint.state import load_state_strict

        state = dict(state)
        if not any(k.startswith("features.") for k in state):
            state = {"features." + k: v for k, v in state.items()}

        def beyond_relu5_1(key):  # the classifier and conv5_2 .. conv5_4: VGG19, but not needed
            parts = key.split(".")
            return parts[0] == "classifier" or (
                parts[0] == "features" and parts[1].isdigit() and int(parts[1]) >= VGG19_SLICE_ENDS[-1])

        held = {k: v for k, v in state.items() if not beyond_relu5_1(k)}
        load_state_strict(self, held, what)
        return self.freeze()

    @classmethod
    def pretrained(cls, path=None, download=True):
        """ImageNet VGG19 from ``path``, or from the weight store entry ``vgg19`` (downloaded
        when allowed; WeightsUnavailable names vgg19.pdparams otherwise)."""
        from .. import weights as store

        if path is None:
            path = store.get_weights("vgg19", download=download)
        state = store.load_state(path)
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: not a state dict")
        return cls().load_vgg19_state(state, f"{path}")


# ---------------------------------------------------------------------------- perceptual losses
def _weights_list(weights):
    return [float(w) for w in (weights if isinstance(weights, (list, tuple)) else [weights])]


@LOSSES.register(name="vgg19")
class VGG19PerceptualLoss(nn.Layer):
    """``sum_i w_i mean|vgg_i(generated) - vgg_i(real)|`` (real features detached), i < 5.

    features: a :class:`VGG19Features` to use (tests: random weights); None loads ImageNet
    weights from the weight store; ``weights_path`` a file to read them from instead.
    """

    num_layers = len(VGG19_SLICE_ENDS)

    def __init__(self, features=None, weights_path=None, download=True):
        super().__init__()
        self.vgg = features if features is not None else VGG19Features.pretrained(weights_path, download)

    def forward(self, generated, real, weights):
        weights = _weights_list(weights)
        if len(weights) > self.num_layers:
            raise ConfigError(f"loss_weights.perceptual has {len(weights)} weights; VGG19 gives {self.num_layers} layers")
        x_vgg = self.vgg(generated)
        y_vgg = self.vgg(real)
        total = 0.0
        for i, w in enumerate(weights):
            if w != 0:
                total = total + w * paddle.abs(x_vgg[i] - y_vgg[i].detach()).mean()
        return total


@LOSSES.register(name="pyramid_l1")
class PyramidL1Loss(nn.Layer):
    """``sum(weights) * mean|generated - real|``: the image is the only "layer" (no network)."""

    def forward(self, generated, real, weights):
        return sum(_weights_list(weights)) * paddle.abs(generated - real.detach()).mean()


PERCEPTUAL_KINDS = ("vgg19", "pyramid_l1")


def build_perceptual(kind="vgg19", **kwargs):
    """The perceptual loss named by ``train_params.perceptual_loss`` (vgg19 | pyramid_l1)."""
    kind = "vgg19" if kind is None else str(kind)
    if kind not in PERCEPTUAL_KINDS:
        raise ConfigError(f"train_params.perceptual_loss must be one of {', '.join(PERCEPTUAL_KINDS)}, not {kind!r}")
    return LOSSES.build({"name": kind}, where=f"perceptual loss {kind}", **kwargs)


# ---------------------------------------------------------------------------- GAN losses
def detach_kp(kp):
    """The keypoint dict with every tensor detached (the discriminator must not move them)."""
    return {k: (v.detach() if isinstance(v, paddle.Tensor) else v) for k, v in kp.items()}


def gan_loss_generator(prediction_map):
    """Least-squares GAN, generator side: ``mean((1 - D(fake))^2)``."""
    return ((1 - prediction_map) ** 2).mean()


def gan_loss_discriminator(real_map, fake_map):
    """Least-squares GAN, discriminator side: ``mean((1 - D(real))^2 + D(fake)^2)``."""
    return ((1 - real_map) ** 2 + fake_map ** 2).mean()


def feature_matching_loss(real_maps, fake_maps, weights):
    """``sum_i w_i mean|real_i - fake_i|`` over the discriminator's block outputs (zero weights skipped)."""
    weights = _weights_list(weights)
    if len(weights) < len(real_maps):
        raise ConfigError(
            f"loss_weights.feature_matching has {len(weights)} weights for {len(real_maps)} discriminator blocks")
    total = 0.0
    for w, a, b in zip(weights, real_maps, fake_maps):
        if w != 0:
            total = total + w * paddle.abs(a - b).mean()
    return total
