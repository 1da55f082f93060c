"""The built-in samples: a group photo and a driving video each, made offline by ppfom.

- ``synthetic`` (what the no-argument demo runs): three of the synthetic talking heads of
  ppfom.data.synthetic, the kind of face ppfom's shipped model was trained on, in a group
  photo, and a fourth head that turns, nods, blinks and talks for three seconds.
- ``astronaut``: scikit-image's real portrait (``skimage.data.astronaut``) three times (one
  mirrored, one smaller) on a plain background, and the same head moved (turns, nods,
  leans, comes closer) for three seconds; for the published vox models and the tests.

Both driving videos carry a tone as their sound track, so the audio path is exercised too.
They are generated once into ``$PPFOM_HOME/sample``.
"""
import os
import subprocess
from pathlib import Path

import numpy as np

SAMPLE_VERSION = 1
FPS = 25
SECONDS = 3
DRIVING_SIZE = 256
HEAD = (20, 250, 130, 330)  # rows and columns of the astronaut photo that hold her head


SYNTHETIC_GROUP = (2, 8, 13)  # identity seeds whose heads OpenCV's Haar cascade finds in the photo
SYNTHETIC_DRIVER = (6, 11)  # identity and motion seed of the driving head


def sample_dir(kind="astronaut"):
    from ..weights import ppfom_home

    name = f"v{SAMPLE_VERSION}" if kind == "astronaut" else f"{kind}-v{SAMPLE_VERSION}"
    return Path(ppfom_home()) / "sample" / name


def _head():
    from skimage import data

    y0, y1, x0, x1 = HEAD
    return data.astronaut()[y0:y1, x0:x1]


def group_photo():
    """Three heads on a soft background: (400, 720, 3) uint8."""
    import cv2

    height, width = 400, 720
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack([150 + 40 * yy / height, 160 + 30 * xx / width, 175 + 20 * (1 - yy / height)], -1)
    photo = background.astype(np.uint8)
    head = _head()
    placements = [(head, 40, 30), (head[:, ::-1], 270, 30), (cv2.resize(head, None, fx=0.8, fy=0.8), 520, 90)]
    for image, x, y in placements:
        h, w = image.shape[:2]
        photo[y:y + h, x:x + w] = image
    return photo


def driving_frames():
    """The moving head, square frames of DRIVING_SIZE."""
    import cv2

    head = _head()
    h, w = head.shape[:2]
    side = max(h, w)
    canvas = np.pad(head, (((side - h) // 2, side - h - (side - h) // 2), ((side - w) // 2, side - w - (side - w) // 2),
                           (0, 0)), mode="edge")
    base = cv2.resize(canvas, (DRIVING_SIZE, DRIVING_SIZE), interpolation=cv2.INTER_AREA)
    centre = (DRIVING_SIZE / 2, DRIVING_SIZE / 2)
    for i in range(FPS * SECONDS):
        t = i / FPS
        angle = 7 * np.sin(2 * np.pi * t / 1.5)  # leaning side to side
        scale = 1 + 0.06 * np.sin(2 * np.pi * t / 3)  # closer and back
        m = cv2.getRotationMatrix2D(centre, angle, scale)
        m[0, 2] += 10 * np.sin(2 * np.pi * t / 2)  # turning
        m[1, 2] += 6 * np.sin(2 * np.pi * t / 1.2)  # nodding
        yield cv2.warpAffine(base, m, (DRIVING_SIZE, DRIVING_SIZE), borderMode=cv2.BORDER_REPLICATE)


def synthetic_group_photo():
    """Three synthetic heads side by side: (300, 720, 3) uint8."""
    from .synthetic import render_video

    photo = np.full((300, 720, 3), (120, 130, 150), np.uint8)
    for i, seed in enumerate(SYNTHETIC_GROUP):
        head = render_video(seed, seed + 100, size=200, frames=1)[0]
        photo[50:250, 30 + i * 230:230 + i * 230] = head
    return photo


def synthetic_driving_frames():
    from .synthetic import render_video

    identity, motion = SYNTHETIC_DRIVER
    yield from render_video(identity, motion, size=DRIVING_SIZE, frames=FPS * SECONDS, fps=FPS)


def ensure_sample(folder=None, kind="astronaut"):
    """Make the sample if it is not there yet; returns {"source": path, "driving": path}."""
    import imageio.v2 as imageio

    from ..pipeline.media import ffmpeg_exe

    if kind not in ("astronaut", "synthetic"):
        raise ValueError(f"sample kind must be astronaut or synthetic, not {kind!r}")
    photo_of, frames_of = ((group_photo, driving_frames) if kind == "astronaut"
                           else (synthetic_group_photo, synthetic_driving_frames))
    folder = Path(folder or sample_dir(kind))
    paths = {"source": folder / "group_photo.png", "driving": folder / "driving.mp4"}
    if all(p.is_file() for p in paths.values()):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".partial-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    try:
        imageio.imwrite(tmp / "group_photo.png", photo_of())
        with imageio.get_writer(tmp / "silent.mp4", format="FFMPEG", fps=FPS, codec="libx264",
                                pixelformat="yuv420p", quality=8, ffmpeg_log_level="error") as writer:
            for frame in frames_of():
                writer.append_data(frame)
        tone = f"sine=frequency=330:duration={SECONDS}"
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(tmp / "silent.mp4"),
                        "-f", "lavfi", "-i", tone, "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac",
                        "-shortest", str(tmp / "driving.mp4")], check=True, capture_output=True)
        os.replace(tmp / "group_photo.png", paths["source"])
        os.replace(tmp / "driving.mp4", paths["driving"])
    finally:
        for p in tmp.glob("*"):
            p.unlink()
        tmp.rmdir()
    return paths
