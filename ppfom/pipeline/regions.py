"""Where each face is cut from the photo and how it goes back: crop, then paste.

Crop: a square centred on the detected face box, its side ``(1 + 2 * ratio)`` times the box's
longer side (ratio 0.4 gives the framing of VoxCeleb crops, which the models were trained
on). Parts of the square outside the photo are filled by repeating the edge and are never
pasted back.

Paste: each face's weight map is a feathered square (1 inside, falling to 0 at the crop's
edge) times its territory, the pixels nearer to this face's box than to any other face's box.
Territories are disjoint, so faces close together never overwrite each other's inside, and
wherever every weight is 0 the photo's pixels are copied unchanged (bit-identical).
"""
from dataclasses import dataclass

import numpy as np

FEATHER_FRACTION = 0.12  # width of the soft edge, as a fraction of the crop side
SEAM_BAND = (0.05, 0.95)  # weights counted as "the seam" for colour matching


@dataclass
class FaceRegion:
    box: tuple  # detected face (x1, y1, x2, y2), floats in photo pixels
    crop: tuple  # square crop (x0, y0, side), ints; may extend past the photo

    @property
    def visible(self):
        """Not clipped: (x0, y0, x1, y1) of the crop in photo coordinates (may exceed it)."""
        x0, y0, side = self.crop
        return x0, y0, x0 + side, y0 + side


def crop_square(box, ratio):
    """The square crop around a face box (see module docstring)."""
    x1, y1, x2, y2 = [float(v) for v in box[:4]]
    side = int(round(max(x2 - x1, y2 - y1) * (1 + 2 * ratio)))
    side = max(side, 8)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def face_regions(boxes, ratio):
    return [FaceRegion(tuple(float(v) for v in b[:4]), crop_square(b, ratio)) for b in boxes]


def _resize(image, size):
    import cv2

    h, w = image.shape[:2]
    interpolation = cv2.INTER_AREA if size[0] < w else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interpolation)


def cut(image, region, size):
    """The crop of ``region`` from ``image``, edge-replicated where it leaves the photo, resized
    to (size, size)."""
    h, w = image.shape[:2]
    x0, y0, side = region.crop
    pad = ((max(0, -y0), max(0, y0 + side - h)), (max(0, -x0), max(0, x0 + side - w)), (0, 0))
    inside = image[max(0, y0):min(h, y0 + side), max(0, x0):min(w, x0 + side)]
    square = np.pad(inside, pad, mode="edge") if any(v for pair in pad[:2] for v in pair) else inside
    return _resize(np.ascontiguousarray(square), (size, size))


def center_square(frame, size):
    """A driving frame: centre square crop, resized (the models want square frames)."""
    h, w = frame.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    return _resize(np.ascontiguousarray(frame[y0:y0 + side, x0:x0 + side]), (size, size))


def _box_distance(xs, ys, box):
    x1, y1, x2, y2 = box
    dx = np.maximum(np.maximum(x1 - xs, 0), xs - x2)
    dy = np.maximum(np.maximum(y1 - ys, 0), ys - y2)
    return np.hypot(dx, dy)


def _feather(side, width):
    ramp = np.clip((np.minimum(np.arange(side), np.arange(side)[::-1]) + 0.5) / max(width, 1), 0, 1)
    return np.minimum.outer(ramp, ramp).astype(np.float32)


class Paster:
    """Pastes animated faces back into the photo; weight maps are computed once."""

    def __init__(self, photo, regions, feather_fraction=FEATHER_FRACTION):
        self.photo = photo
        self.regions = regions
        h, w = photo.shape[:2]
        rects = [r.visible for r in regions]
        # One working window covering every crop, clipped to the photo.
        self.window = (max(0, min(r[0] for r in rects)), max(0, min(r[1] for r in rects)),
                       min(w, max(r[2] for r in rects)), min(h, max(r[3] for r in rects)))
        wx0, wy0, wx1, wy1 = self.window
        ys, xs = np.mgrid[wy0:wy1, wx0:wx1].astype(np.float32) + 0.5
        distances = np.stack([_box_distance(xs, ys, r.box) for r in regions])
        owner = np.argmin(distances, axis=0)  # ties go to the first face
        self.weights = []
        for i, region in enumerate(regions):
            x0, y0, side = region.crop
            weight = np.zeros((wy1 - wy0, wx1 - wx0), np.float32)
            feather = _feather(side, feather_fraction * side)
            # The crop's part inside the window, in window and crop coordinates.
            ax0, ay0 = max(x0, wx0), max(y0, wy0)
            ax1, ay1 = min(x0 + side, wx1), min(y0 + side, wy1)
            if ax1 > ax0 and ay1 > ay0:
                weight[ay0 - wy0:ay1 - wy0, ax0 - wx0:ax1 - wx0] = feather[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0]
            weight *= owner == i
            self.weights.append(weight)
        self.base = photo[wy0:wy1, wx0:wx1].astype(np.float32)
        # Colour matching compares each face with the photo on its seam band; the band and
        # the photo's colour there depend on the regions only, so they are found once.
        self.seams = []
        for weight in self.weights:
            seam = (weight > SEAM_BAND[0]) & (weight < SEAM_BAND[1])
            self.seams.append((seam, self.base[seam].mean(axis=0)) if seam.sum() >= 16 else None)

    def _placed(self, region, face):
        """An animated face (size, size, 3) resized to its crop and placed in the window."""
        wx0, wy0, wx1, wy1 = self.window
        x0, y0, side = region.crop
        full = _resize(face, (side, side)).astype(np.float32)
        out = np.zeros((wy1 - wy0, wx1 - wx0, 3), np.float32)
        ax0, ay0 = max(x0, wx0), max(y0, wy0)
        ax1, ay1 = min(x0 + side, wx1), min(y0 + side, wy1)
        if ax1 > ax0 and ay1 > ay0:
            out[ay0 - wy0:ay1 - wy0, ax0 - wx0:ax1 - wx0] = full[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0]
        return out

    def paste(self, faces, color_match=True):
        """Compose one output frame from one animated face per region (uint8, (S, S, 3))."""
        numerator = np.zeros_like(self.base)
        total = np.zeros(self.base.shape[:2], np.float32)
        for region, weight, seam, face in zip(self.regions, self.weights, self.seams, faces):
            placed = self._placed(region, face)
            if color_match and seam is not None:
                placed = self._match_colors(placed, *seam)
            numerator += placed * weight[..., None]
            total += weight
        window = self.base * (1 - total[..., None]) + numerator
        out = self.photo.copy()
        wx0, wy0, wx1, wy1 = self.window
        touched = total > 0  # everywhere else the photo stays bit-identical
        out[wy0:wy1, wx0:wx1][touched] = np.clip(np.round(window[touched]), 0, 255).astype(np.uint8)
        return out

    @staticmethod
    def _match_colors(placed, seam, photo_mean):
        """Shift the face's colours so that, on the seam band, they average the photo's."""
        return np.clip(placed + (photo_mean - placed[seam].mean(axis=0)), 0, 255)
