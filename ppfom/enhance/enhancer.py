"""The face-enhancement stage: GPEN applied to each animated face crop before paste-back.

Processing follows PaddleGAN's ``FaceEnhancement.enhance_from_batch``
(``ppgan/faceutils/face_enhancement/face_enhance.py``):

1. each RGB face is resized to the network size (512): ``cv2.INTER_AREA`` when it shrinks,
   ``cv2.INTER_LINEAR`` when it grows (PaddleGAN uses INTER_AREA both ways, after a centre
   crop to a square; we stretch non-square crops instead, so that the whole crop comes back);
2. ``x / 255`` mapped to [-1, 1] (``(x - 0.5) / 0.5``), NCHW, RGB (the network's order);
3. the output mapped back with ``* 0.5 + 0.5``, clipped to [0, 1], times 255;
4. blended with the resized input through PaddleGAN's feathered mask (a filled rectangle
   from 26 to 486 of 512, Gaussian-blurred twice with a 101x101, sigma 11 kernel; scaled
   for other sizes), so the crop's border keeps the input and paste-back shows no seam;
5. resized back to the crop's size, rounded to uint8 (PaddleGAN truncates the network
   output to uint8 before blending; we round once at the end).

Inference is deterministic: GPEN feeds its encoder's feature maps as every layer's noise,
so no random noise is drawn (see :mod:`ppfom.enhance.gpen`).
"""
import os
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, WeightsUnavailable
from ..registry import ENHANCERS

DEFAULT_WEIGHTS = "GPEN-512"


def _store():
    from .. import weights as store

    return store


def check_enhancer_available(weights=DEFAULT_WEIGHTS, download=True):
    """Make sure the enhancer's weights can be had, before any other work; return their path.

    ``weights`` is a weight-store name (``GPEN-512``) or a path. A store entry that is not
    in the cache is downloaded when ``download`` is true and the machine is online; offline
    (``PPFOM_OFFLINE=1``), or with ``download=False``, it raises the store's
    :class:`~ppfom.errors.WeightsUnavailable` at once, naming the file, its URL and where to
    put it. A cached file that fails verification raises it as well.
    """
    store = _store()
    name = os.fspath(weights)
    if name in store.ENTRIES:
        return store.get_weights(name, download=download)
    path = Path(name).expanduser()
    if path.is_file():
        return path
    raise WeightsUnavailable(
        f"face enhancer weights {name}: no such file, nor a weight-store name "
        f"(the published ones are {DEFAULT_WEIGHTS}; see `ppfom weights list`)"
    )


def feather_mask(size):
    """PaddleGAN's blending mask at 512 (rectangle 26..486, blurred twice), scaled to ``size``."""
    import cv2

    scale = size / 512.0
    lo, hi = int(round(26 * scale)), int(round(486 * scale))
    ksize = max(int(round(101 * scale)) | 1, 3)
    sigma = 11 * scale
    mask = np.zeros((size, size), np.float32)
    cv2.rectangle(mask, (lo, lo), (hi, hi), (1, 1, 1), -1, cv2.LINE_AA)
    mask = cv2.GaussianBlur(mask, (ksize, ksize), sigma)
    mask = cv2.GaussianBlur(mask, (ksize, ksize), sigma)
    return mask[:, :, None]


def _resize(image, width, height):
    import cv2

    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    shrink = width <= w and height <= h
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


@ENHANCERS.register(name="GPEN")
class GPENEnhancer:
    """GPEN face enhancer: ``enhance(faces)`` for a batch of RGB uint8 crops of any size.

    weights: a weight-store name (default ``GPEN-512``, PaddleGAN's file), a ``.pdparams``
        path, or None for random weights (tests and timing only). Loading is strict by
        name and shape (:func:`ppfom.enhance.gpen.prepare_gpen_state`, then
        :func:`ppfom.checkpoint.state.load_state_strict`).
    size, style_dim, n_mlp, channel_multiplier, narrow: the architecture (the defaults are
        GPEN-512 as PaddleGAN builds it).
    batch_size: faces per network call.
    blend_border: blend with PaddleGAN's feathered mask (keeps the crop's border).
    download: whether a store entry missing from the cache may be downloaded.
    """

    def __init__(self, weights=DEFAULT_WEIGHTS, size=512, style_dim=512, n_mlp=8, channel_multiplier=2,
                 narrow=1.0, batch_size=4, blend_border=True, download=True):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        path = None if weights is None else check_enhancer_available(weights, download=download)
        import paddle

        from ..checkpoint.convert import read_weights
        from ..checkpoint.state import load_state_strict
        from .gpen import GPEN, prepare_gpen_state

        self.size = int(size)
        self.batch_size = int(batch_size)
        self.blend_border = bool(blend_border)
        self.weights = None if path is None else str(path)
        self.model = GPEN(size=size, style_dim=style_dim, n_mlp=n_mlp, channel_multiplier=channel_multiplier,
                          narrow=narrow)
        if path is not None:
            state, origin = read_weights(path)
            if origin != "paddle":
                raise CheckpointError(f"{path}: a PyTorch checkpoint; GPEN takes PaddleGAN's .pdparams")
            what = f"{path}"
            load_state_strict(self.model, prepare_gpen_state(state, self.model, what), what)
        self.model.eval()
        self._paddle = paddle
        self._mask = feather_mask(self.size) if self.blend_border else None

    def enhance(self, faces):
        """(N, H, W, 3) uint8 RGB -> (N, H, W, 3) uint8 RGB, each face enhanced at the network size."""
        faces = np.asarray(faces)
        if faces.ndim != 4 or faces.shape[-1] != 3:
            raise ValueError(f"faces must be (N, H, W, 3), not {faces.shape}")
        if faces.dtype != np.uint8:
            raise ValueError(f"faces must be uint8, not {faces.dtype}")
        out = np.empty_like(faces)
        if faces.shape[0] == 0:
            return out
        h, w = faces.shape[1:3]
        for start in range(0, faces.shape[0], self.batch_size):
            chunk = faces[start:start + self.batch_size]
            small = np.stack([_resize(f, self.size, self.size) for f in chunk]).astype(np.float32)
            enhanced = self._run(small)
            if self._mask is not None:
                enhanced = enhanced * self._mask + small * (1.0 - self._mask)
            for i, face in enumerate(enhanced):
                back = _resize(face, w, h)
                out[start + i] = np.clip(np.rint(back), 0, 255).astype(np.uint8)
        return out

    __call__ = enhance

    def _run(self, images):
        """(B, S, S, 3) float32 in [0, 255] -> the network's output, float32 in [0, 255]."""
        paddle = self._paddle
        x = paddle.to_tensor(np.ascontiguousarray((images / 255.0 - 0.5) / 0.5).transpose(0, 3, 1, 2))
        with paddle.no_grad():
            y = self.model(x.astype("float32"))
        y = y.numpy().transpose(0, 2, 3, 1)
        return np.clip(y * 0.5 + 0.5, 0.0, 1.0).astype(np.float32) * 255.0
