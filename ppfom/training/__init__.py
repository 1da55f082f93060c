"""Training FOMM: the original's losses and full models (``full_model``), random TPS warps
(``transforms``), perceptual and GAN losses (``losses``).

Names are imported on first use, so ``import ppfom.training.<module>`` does not load paddle
before it is needed.
"""
import importlib

_EXPORTS = {
    "TPSTransform": "transforms",
    "ImagePyramid": "losses",
    "VGG19Features": "losses",
    "VGG19PerceptualLoss": "losses",
    "PyramidL1Loss": "losses",
    "build_perceptual": "losses",
    "detach_kp": "losses",
    "gan_loss_generator": "losses",
    "gan_loss_discriminator": "losses",
    "feature_matching_loss": "losses",
    "GeneratorFullModel": "full_model",
    "DiscriminatorFullModel": "full_model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
