"""The training objective of FOMM: the original's ``GeneratorFullModel`` and ``DiscriminatorFullModel``.

One training step (what ``ppfom.training.trainer`` does, and the original's ``train.py``)::

    losses, generated = generator_full({"source": s, "driving": d})    # NCHW float32 in [0, 1]
    sum(losses.values()).backward(); step and clear the generator's and kp detector's optimizers
    if loss_weights.generator_gan != 0:
        clear the discriminator's gradients    # the generator loss left some there (see below)
        disc_losses = discriminator_full({"source": s, "driving": d}, generated)
        sum(disc_losses.values()).backward(); step and clear the discriminator's optimizer

``GeneratorFullModel(kp_extractor, generator, discriminator, train_params, perceptual=None)``
    ``forward(x, transform=None) -> (losses, generated)``. ``losses`` holds 0-D tensors, already
    weighted: ``perceptual`` (when the perceptual weights do not sum to 0), ``gen_gan`` and
    ``feature_matching`` (when ``generator_gan`` != 0; the latter when its weights do not sum
    to 0), ``equivariance_value`` and ``equivariance_jacobian`` (each when its weight != 0).
    ``generated`` is the generator's output dict (``prediction``, ``mask``,
    ``sparse_deformed``, ``occlusion_map``, ``deformed``, ``deformation``) plus ``kp_source``,
    ``kp_driving`` and, when an equivariance loss is on, ``transformed_frame`` and
    ``transformed_kp``. ``transform``: a :class:`~ppfom.training.transforms.TPSTransform` to
    use instead of drawing one (tests).
``DiscriminatorFullModel(kp_extractor, generator, discriminator, train_params)``
    ``forward(x, generated) -> {"disc_gan": ...}``: least-squares GAN loss on the real driving
    frame and the detached prediction, at the discriminator's scales, conditioned on the
    detached driving keypoints.

``train_params`` is the config's ``model.train_params``: ``scales`` (the pyramid),
``loss_weights`` {``perceptual`` (list, one per VGG layer), ``generator_gan``,
``discriminator_gan``, ``feature_matching`` (list, one per discriminator block),
``equivariance_value``, ``equivariance_jacobian``}, ``transform_params`` {``sigma_affine``,
``sigma_tps``, ``points_tps``} and our optional ``perceptual_loss`` (``vgg19``, the default, or
``pyramid_l1``).

The generator loss runs the discriminator, so its backward also leaves gradients on the
discriminator's parameters. The original throws them away (``optimizer_discriminator.zero_grad()``
before the discriminator's step); a trainer must do the same.

Where we differ from the original, and why
------------------------------------------
* **Perceptual loss without VGG19** (``perceptual_loss: pyramid_l1``): L1 between the image
  pyramids, weighted by the sum of the perceptual weights. Ours, so that training runs where
  the ImageNet VGG19 weights cannot be had (offline) and on CPU, where VGG19 at four scales
  dominates a step. The default stays the original's VGG19 loss.
* **VGG19 weights** are PaddleGAN's ImageNet ``vgg19.pdparams`` (what PaddleGAN's FOMM
  training uses; the original takes torchvision's ``vgg19(pretrained=True)``, and we do not
  know that the two files are bit-identical). They come from the weight store and never
  silently: offline and without the file, building the loss raises WeightsUnavailable naming
  vgg19.pdparams. Only the layers up to relu5_1 are built (the original keeps the whole
  network around).
* **The TPS jacobian is computed in closed form**, not with autograd (``torch.autograd.grad``
  with ``create_graph=True``): the same values (including the subgradient 0 of |.| at 0 that
  autograd takes) and the same gradient into the keypoints, without a double backward. A test
  checks it against finite differences.
* **2x2 inverses in closed form** (``[[d, -b], [-c, a]] / det``) instead of ``torch.inverse``:
  the same math, rounding may differ in the last bits; as in the original, a singular driving
  jacobian gives non-finite losses.
* **align_corners of the warp follows the networks** (``generator.align_corners``). The
  original's ``grid_sample`` calls all use torch's default, which is False since torch 1.3
  (True before), so this reproduces it for each convention; PaddleGAN hard-codes True. Under
  False the keypoint coordinates (pixel i at 2i/(n-1) - 1) and grid_sample's (pixel centres at
  (2i+1)/n - 1) disagree by a factor (n-1)/n around the centre, so even a zero warp rescales
  the frame slightly and the equivariance target carries that bias (0.4% of the half-width at
  256 px) -- exactly as in the original on torch >= 1.3.
* **Optional skip connections in the generator** (``generator_cfg.skip_connections``, off by
  default; see ``ppfom.modules.generator``): ours, for small frames that the original decodes
  from features at 1/4 of their size. Their 1x1 convs learn at 10x the generator's rate. The
  mobile generator can have them too. ``skip_source_image`` adds the warped, masked source
  image to the full-size decoder output the same way. ``blend_warped_source`` makes the frame a
  learned per-pixel mix of the decoded frame and the warped source.
* **Randomness**: the random warps come from paddle's global generator, which the trainer
  seeds per step, so a resumed run draws the same warps. The original draws from torch's
  unseeded generator.
* **Config errors early**: missing loss weights, discriminator scales that the pyramid lacks,
  more perceptual weights than VGG layers, fewer feature-matching weights than discriminator
  blocks, a jacobian loss without jacobians, or a GAN weight without a discriminator raise
  ConfigError by name, all but the feature-matching count when the model is built (the
  original fails with a KeyError or IndexError in the first step).
* **Scale keys**: 1 and 1.0 name the same scale (``prediction_1``), as our discriminator does;
  the original fails when the pyramid's and the discriminator's lists write a scale differently. The pyramid's scale 1 is the image
  itself, without building the (unused, NaN) anti-alias kernel of sigma 0.
* **The source image is made to want a gradient** (a detached view, so the caller's tensor is
  untouched): Paddle's grid_sample backward crashes when the grid needs a gradient and the
  sampled image does not, which is the case of the generator sampling the source with the
  keypoint-driven flow. The image's gradient is computed and thrown away; nothing else changes.
* No ``.cuda()`` calls: Paddle places tensors on the current device.
"""
import paddle
import paddle.nn as nn

from ..errors import ConfigError
from .losses import (
    ImagePyramid,
    build_perceptual,
    detach_kp,
    feature_matching_loss,
    gan_loss_discriminator,
    gan_loss_generator,
    scale_key,
)
from .transforms import TPSTransform


def _weights(train_params, *names, where="model.train_params.loss_weights"):
    lw = train_params.get("loss_weights")
    if not isinstance(lw, dict):
        raise ConfigError("model.train_params.loss_weights is missing")
    missing = [n for n in names if n not in lw]
    if missing:
        raise ConfigError(f"{where} lacks {', '.join(missing)}")
    return lw


def _as_list(value):
    return [float(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


def inverse_2x2(m):
    """Inverse of (..., 2, 2) matrices in closed form."""
    a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
    det = a * d - b * c
    row0 = paddle.stack([d, -b], axis=-1)
    row1 = paddle.stack([-c, a], axis=-1)
    return paddle.stack([row0, row1], axis=-2) / det.unsqueeze(-1).unsqueeze(-1)


def _grid_sample_input(image):
    """``image`` as a leaf that wants a gradient (sharing its memory): Paddle's grid_sample
    backward crashes (CPU: segfault) when the grid needs a gradient and the sampled input does
    not (PaddlePaddle/Paddle PR #70147), and the generator samples the source image with a
    keypoint-dependent grid."""
    if image.stop_gradient:
        image = image.detach()
        image.stop_gradient = False
    return image


class GeneratorFullModel(nn.Layer):
    """Keypoints, generation and every generator-side loss in one forward (see the module doc)."""

    def __init__(self, kp_extractor, generator, discriminator, train_params, perceptual=None):
        super().__init__()
        self.kp_extractor = kp_extractor
        self.generator = generator
        self.discriminator = discriminator
        self.train_params = dict(train_params)
        if "scales" not in self.train_params:
            raise ConfigError("model.train_params.scales is missing")
        self.scales = [scale_key(s) for s in self.train_params["scales"]]
        lw = _weights(self.train_params, "perceptual", "generator_gan", "equivariance_value", "equivariance_jacobian")
        self.perceptual_weights = _as_list(lw["perceptual"])
        self.gan_weight = float(lw["generator_gan"])
        self.equivariance_value_weight = float(lw["equivariance_value"])
        self.equivariance_jacobian_weight = float(lw["equivariance_jacobian"])
        self.feature_matching_weights = []
        self.align_corners = bool(getattr(generator, "align_corners", False))
        self.pyramid = ImagePyramid(self.scales, generator.num_channels)

        if sum(self.perceptual_weights) != 0:
            if perceptual is None or isinstance(perceptual, str):
                perceptual = build_perceptual(perceptual or self.train_params.get("perceptual_loss", "vgg19"))
            layers = getattr(perceptual, "num_layers", None)
            if layers is not None and len(self.perceptual_weights) > layers:
                raise ConfigError(f"loss_weights.perceptual has {len(self.perceptual_weights)} weights; "
                                  f"the perceptual loss has {layers} layers")
            self.perceptual = perceptual
        else:
            self.perceptual = None

        if self.gan_weight != 0:
            if discriminator is None:
                raise ConfigError("loss_weights.generator_gan is not 0 but there is no discriminator")
            self.feature_matching_weights = _as_list(_weights(self.train_params, "feature_matching")["feature_matching"])
            self.disc_scales = [scale_key(s) for s in discriminator.scales]
            lacking = [s for s in self.disc_scales if s not in self.scales]
            if lacking:
                raise ConfigError(
                    f"discriminator scale(s) {', '.join(lacking)} are not in model.train_params.scales "
                    f"({', '.join(self.scales)}): the generator's GAN loss needs them in the pyramid")

        if self.equivariance_value_weight != 0 or self.equivariance_jacobian_weight != 0:
            tp = self.train_params.get("transform_params")
            if not isinstance(tp, dict) or "sigma_affine" not in tp:
                raise ConfigError("model.train_params.transform_params.sigma_affine is needed by the equivariance losses")
            self.transform_params = {k: tp.get(k) for k in ("sigma_affine", "sigma_tps", "points_tps")}
            if self.equivariance_jacobian_weight != 0 and getattr(kp_extractor, "jacobian", True) is None:
                raise ConfigError("loss_weights.equivariance_jacobian is not 0 but the keypoint detector "
                                  "estimates no jacobians (common_params.estimate_jacobian)")

    def random_transform(self, batch_size):
        """This step's random warp, from paddle's global generator."""
        return TPSTransform(batch_size, align_corners=self.align_corners, **self.transform_params)

    def forward(self, x, transform=None):
        source, driving = _grid_sample_input(x["source"]), x["driving"]
        kp_source = self.kp_extractor(source)
        kp_driving = self.kp_extractor(driving)
        generated = dict(self.generator(source, kp_source=kp_source, kp_driving=kp_driving))
        generated.update({"kp_source": kp_source, "kp_driving": kp_driving})

        losses = {}
        pyramid_real = self.pyramid(driving)
        pyramid_generated = self.pyramid(generated["prediction"])

        if self.perceptual is not None:
            total = 0.0
            for key in self.scales:
                name = "prediction_" + key
                total = total + self.perceptual(pyramid_generated[name], pyramid_real[name], self.perceptual_weights)
            losses["perceptual"] = total

        if self.gan_weight != 0:
            kp = detach_kp(kp_driving)
            maps_generated = self.discriminator(pyramid_generated, kp=kp)
            maps_real = self.discriminator(pyramid_real, kp=kp)
            total = 0.0
            for key in self.disc_scales:
                total = total + self.gan_weight * gan_loss_generator(maps_generated["prediction_map_" + key])
            losses["gen_gan"] = total
            if sum(self.feature_matching_weights) != 0:
                total = 0.0
                for key in self.disc_scales:
                    total = total + feature_matching_loss(
                        maps_real["feature_maps_" + key], maps_generated["feature_maps_" + key],
                        self.feature_matching_weights)
                losses["feature_matching"] = total

        if self.equivariance_value_weight != 0 or self.equivariance_jacobian_weight != 0:
            if transform is None:
                transform = self.random_transform(driving.shape[0])
            transformed_frame = transform.transform_frame(driving)
            transformed_kp = self.kp_extractor(transformed_frame)
            generated["transformed_frame"] = transformed_frame
            generated["transformed_kp"] = transformed_kp

            if self.equivariance_value_weight != 0:
                value = paddle.abs(kp_driving["value"] - transform.warp_coordinates(transformed_kp["value"])).mean()
                losses["equivariance_value"] = self.equivariance_value_weight * value

            if self.equivariance_jacobian_weight != 0:
                if kp_driving.get("jacobian") is None:
                    raise ConfigError("loss_weights.equivariance_jacobian is not 0 but the keypoints carry no jacobian")
                # d(driving kp)/d(transformed kp) = dT at the transformed kp, times its own jacobian;
                # relative to the driving jacobian this should be the identity.
                jacobian_transformed = paddle.matmul(transform.jacobian(transformed_kp["value"]),
                                                     transformed_kp["jacobian"])
                value = paddle.matmul(inverse_2x2(kp_driving["jacobian"]), jacobian_transformed)
                eye = paddle.eye(2, dtype=value.dtype).reshape([1, 1, 2, 2])
                losses["equivariance_jacobian"] = self.equivariance_jacobian_weight * paddle.abs(eye - value).mean()

        return losses, generated


class DiscriminatorFullModel(nn.Layer):
    """The discriminator's least-squares GAN loss on real and (detached) generated frames."""

    def __init__(self, kp_extractor, generator, discriminator, train_params):
        super().__init__()
        if discriminator is None:
            raise ConfigError("DiscriminatorFullModel needs a discriminator")
        self.kp_extractor = kp_extractor
        self.generator = generator
        self.discriminator = discriminator
        self.train_params = dict(train_params)
        self.scales = [scale_key(s) for s in discriminator.scales]
        self.pyramid = ImagePyramid(self.scales, generator.num_channels)
        self.weight = float(_weights(self.train_params, "discriminator_gan")["discriminator_gan"])

    def forward(self, x, generated):
        pyramid_real = self.pyramid(x["driving"])
        pyramid_generated = self.pyramid(generated["prediction"].detach())
        kp = detach_kp(generated["kp_driving"])
        maps_generated = self.discriminator(pyramid_generated, kp=kp)
        maps_real = self.discriminator(pyramid_real, kp=kp)
        total = 0.0
        for key in self.scales:
            total = total + self.weight * gan_loss_discriminator(
                maps_real["prediction_map_" + key], maps_generated["prediction_map_" + key])
        return {"disc_gan": total}
