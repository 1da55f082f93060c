"""Face detection for the photo-animation demo.

    from ppfom.faces import build_face_detector
    detector = build_face_detector("auto")      # or "s3fd", "opencv"
    boxes = detector.detect(photo_rgb_uint8)    # (N, 5) [x1, y1, x2, y2, score], largest first

See :mod:`ppfom.faces.detector` (interface, choice, fallback), :mod:`ppfom.faces.s3fd`
(PaddleGAN's S3FD) and :mod:`ppfom.faces.haar` (OpenCV's Haar cascade). Importing this
package registers both in ``ppfom.registry.FACE_DETECTORS`` (as "S3FD" and "OpenCVHaar").
"""
from .detector import (  # noqa: F401
    DETECTOR_CHOICES, FaceDetector, FaceDetectorUnavailable, build_face_detector, nms, sort_by_area,
)
from . import haar, s3fd  # noqa: F401,E402  (registration)
from .haar import OpenCVHaar  # noqa: F401,E402
from .s3fd import S3FD, S3FDNet  # noqa: F401,E402

__all__ = [
    "build_face_detector", "FaceDetector", "FaceDetectorUnavailable", "DETECTOR_CHOICES", "nms",
    "sort_by_area", "S3FD", "S3FDNet", "OpenCVHaar",
]
