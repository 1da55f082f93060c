"""Reading images and videos, writing videos: the I/O stages of the animation pipeline.

Frames are uint8 RGB (H, W, 3) numpy arrays. Videos are read lazily, one frame at a time,
and written to a temporary file that is renamed into place only when everything worked; the
driving video's audio is muxed in with the ffmpeg that imageio-ffmpeg ships.
"""
import os
import re
import subprocess
from pathlib import Path

import numpy as np

from ..errors import PpfomError

MIN_IMAGE_SIDE = 32
VIDEO_SUFFIXES = (".mp4", ".gif")


class MediaError(PpfomError):
    """An input cannot be read or an output cannot be written."""


def ffmpeg_exe():
    try:
        import imageio_ffmpeg
    except ImportError:
        raise MediaError("video I/O needs imageio-ffmpeg: pip install imageio-ffmpeg") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def as_rgb8(image, name="image", notices=None):
    """Any decoded image (gray, gray+alpha, RGB, RGBA; 8 or 16 bit; float) -> uint8 RGB.

    Conversions are reported through ``notices`` (a list) so the caller can say them once.
    """
    image = np.asarray(image)
    notes = []
    if image.dtype == np.uint16:
        image = (image.astype(np.uint32) * 255 + 32767) // 65535
        notes.append("16-bit converted to 8-bit")
    elif image.dtype.kind == "f":
        image = np.clip(image, 0, 1) * 255 if image.max() <= 1.0 else np.clip(image, 0, 255)
        image = np.round(image)
    elif image.dtype == bool:
        image = image.astype(np.uint8) * 255
    image = image.astype(np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise MediaError(f"{name}: unsupported image layout {image.shape}")
    channels = image.shape[2]
    if channels in (2, 4):
        # Composite over white: transparent parts of a cut-out portrait become background.
        alpha = image[..., -1:].astype(np.float32) / 255.0
        color = image[..., :-1].astype(np.float32)
        image = np.round(color * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
        notes.append("transparency composited over white")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
        notes.append("grayscale converted to RGB")
    if notices is not None and notes:
        notices.append(f"{name}: " + ", ".join(notes))
    return np.ascontiguousarray(image)


def read_image(path, notices=None):
    """Read a photo as uint8 RGB; one-line MediaError for missing, unreadable or tiny files."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    image = _read_unchanged(path)
    if image is None:
        try:
            import imageio.v2 as imageio

            image = imageio.imread(path)
        except Exception as e:
            raise MediaError(f"{path}: cannot be read as an image ({type(e).__name__})") from None
    if getattr(image, "ndim", 0) == 3 and image.shape[0] in (2, 3, 4) and image.shape[2] > 4:
        raise MediaError(f"{path}: unsupported image layout {image.shape}")
    image = as_rgb8(image, path.name, notices)
    if min(image.shape[:2]) < MIN_IMAGE_SIDE:
        raise MediaError(f"{path}: {image.shape[1]}x{image.shape[0]} is too small (at least {MIN_IMAGE_SIDE} pixels a side)")
    return image


def _read_unchanged(path):
    """OpenCV keeps 16-bit depth and alpha (PIL would quietly drop depth); None if it cannot."""
    try:
        import cv2
    except ImportError:
        return None
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        return None
    if image.ndim == 3 and image.shape[2] >= 3:  # BGR(A) -> RGB(A)
        image = np.concatenate([image[..., 2::-1], image[..., 3:]], axis=2)
    return image


def probe(path):
    """What ffmpeg says of a media file: {"fps", "frames", "duration", "audio", "width", "height"}."""
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    text = result.stderr
    info = {"audio": bool(re.search(r"Stream #\S+.*: Audio:", text)), "fps": None, "duration": None,
            "width": None, "height": None}
    video = re.search(r"Stream #\S+.*: Video:.*?(\d{2,5})x(\d{2,5})", text)
    if video:
        info["width"], info["height"] = int(video.group(1)), int(video.group(2))
    fps = re.search(r"([\d.]+) fps", text) or re.search(r"([\d.]+) tbr", text)
    if fps:
        info["fps"] = float(fps.group(1))
    duration = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
    if duration:
        h, m, s = duration.groups()
        info["duration"] = int(h) * 3600 + int(m) * 60 + float(s)
    return info


class VideoReader:
    """Driving frames, one at a time (memory does not grow with the video's length)."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise MediaError(f"{self.path}: no such file")
        info = probe(self.path)
        if info["width"] is None:
            raise MediaError(f"{self.path}: not a video ffmpeg can read")
        self.fps = info["fps"] or 25.0
        self.has_audio = info["audio"]
        self.duration = info["duration"]
        self.size = (info["width"], info["height"])
        self.notices = []

    def __len__(self):
        """Frame count estimated from duration and fps (for progress bars only)."""
        return int(round((self.duration or 0) * self.fps))

    def __iter__(self):
        import imageio.v2 as imageio

        try:
            reader = imageio.get_reader(self.path, format="FFMPEG" if self.path.suffix.lower() != ".gif" else None)
        except Exception as e:
            raise MediaError(f"{self.path}: cannot be read as a video ({type(e).__name__})") from None
        count = 0
        try:
            while True:
                try:
                    frame = reader.get_next_data()
                except (IndexError, StopIteration):
                    break
                except Exception as e:
                    if count == 0:
                        raise MediaError(f"{self.path}: cannot decode the video ({type(e).__name__})") from None
                    break  # a damaged tail: keep what decoded, as players do
                count += 1
                yield as_rgb8(frame, self.path.name, self.notices if count == 1 else None)
        finally:
            reader.close()
        if count == 0:
            raise MediaError(f"{self.path}: the video has no frames")


class VideoWriter:
    """Write frames to ``path`` (.mp4 H.264 or .gif) through a temporary file.

    ``finish()`` muxes ``audio_from``'s audio (mp4 only) and renames into place; ``abort()``
    (or leaving a ``with`` block on an exception) removes the temporary files.
    """

    def __init__(self, path, fps, audio_from=None, overwrite=False):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            raise MediaError(f"{self.path}: the output must end in {' or '.join(VIDEO_SUFFIXES)}")
        if self.path.exists() and not overwrite:
            raise MediaError(f"{self.path} exists; pass --overwrite to replace it")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise MediaError(f"{self.path.parent}: cannot create the output folder ({e.strerror or e})") from None
        self.tmp = self.path.with_name(f".{self.path.stem}.partial-{os.getpid()}{suffix}")
        self.muxed = self.path.with_name(f".{self.path.stem}.muxed-{os.getpid()}{suffix}")
        try:
            self.tmp.touch()
        except OSError as e:
            raise MediaError(f"{self.path.parent}: cannot write the output ({e.strerror or e})") from None
        self.fps = fps
        self.audio_from = audio_from if suffix == ".mp4" else None
        self.frames = 0
        self._writer = None

    def write(self, frame):
        import imageio.v2 as imageio

        if self._writer is None:
            if self.path.suffix.lower() == ".gif":
                self._writer = imageio.get_writer(self.tmp, format="GIF", mode="I", duration=1.0 / self.fps, loop=0)
            else:
                self._writer = imageio.get_writer(self.tmp, format="FFMPEG", fps=self.fps, codec="libx264",
                                                  pixelformat="yuv420p", quality=8, macro_block_size=2,
                                                  ffmpeg_log_level="error")
        self._writer.append_data(np.asarray(frame, dtype=np.uint8))
        self.frames += 1

    def finish(self):
        if self._writer is None:
            self.abort()
            raise MediaError("no frame was produced")
        self._writer.close()
        final = self.tmp
        if self.audio_from is not None:
            command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(self.tmp),
                       "-i", str(self.audio_from), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                       "-c:a", "aac", "-shortest", str(self.muxed)]
            if subprocess.run(command, capture_output=True).returncode != 0:
                self.abort()
                raise MediaError(f"{self.audio_from}: its audio could not be copied (use --no-audio)")
            final = self.muxed
        os.replace(final, self.path)
        self._cleanup()
        return self.path

    def abort(self):
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:
                pass
        self._cleanup()

    def _cleanup(self):
        for p in (self.tmp, self.muxed):
            if p.exists():
                p.unlink()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is not None:
            self.abort()
        return False
