"""The built-in sample: a group photo and a driving video, made from a real photo offline.

scikit-image ships a real portrait (``skimage.data.astronaut``). The group photo places three
copies of her head (one mirrored, one smaller) on a plain background; the driving video moves
the head (turns, nods, leans, comes closer) for three seconds, with a tone as its sound
track so the audio path is exercised too. Both are generated once into ``$PPFOM_HOME/sample``.
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


def sample_dir():
    from ..weights import ppfom_home

    return Path(ppfom_home()) / "sample" / f"v{SAMPLE_VERSION}"


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


def ensure_sample(folder=None):
    """Make the sample if it is not there yet; returns {"source": path, "driving": path}."""
    import imageio.v2 as imageio

    from ..pipeline.media import ffmpeg_exe

    folder = Path(folder or sample_dir())
    paths = {"source": folder / "group_photo.png", "driving": folder / "driving.mp4"}
    if all(p.is_file() for p in paths.values()):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".partial-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    try:
        imageio.imwrite(tmp / "group_photo.png", group_photo())
        with imageio.get_writer(tmp / "silent.mp4", format="FFMPEG", fps=FPS, codec="libx264",
                                pixelformat="yuv420p", quality=8, ffmpeg_log_level="error") as writer:
            for frame in driving_frames():
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
