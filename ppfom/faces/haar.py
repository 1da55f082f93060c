"""OpenCV's bundled frontal-face Haar cascade, the fallback when S3FD's weights are absent.

It needs no download: the cascade file ships with ``opencv-python``
(``cv2.data.haarcascades + "haarcascade_frontalface_default.xml"``). OpenCV 5 dropped
``CascadeClassifier`` from the main package, hence ``opencv-python-headless<5``.

It finds frontal, upright faces; S3FD is much better with turned or small faces. The image
is converted to grey and histogram-equalised, the cascade's rectangles (grouped by OpenCV,
``min_neighbors`` votes needed) become boxes, and overlapping ones are merged by NMS.

Score: a Haar cascade gives no probability. The score is ``n / (n + min_neighbors)`` where
``n`` is the number of raw detections OpenCV grouped into the box: 0.5 at the acceptance
threshold, towards 1 with more evidence. It orders boxes, nothing more.
"""
from typing import Optional

import numpy as np

from ..registry import FACE_DETECTORS
from .detector import DEFAULT_MAX_SIDE, FaceDetector, FaceDetectorUnavailable, _cv2, nms

__all__ = ["OpenCVHaar", "CASCADE_FILE"]

CASCADE_FILE = "haarcascade_frontalface_default.xml"


def _cascade_path(cv2) -> str:
    data = getattr(cv2, "data", None)
    folder = getattr(data, "haarcascades", None)
    if not folder:
        raise FaceDetectorUnavailable("this OpenCV has no bundled Haar cascades (cv2.data.haarcascades)")
    return folder + CASCADE_FILE


@FACE_DETECTORS.register(name="OpenCVHaar")
class OpenCVHaar(FaceDetector):
    """Haar-cascade face detector.

    cascade: path of a cascade XML (default OpenCV's frontal-face cascade).
    scale_factor, min_neighbors, min_size: ``CascadeClassifier.detectMultiScale``'s
        arguments (min_size in pixels of the possibly downscaled image).
    iou_threshold: NMS overlap to merge the cascade's overlapping boxes.
    max_side: detect on a copy at most this long (None or 0: full size).
    """

    kind = "OpenCV Haar cascade"

    def __init__(self, cascade: Optional[str] = None, scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_size: int = 30, iou_threshold: float = 0.3,
                 max_side: Optional[int] = DEFAULT_MAX_SIDE):
        super().__init__(max_side)
        cv2 = _cv2()
        if not hasattr(cv2, "CascadeClassifier"):
            raise FaceDetectorUnavailable(
                f"OpenCV {getattr(cv2, '__version__', '?')} has no CascadeClassifier "
                "(OpenCV 5 moved it out; pip install 'opencv-python-headless<5')"
            )
        self.cascade_path = cascade or _cascade_path(cv2)
        self.classifier = cv2.CascadeClassifier(self.cascade_path)
        if self.classifier.empty():
            raise FaceDetectorUnavailable(f"OpenCV cannot read the Haar cascade {self.cascade_path}")
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = int(min_size)
        self.iou_threshold = float(iou_threshold)

    def _detect(self, image: np.ndarray) -> np.ndarray:
        cv2 = _cv2()
        grey = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        rects, votes = self.classifier.detectMultiScale2(
            grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
        )
        rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        if len(rects) == 0:
            return np.zeros((0, 5), dtype=np.float32)
        votes = np.asarray(votes, dtype=np.float64).reshape(-1)
        score = votes / (votes + max(self.min_neighbors, 1))
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:], score[:, None]], axis=1)
        return boxes[nms(boxes, self.iou_threshold, pixel_offset=0.0)].astype(np.float32)

    def __repr__(self):
        return (f"OpenCVHaar(scale_factor={self.scale_factor}, min_neighbors={self.min_neighbors}, "
                f"min_size={self.min_size}, max_side={self.max_side})")
