"""Face enhancement: GPEN-512 (PaddleGAN's names and weights) applied to animated face crops.

    from ppfom.enhance import GPENEnhancer, check_enhancer_available
    check_enhancer_available("GPEN-512")       # at start-up: WeightsUnavailable if it cannot be had
    enhancer = GPENEnhancer("GPEN-512")
    faces = enhancer.enhance(faces)            # (N, H, W, 3) uint8 RGB -> the same

Importing this package registers :class:`GPENEnhancer` in ``ppfom.registry.ENHANCERS`` as
``"GPEN"``; the network itself (:mod:`ppfom.enhance.gpen`) is imported on first use.
"""
from .enhancer import DEFAULT_WEIGHTS, GPENEnhancer, check_enhancer_available, feather_mask

__all__ = ["DEFAULT_WEIGHTS", "GPENEnhancer", "check_enhancer_available", "feather_mask"]
