"""S3FD (Zhang et al., "S3FD: Single Shot Scale-invariant Face Detector", ICCV 2017) in Paddle.

:class:`S3FDNet` has exactly the parameter names and shapes of PaddleGAN's ``s3fd`` network
(``ppgan/faceutils/face_detection/detection/sfd/net_s3fd.py``), so PaddleGAN's published
``s3fd_paddle.pdparams`` loads into it strictly; the original PyTorch ``s3fd`` state dict of
face-alignment uses the same names and loads too. :class:`S3FD` is the detector around it
(registered in ``FACE_DETECTORS`` as ``"S3FD"``), with PaddleGAN's pre- and post-processing
(``detection/sfd/detect.py``, ``bbox.py``, ``sfd_detector.py``):

* input: RGB flipped to BGR, minus the BGR mean ``[104, 117, 123]``, float32, no scaling;
* the six heads predict at strides 4, 8, ..., 128; the prior of cell ``(y, x)`` of level
  ``i`` is centred at ``(stride/2 + x*stride, stride/2 + y*stride)`` with side ``4*stride``;
* conv3_3's classifier has 3 background channels whose maximum is the background score
  ("max-out background"), then a 2-way softmax gives the face probability;
* candidates above 0.05 are decoded with variances ``(0.1, 0.2)``, and boxes scoring above
  0.5 that survive NMS at IoU 0.3 (integer-pixel areas, as PaddleGAN's ``nms``) are kept.

Where this differs from PaddleGAN, deliberately:

* the 0.5 score threshold is applied before NMS instead of after. The kept boxes are the
  same (a box is only suppressed by a higher-scoring one, so boxes under 0.5 can never
  suppress one above it) and NMS has far fewer candidates;
* candidate decoding is vectorised per level in numpy instead of one box at a time, and the
  width/height exponent is capped at 10 (a box ``e^10`` times its prior: beyond any image)
  so that untrained weights cannot overflow to inf/nan;
* images are detected at most ``max_side`` (640) pixels on their long side and the boxes
  scaled back (:class:`~ppfom.faces.detector.FaceDetector`); PaddleGAN's demo only shrinks
  photos of 1024 pixels or more, to 1024. S3FD's smallest prior is 16 pixels, so faces of
  about 16 * long_side / 640 pixels and up are found, and a large photo costs what a 640
  one does;
* boxes are clipped to the image and returned sorted by area, largest first
  (PaddleGAN's demo meant to sort by area, but its ``sorted(...)`` result is discarded).
"""
import os
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..errors import CheckpointError
from ..registry import FACE_DETECTORS
from .detector import DEFAULT_MAX_SIDE, FaceDetector, nms

__all__ = [
    "S3FDNet", "S3FD", "L2Norm", "expected_shapes", "load_s3fd_weights", "read_s3fd_state",
    "prior_boxes", "decode_boxes", "decode_detections", "MEAN_BGR", "VARIANCES", "STRIDES",
]

MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)
VARIANCES = (0.1, 0.2)
STRIDES = (4, 8, 16, 32, 64, 128)  # one per head, in output order
ANCHOR_PER_STRIDE = 4
_MAX_LOG_SCALE = 10.0

# The backbone: (name, in, out, kernel, stride, padding), in PaddleGAN's definition order.
_CONVS: List[Tuple[str, int, int, int, int, int]] = [
    ("conv1_1", 3, 64, 3, 1, 1), ("conv1_2", 64, 64, 3, 1, 1),
    ("conv2_1", 64, 128, 3, 1, 1), ("conv2_2", 128, 128, 3, 1, 1),
    ("conv3_1", 128, 256, 3, 1, 1), ("conv3_2", 256, 256, 3, 1, 1), ("conv3_3", 256, 256, 3, 1, 1),
    ("conv4_1", 256, 512, 3, 1, 1), ("conv4_2", 512, 512, 3, 1, 1), ("conv4_3", 512, 512, 3, 1, 1),
    ("conv5_1", 512, 512, 3, 1, 1), ("conv5_2", 512, 512, 3, 1, 1), ("conv5_3", 512, 512, 3, 1, 1),
    ("fc6", 512, 1024, 3, 1, 3),  # padding 3 (not dilated): the map grows by 4 per side pair
    ("fc7", 1024, 1024, 1, 1, 0),
    ("conv6_1", 1024, 256, 1, 1, 0), ("conv6_2", 256, 512, 3, 2, 1),
    ("conv7_1", 512, 128, 1, 1, 0), ("conv7_2", 128, 256, 3, 2, 1),
]
# L2 normalisation of the three shallow feature maps: (name, channels, initial scale).
_NORMS: List[Tuple[str, int, float]] = [
    ("conv3_3_norm", 256, 10.0), ("conv4_3_norm", 512, 8.0), ("conv5_3_norm", 512, 5.0),
]
# Detection heads, in output order: (feature name, channels, classifier channels).
_HEADS: List[Tuple[str, int, int]] = [
    ("conv3_3_norm", 256, 4),  # 3 background channels + face: max-out background
    ("conv4_3_norm", 512, 2),
    ("conv5_3_norm", 512, 2),
    ("fc7", 1024, 2),
    ("conv6_2", 512, 2),
    ("conv7_2", 256, 2),
]


def expected_shapes() -> Dict[str, Tuple[int, ...]]:
    """``{parameter name: shape}`` of :class:`S3FDNet`, in state-dict order, without
    building it (the weight store verifies ``s3fd_paddle.pdparams`` with this)."""
    shapes: Dict[str, Tuple[int, ...]] = {}
    for name, c_in, c_out, k, _, _ in _CONVS:
        shapes[f"{name}.weight"] = (c_out, c_in, k, k)
        shapes[f"{name}.bias"] = (c_out,)
    for name, channels, _ in _NORMS:
        shapes[f"{name}.weight"] = (channels,)
    for name, channels, n_conf in _HEADS:
        for head, c_out in (("conf", n_conf), ("loc", 4)):
            shapes[f"{name}_mbox_{head}.weight"] = (c_out, channels, 3, 3)
            shapes[f"{name}_mbox_{head}.bias"] = (c_out,)
    return shapes


class L2Norm(nn.Layer):
    """Channel-wise L2 normalisation with a learnt per-channel scale (parameter ``weight``)."""

    def __init__(self, channels: int, scale: float = 1.0, eps: float = 1e-10):
        super().__init__()
        self.eps = eps
        self.weight = self.create_parameter(
            shape=[channels], dtype="float32", default_initializer=nn.initializer.Constant(scale)
        )

    def forward(self, x):
        norm = paddle.sqrt(paddle.sum(x * x, axis=1, keepdim=True)) + self.eps
        return x / norm * self.weight.reshape([1, -1, 1, 1])


class S3FDNet(nn.Layer):
    """The S3FD network. ``forward(x)`` takes a ``(N, 3, H, W)`` mean-subtracted BGR batch and
    returns ``[conf_1, loc_1, ..., conf_6, loc_6]``: 2-channel classifier logits (background,
    face; conv3_3's already maxed out) and 4-channel box offsets per level, strides 4..128."""

    def __init__(self):
        super().__init__()
        for name, c_in, c_out, k, s, p in _CONVS:
            self.add_sublayer(name, nn.Conv2D(c_in, c_out, kernel_size=k, stride=s, padding=p))
        for name, channels, scale in _NORMS:
            self.add_sublayer(name, L2Norm(channels, scale))
        for name, channels, n_conf in _HEADS:
            self.add_sublayer(f"{name}_mbox_conf", nn.Conv2D(channels, n_conf, kernel_size=3, padding=1))
            self.add_sublayer(f"{name}_mbox_loc", nn.Conv2D(channels, 4, kernel_size=3, padding=1))

    def _convs(self, h, *names):
        for name in names:
            h = F.relu(getattr(self, name)(h))
        return h

    def forward(self, x):
        h = self._convs(x, "conv1_1", "conv1_2")
        h = self._convs(F.max_pool2d(h, 2, 2), "conv2_1", "conv2_2")
        f3 = self._convs(F.max_pool2d(h, 2, 2), "conv3_1", "conv3_2", "conv3_3")
        f4 = self._convs(F.max_pool2d(f3, 2, 2), "conv4_1", "conv4_2", "conv4_3")
        f5 = self._convs(F.max_pool2d(f4, 2, 2), "conv5_1", "conv5_2", "conv5_3")
        f7 = self._convs(F.max_pool2d(f5, 2, 2), "fc6", "fc7")
        f6_2 = self._convs(f7, "conv6_1", "conv6_2")
        f7_2 = self._convs(f6_2, "conv7_1", "conv7_2")
        features = {
            "conv3_3_norm": self.conv3_3_norm(f3),
            "conv4_3_norm": self.conv4_3_norm(f4),
            "conv5_3_norm": self.conv5_3_norm(f5),
            "fc7": f7,
            "conv6_2": f6_2,
            "conv7_2": f7_2,
        }
        outputs = []
        for name, _, n_conf in _HEADS:
            conf = getattr(self, f"{name}_mbox_conf")(features[name])
            if n_conf == 4:  # max-out background: the largest of the 3 background logits
                conf = paddle.concat([paddle.max(conf[:, :3], axis=1, keepdim=True), conf[:, 3:]], axis=1)
            outputs += [conf, getattr(self, f"{name}_mbox_loc")(features[name])]
        return outputs


# --------------------------------------------------------------------------- priors and boxes
def prior_boxes(height: int, width: int, stride: int) -> np.ndarray:
    """``(height*width, 4)`` priors ``[cx, cy, w, h]`` of one level, row-major over the cells."""
    ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    side = float(ANCHOR_PER_STRIDE * stride)
    return np.stack([
        stride / 2.0 + xs.ravel() * stride,
        stride / 2.0 + ys.ravel() * stride,
        np.full(height * width, side),
        np.full(height * width, side),
    ], axis=1).astype(np.float64)


def decode_boxes(loc: np.ndarray, priors: np.ndarray, variances=VARIANCES) -> np.ndarray:
    """SSD decoding: offsets ``(N, 4)`` against priors ``[cx, cy, w, h]`` -> ``[x1, y1, x2, y2]``.

    centre = prior centre + loc[:2] * v0 * prior size; size = prior size * exp(loc[2:] * v1).
    """
    loc = np.asarray(loc, dtype=np.float64).reshape(-1, 4)
    priors = np.asarray(priors, dtype=np.float64).reshape(-1, 4)
    centre = priors[:, :2] + loc[:, :2] * variances[0] * priors[:, 2:]
    size = priors[:, 2:] * np.exp(np.minimum(loc[:, 2:] * variances[1], _MAX_LOG_SCALE))
    return np.concatenate([centre - size / 2.0, centre + size / 2.0], axis=1)


def _face_probability(conf: np.ndarray) -> np.ndarray:
    """Softmax over the 2 classifier channels ``(2, H, W)``; the face channel's probability."""
    conf = conf.astype(np.float64)
    top = conf.max(axis=0)
    e = np.exp(conf - top)
    return e[1] / e.sum(axis=0)


def decode_detections(outputs, candidate_threshold: float = 0.05, variances=VARIANCES,
                      strides=STRIDES) -> np.ndarray:
    """The network's outputs for ONE image (``[conf_1, loc_1, ...]``, arrays or tensors of
    shape ``(1, C, H, W)`` or ``(C, H, W)``) -> ``(N, 5)`` ``[x1, y1, x2, y2, score]`` of every
    cell whose face probability exceeds ``candidate_threshold``, in input pixels (unsorted)."""
    if len(outputs) != 2 * len(strides):
        raise ValueError(f"expected {2 * len(strides)} outputs (conf and loc per level), got {len(outputs)}")
    rows = []
    for level, stride in enumerate(strides):
        conf, loc = (np.asarray(o.numpy() if hasattr(o, "numpy") else o) for o in outputs[2 * level: 2 * level + 2])
        if conf.ndim == 4:
            conf, loc = conf[0], loc[0]
        score = _face_probability(conf)
        ys, xs = np.nonzero(score > candidate_threshold)
        if ys.size == 0:
            continue
        priors = prior_boxes(*score.shape, stride)[ys * score.shape[1] + xs]
        boxes = decode_boxes(loc[:, ys, xs].T, priors, variances)
        rows.append(np.concatenate([boxes, score[ys, xs, None]], axis=1))
    if not rows:
        return np.zeros((0, 5), dtype=np.float32)
    return np.concatenate(rows).astype(np.float32)


# --------------------------------------------------------------------------- weights
def _drop_bookkeeping(state: Mapping) -> Dict[str, object]:
    # paddle.save may add a "StructuredToParameterName@@" entry; it is not a weight
    return {k: v for k, v in state.items() if "@@" not in str(k)}


def read_s3fd_state(path) -> Dict[str, np.ndarray]:
    """A flat state dict from a ``.pdparams`` (PaddleGAN's ``s3fd_paddle.pdparams``), read
    after a safety check of its pickle, or from the original PyTorch ``s3fd`` file (read
    without torch; same names)."""
    from ..checkpoint.convert import read_weights, torch_state_to_paddle
    from ..checkpoint.torch_reader import read_file_head, read_torch_checkpoint, sniff_torch_format

    path = os.fspath(path)
    if sniff_torch_format(read_file_head(path, "S3FD weights file")) is not None:
        state = read_torch_checkpoint(path)
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        try:
            state = torch_state_to_paddle(state)
        except CheckpointError as e:
            raise CheckpointError(f"{path}: {e}") from None
    else:
        state, _ = read_weights(path)
    return _drop_bookkeeping(state)


def load_s3fd_weights(net: S3FDNet, weights, download: bool = True) -> Optional[str]:
    """Load ``weights`` into ``net`` strictly; returns the file used (None for a dict).

    ``weights``: a state dict, a file path, or a weight-store name such as ``"s3fd_paddle"``
    (fetched when ``download`` and not ``PPFOM_OFFLINE``; else WeightsUnavailable). Any
    missing, unexpected or mis-shaped key raises CheckpointError naming it.
    """
    from ..checkpoint.state import load_state_strict

    if isinstance(weights, Mapping):
        load_state_strict(net, _drop_bookkeeping(weights), "S3FD weights")
        return None
    path = os.fspath(weights)
    if not os.path.exists(path):
        from .. import weights as store

        if path not in store.ENTRIES:
            raise CheckpointError(f"{path}: no such file (nor a weight-store name: see `ppfom weights list`)")
        path = str(store.get_weights(path, download=download))
    load_state_strict(net, read_s3fd_state(path), path)
    return path


# --------------------------------------------------------------------------- detector
@FACE_DETECTORS.register(name="S3FD")
class S3FD(FaceDetector):
    """S3FD face detector with PaddleGAN's weights and post-processing.

    weights: a path, a weight-store name (default ``"s3fd_paddle"``), a state dict, or None
        for untrained random weights (tests only).
    download: whether a missing store entry may be downloaded.
    score_threshold: keep boxes scoring above this (PaddleGAN: 0.5).
    candidate_threshold: decode cells above this (PaddleGAN: 0.05).
    iou_threshold: NMS overlap (PaddleGAN: 0.3).
    max_side: detect on a copy at most this long (None or 0: full size).
    """

    kind = "S3FD"

    def __init__(self, weights="s3fd_paddle", download: bool = True, score_threshold: float = 0.5,
                 candidate_threshold: float = 0.05, iou_threshold: float = 0.3,
                 max_side: Optional[int] = DEFAULT_MAX_SIDE):
        super().__init__(max_side)
        self.score_threshold = float(score_threshold)
        self.candidate_threshold = float(candidate_threshold)
        self.iou_threshold = float(iou_threshold)
        self.net = S3FDNet()
        self.weights_path = None
        if weights is not None:
            self.weights_path = load_s3fd_weights(self.net, weights, download=download)
        self.net.eval()

    @staticmethod
    def preprocess(image_rgb: np.ndarray) -> np.ndarray:
        """RGB uint8 ``(H, W, 3)`` -> ``(1, 3, H, W)`` float32 BGR minus ``MEAN_BGR``."""
        bgr = image_rgb[:, :, ::-1].astype(np.float32) - MEAN_BGR
        return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None])

    def raw_outputs(self, image_rgb: np.ndarray) -> List[np.ndarray]:
        """The network's 12 outputs for one RGB uint8 image, as numpy arrays."""
        with paddle.no_grad():
            outputs = self.net(paddle.to_tensor(self.preprocess(image_rgb)))
        return [o.numpy() for o in outputs]

    def _detect(self, image: np.ndarray) -> np.ndarray:
        boxes = decode_detections(self.raw_outputs(image), self.candidate_threshold)
        boxes = boxes[boxes[:, 4] > self.score_threshold]
        return boxes[nms(boxes, self.iou_threshold)]

    def __repr__(self):
        return (f"S3FD(weights={self.weights_path!r}, score_threshold={self.score_threshold}, "
                f"iou_threshold={self.iou_threshold}, max_side={self.max_side})")
