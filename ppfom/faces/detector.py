"""The common face-detector interface, box utilities and :func:`build_face_detector`.

Every detector takes an RGB ``uint8`` image ``(H, W, 3)`` and returns an ``(N, 5)`` float32
array of ``[x1, y1, x2, y2, score]`` rows in the image's pixel coordinates, sorted by box
area, largest first (ties: higher score first). The photo-animation demo animates row 0
unless ``--multi_person`` asks for every row. No face gives an empty ``(0, 5)`` array.

Large images: detection runs on a copy whose long side is at most ``max_side`` pixels
(default 640, ``None`` or 0 to turn it off), resized with area interpolation; the boxes are
scaled back to the original image and clipped to it.

Which detector:

* ``"s3fd"``: S3FD with PaddleGAN's weights ``s3fd_paddle.pdparams`` (:mod:`ppfom.faces.s3fd`).
  Missing weights raise :class:`~ppfom.errors.WeightsUnavailable`.
* ``"opencv"``: OpenCV's bundled frontal-face Haar cascade (:mod:`ppfom.faces.haar`).
* ``"auto"``: S3FD when its weights are in the weight store (or when they were given, or
  ``download=True`` fetched them), else OpenCV, announced with one notice line.
"""
import abc
import sys
from typing import Callable, Optional

import numpy as np

from ..errors import PpfomError

__all__ = [
    "FaceDetector", "FaceDetectorUnavailable", "build_face_detector", "nms", "sort_by_area",
    "box_areas", "as_rgb_uint8", "print_to_stderr", "DETECTOR_CHOICES", "DEFAULT_MAX_SIDE",
]

DEFAULT_MAX_SIDE = 640
DETECTOR_CHOICES = ("auto", "s3fd", "opencv")
_ALIASES = {
    "auto": "auto",
    "s3fd": "s3fd", "sfd": "s3fd",  # "sfd" is PaddleGAN's name for it
    "opencv": "opencv", "haar": "opencv", "opencvhaar": "opencv", "cv2": "opencv",
}
_S3FD_ENTRY = "s3fd_paddle"


class FaceDetectorUnavailable(PpfomError):
    """No face detector can run here (for example OpenCV is missing and S3FD has no weights)."""


def print_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- boxes
def box_areas(boxes: np.ndarray, pixel_offset: float = 0.0) -> np.ndarray:
    """Areas of ``[x1, y1, x2, y2, ...]`` rows; negative extents count as 0."""
    boxes = np.atleast_2d(np.asarray(boxes, dtype=np.float64))
    w = np.maximum(boxes[:, 2] - boxes[:, 0] + pixel_offset, 0.0)
    h = np.maximum(boxes[:, 3] - boxes[:, 1] + pixel_offset, 0.0)
    return w * h


def nms(boxes: np.ndarray, iou_threshold: float = 0.3, pixel_offset: float = 1.0) -> np.ndarray:
    """Greedy non-maximum suppression; returns the kept row indices, highest score first.

    ``boxes`` is ``(N, 5)`` ``[x1, y1, x2, y2, score]``. The best remaining box is kept and
    every remaining box whose IoU with it is above ``iou_threshold`` is dropped (a box at
    exactly the threshold stays), until none remain; each round is one vectorised step over
    the remaining boxes. ``pixel_offset=1`` measures widths as ``x2 - x1 + 1``, the
    integer-pixel convention of PaddleGAN's (and the original S3FD's) ``nms``; pass 0 for
    continuous coordinates. Equal scores keep the earlier row first.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0:
        return np.zeros((0,), dtype=np.int64)
    if boxes.ndim != 2 or boxes.shape[1] < 5:
        raise ValueError(f"nms expects (N, 5) [x1, y1, x2, y2, score] rows, got shape {boxes.shape}")
    x1, y1, x2, y2, scores = (boxes[:, i] for i in range(5))
    areas = box_areas(boxes, pixel_offset)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        iw = np.maximum(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + pixel_offset, 0.0)
        ih = np.maximum(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + pixel_offset, 0.0)
        inter = iw * ih
        union = areas[best] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def sort_by_area(boxes: np.ndarray) -> np.ndarray:
    """Rows sorted by box area, largest first; equal areas by score, highest first."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 5)
    if len(boxes) < 2:
        return boxes.copy()
    order = np.lexsort((-boxes[:, 4].astype(np.float64), -box_areas(boxes)))
    return boxes[order]


def as_rgb_uint8(image) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 RGB view of ``image``; grey ``(H, W)`` is repeated, alpha dropped."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(
            f"a face detector expects an RGB uint8 image, got dtype {image.dtype}; "
            "convert it with (image * 255).round().clip(0, 255).astype(np.uint8) if it is in [0, 1]"
        )
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"a face detector expects an (H, W, 3) RGB image, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"a face detector got an empty image of shape {image.shape}")
    return np.ascontiguousarray(image)


def _cv2():
    try:
        import cv2
    except ImportError:
        raise FaceDetectorUnavailable(
            "OpenCV is not installed (pip install 'opencv-python-headless<5')"
        ) from None
    return cv2


def _downscale(image: np.ndarray, max_side: Optional[int]):
    """``image`` resized so its long side is at most ``max_side``, and the (sx, sy) factors
    that map the small image's coordinates back to the original."""
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return image, 1.0, 1.0
    r = float(max_side) / max(h, w)
    sw, sh = max(1, int(round(w * r))), max(1, int(round(h * r)))
    small = _cv2().resize(image, (sw, sh), interpolation=_cv2().INTER_AREA)
    return small, w / sw, h / sh


# --------------------------------------------------------------------------- interface
class FaceDetector(abc.ABC):
    """Base class: subclasses implement ``_detect(rgb_uint8) -> (N, 5)`` in that image's
    coordinates; :meth:`detect` handles input checks, downscaling, clipping and sorting."""

    kind = "face detector"

    def __init__(self, max_side: Optional[int] = DEFAULT_MAX_SIDE):
        if max_side is not None and int(max_side) < 0:
            raise ValueError(f"max_side must be positive, 0 or None, got {max_side}")
        self.max_side = int(max_side) if max_side else None

    @abc.abstractmethod
    def _detect(self, image: np.ndarray) -> np.ndarray:
        """Boxes ``(N, 5)`` in ``image``'s coordinates; each detector implements it."""

    def detect(self, image) -> np.ndarray:
        """``(N, 5)`` float32 ``[x1, y1, x2, y2, score]`` for an RGB uint8 image, largest first."""
        image = as_rgb_uint8(image)
        h, w = image.shape[:2]
        small, sx, sy = _downscale(image, self.max_side)
        boxes = np.asarray(self._detect(small), dtype=np.float64).reshape(-1, 5)
        if len(boxes):
            boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]] * sx, 0, w)
            boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]] * sy, 0, h)
            boxes = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
        return sort_by_area(boxes.astype(np.float32))

    __call__ = detect

    def __repr__(self):
        return f"{type(self).__name__}(max_side={self.max_side})"


# --------------------------------------------------------------------------- building
def _normalise_name(name) -> str:
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    if key not in _ALIASES:
        from ..errors import ConfigError

        raise ConfigError(f"unknown face detector {name!r} (choose one of: {', '.join(DETECTOR_CHOICES)})")
    return _ALIASES[key]


def _build_s3fd(weights, download: bool, max_side):
    from .s3fd import S3FD

    return S3FD(weights=_S3FD_ENTRY if weights is None else weights, download=download, max_side=max_side)


def _build_opencv(max_side):
    from .haar import OpenCVHaar

    return OpenCVHaar(max_side=max_side)


def build_face_detector(name: str = "auto", weights=None,
                        notice: Optional[Callable[[str], None]] = print_to_stderr,
                        download: bool = False, max_side: Optional[int] = DEFAULT_MAX_SIDE) -> FaceDetector:
    """Build the face detector ``name``: ``"auto"``, ``"s3fd"`` or ``"opencv"``.

    weights: for S3FD, a ``.pdparams`` (or the original PyTorch ``s3fd`` file) path, or a
        weight-store name; default the store's ``s3fd_paddle``.
    notice: called with one line when ``"auto"`` falls back to OpenCV (None: silent).
    download: ``"auto"`` downloads missing S3FD weights only when this is True. An explicit
        ``"s3fd"`` always may (unless ``PPFOM_OFFLINE=1``), and raises
        :class:`~ppfom.errors.WeightsUnavailable` when the weights cannot be had.
    max_side: detect on a copy whose long side is at most this (None or 0: full size).

    Thresholds and cascade parameters are arguments of the classes themselves
    (:class:`~ppfom.faces.s3fd.S3FD`, :class:`~ppfom.faces.haar.OpenCVHaar`).
    """
    from ..errors import WeightsUnavailable

    kind = _normalise_name(name)
    if kind == "s3fd":
        return _build_s3fd(weights, download=True, max_side=max_side)
    if kind == "opencv":
        return _build_opencv(max_side=max_side)

    # auto
    if weights is not None:  # given explicitly: the user wants S3FD, errors are theirs to see
        return _build_s3fd(weights, download=True, max_side=max_side)
    from .. import weights as store

    if store.is_present(_S3FD_ENTRY) or download:
        try:
            return _build_s3fd(None, download=download, max_side=max_side)
        except WeightsUnavailable as e:
            reason = f"S3FD weights unavailable ({' '.join(str(e).split())})"
    else:
        reason = f"S3FD weights not found (ppfom weights download {_S3FD_ENTRY})"
    try:
        detector = _build_opencv(max_side=max_side)
    except FaceDetectorUnavailable as e:
        raise FaceDetectorUnavailable(f"no face detector can run: {reason}, and {e}") from None
    if notice is not None:
        notice(f"face detector: {reason}; using OpenCV's Haar cascade")
    return detector
