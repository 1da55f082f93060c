"""``FirstOrderDataset``: videos as training pairs and as whole test videos.

The original FOMM's ``FramesDataset`` + ``DatasetRepeater`` (frames_dataset.py), under
PaddleGAN's registered name and config keys (``dataset.train`` / ``dataset.test``).

**Layout.** ``dataroot/train`` and ``dataroot/test``; each entry is one video: an ``.mp4``,
``.mov`` or ``.gif`` file, or a folder of frames (``.png``/``.jpg``/``.jpeg``/``.bmp``, in name
order). Without ``train``/``test`` folders, the videos directly under ``dataroot`` are split
80/20 with a fixed seed (``random_seed``), as the original does. Hidden entries (a leading
dot, e.g. half-written files) are ignored. With ``id_sampling`` the videos are grouped by identity, the part of the name before
the first ``#`` (``id10001#clip#00001.mp4``): an epoch visits each identity once (times
``num_repeats``) and picks one of its videos at random.

**Checks.** Every video is probed once when the dataset is built. One that cannot be opened or
decoded, has fewer than 2 frames, or is not a video is reported by name on one line (through
``warn``, by default the ``ppfom.data`` logger) and left out; a video that fails later, while
reading, is reported the same way and replaced by the next one. A missing or empty dataset
folder is a :class:`~ppfom.errors.PpfomError` that names it.

**Items.** Training: ``{"source", "driving"}`` float32 (3, H, W) in [0, 1], two frames of one
video (drawn with replacement, in time order unless time-flipped, as the original), and
``"name"``; ``len`` is the number of videos (or identities) times ``num_repeats``. Test:
``{"video": float32 (3, T, H, W), "name"}``; :meth:`test_video` gives ``(name, uint8 (T, H, W,
3))``. Frames of another size are resized to ``frame_shape`` (area filter when shrinking).

**Augmentation** (training only), in the original's order, with the same parameters for both
frames of a pair: time flip (source and driving swapped, p = 0.5), horizontal flip, rotation,
random resize, random crop (edge padding), colour jitter (brightness, contrast, saturation, hue
as torchvision's, in random order). PaddleGAN's ``transforms`` list
(``PairedRandomHorizontalFlip``, ``PairedColorJitter``) and top-level ``time_flip`` are read, and
the original's ``augmentation_params`` (``flip_param``, ``rotation_param``, ``resize_param``,
``crop_param``, ``jitter_param``) too; one augmentation given both ways is an error. Unlike the
original, whose flip returns early after a time flip, the two flips are drawn independently.

**Determinism.** An item's randomness (which video of an identity, which frames, every
augmentation) is a pure function of ``(seed, epoch, idx)``: call :meth:`set_epoch` before each
epoch, before the loader's iterator starts its worker processes, and a worker computes exactly
what the main process would, so a resumed run sees the same data.

**Reading.** A pair from a frame folder reads just its two image files. An ``.mp4``/``.mov``
(OpenCV's decoder) or ``.gif`` (Pillow) video is decoded whole once and kept, resized, in an
LRU cache of decoded videos bounded by ``cache_bytes`` (default 256 MB) in each process (each
loader worker has its own); a video too large for a quarter of the cache is decoded afresh for
each pair, only up to the later of its two frames.
"""
import csv
import logging
import math
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..errors import ConfigError, PpfomError
from ..registry import DATASETS

VIDEO_SUFFIXES = (".mp4", ".mov", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
DEFAULT_CACHE_BYTES = 256 * 2 ** 20

log = logging.getLogger("ppfom.data")


class BadVideo(Exception):
    """A video that cannot be used; the message is the reason."""


def _quiet_ffmpeg():
    # OpenCV's FFmpeg prints demuxer errors ("moov atom not found") on stderr; our one-line
    # report says the same. Read when OpenCV opens its first video.
    if not os.environ.get("PPFOM_DEBUG"):
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def _to_rgb8(image):
    """A decoded OpenCV image (BGR/BGRA/gray, 8 or 16 bit) -> uint8 RGB."""
    import cv2

    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise BadVideo(f"unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)   # alpha dropped, as the original
    if image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _pil_rgb(image):
    image = np.asarray(image.convert("RGB"))
    return np.ascontiguousarray(image)


class Video:
    """One entry of the dataset folder: its name, path, kind and frame count."""

    def __init__(self, name, path, kind, count, files=None, shape=None):
        self.name, self.path, self.kind, self.count = name, path, kind, count
        self.files = files          # the frame files of a folder
        self.shape = shape          # (H, W) of the first frame when probed
        try:
            self.mtime = os.stat(path).st_mtime_ns
        except OSError:
            self.mtime = None

    def __repr__(self):
        return f"Video({self.name!r}, {self.kind}, {self.count} frames)"


def probe_video(path):
    """A :class:`Video` for a dataset entry, or :class:`BadVideo` saying why it cannot be used."""
    path = Path(path)
    if path.is_dir():
        files = sorted(f for f in os.listdir(path) if not f.startswith(".") and f.lower().endswith(IMAGE_SUFFIXES))
        if not files:
            raise BadVideo("a folder without frames (.png/.jpg)")
        return Video(path.name, path, "frames", len(files), files=[str(path / f) for f in files])
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise BadVideo(f"not a video ({suffix or 'no suffix'}; expected .mp4, .mov, .gif or a folder of frames)")
    if path.stat().st_size == 0:
        raise BadVideo("empty file")
    if suffix == ".gif":
        from PIL import Image

        try:
            with Image.open(path) as im:
                count = int(getattr(im, "n_frames", 1))
                first = _pil_rgb(im)
        except Exception as e:
            raise BadVideo(f"cannot be read as a GIF ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
        return Video(path.name, path, "gif", count, shape=first.shape[:2])
    import cv2

    _quiet_ffmpeg()
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise BadVideo("cannot be opened as a video")
        ok, first = cap.read()
        if not ok or first is None:
            raise BadVideo("no frame can be decoded")
        count = int(round(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        if count <= 0:                          # no count in the container: count by decoding
            count = 1
            while cap.grab():
                count += 1
    finally:
        cap.release()
    return Video(path.name, path, "cv2", count, shape=first.shape[:2])


def _decode(video, indices=None):
    """Decoded frames of a video as a list of uint8 RGB arrays (all, or the sorted ``indices``).

    Frames past the end of a video whose container over-counts its frames repeat the last one."""
    wanted = None if indices is None else sorted(set(int(i) for i in indices))
    if video.kind == "frames":
        import cv2

        out = {}
        for i in (range(video.count) if wanted is None else wanted):
            image = cv2.imread(video.files[i], cv2.IMREAD_UNCHANGED)
            if image is None:
                raise BadVideo(f"frame {os.path.basename(video.files[i])} cannot be read")
            out[i] = _to_rgb8(image)
    elif video.kind == "gif":
        from PIL import Image

        out = {}
        try:
            with Image.open(video.path) as im:
                last = (video.count - 1) if wanted is None else wanted[-1]
                for i in range(min(last, video.count - 1) + 1):
                    im.seek(i)
                    if wanted is None or i in wanted:
                        out[i] = _pil_rgb(im)
        except Exception as e:
            if not out:
                raise BadVideo(f"cannot decode the GIF ({type(e).__name__})") from None
    else:
        import cv2

        _quiet_ffmpeg()
        cap = cv2.VideoCapture(str(video.path))
        out = {}
        try:
            if not cap.isOpened():
                raise BadVideo("cannot be opened as a video")
            last = (video.count - 1) if wanted is None else wanted[-1]
            for i in range(last + 1):
                if wanted is None or i in wanted:
                    ok, frame = cap.read()
                    if not ok:
                        break
                    out[i] = _to_rgb8(frame)
                elif not cap.grab():
                    break
        finally:
            cap.release()
        if not out:
            raise BadVideo("no frame can be decoded")
    keys = range(video.count) if wanted is None else wanted
    result, previous = [], None
    for i in keys:
        if i in out:
            previous = out[i]
        elif previous is None:
            previous = out[min(out)]
        result.append(previous)
    return result


class FrameCache:
    """Decoded videos by key, least recently used first out, bounded by total bytes."""

    def __init__(self, max_bytes=DEFAULT_CACHE_BYTES):
        self.max_bytes = int(max_bytes)
        self.items = OrderedDict()
        self.bytes = 0

    def get(self, key):
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key, value):
        if key in self.items or value.nbytes > self.max_bytes:
            return
        self.items[key] = value
        self.bytes += value.nbytes
        while self.bytes > self.max_bytes:
            _, old = self.items.popitem(last=False)
            self.bytes -= old.nbytes


# -- augmentation -----------------------------------------------------------------------------

def _gray(x):
    return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114


def adjust_brightness(x, f):
    return np.clip(x * f, 0, 1)


def adjust_contrast(x, f):
    """Blend each image with its mean grey level (torchvision/PIL)."""
    mean = _gray(x).reshape(x.shape[0], -1).mean(axis=1).reshape(-1, 1, 1, 1)
    return np.clip(mean + f * (x - mean), 0, 1)


def adjust_saturation(x, f):
    g = _gray(x)[..., None]
    return np.clip(g + f * (x - g), 0, 1)


def adjust_hue(x, f):
    """Rotate hue by ``f`` turns (f in [-0.5, 0.5])."""
    import cv2

    out = np.empty_like(x)
    for k in range(x.shape[0]):
        hsv = cv2.cvtColor(np.ascontiguousarray(x[k]), cv2.COLOR_RGB2HSV)
        hsv[..., 0] = np.mod(hsv[..., 0] + 360.0 * f, 360.0)
        out[k] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return np.clip(out, 0, 1)


class PairAugmentation:
    """The original's AllAugmentationTransform on a clip (N, H, W, 3) float32 in [0, 1], with an
    explicit random generator (same draw for every frame of the clip)."""

    def __init__(self, time_flip=False, horizontal_flip=0.0, rotation=None, resize=None, crop=None, jitter=None):
        self.time_flip = bool(time_flip)
        self.horizontal_flip = float(horizontal_flip)
        self.rotation = rotation            # (min, max) degrees
        self.resize = resize                # (min, max) ratio
        self.crop = crop                    # (h, w)
        self.jitter = jitter                # dict brightness, contrast, saturation, hue

    def __bool__(self):
        return bool(self.time_flip or self.horizontal_flip or self.rotation or self.resize or self.crop or self.jitter)

    def __call__(self, clip, rng):
        import cv2

        if self.time_flip and rng.random() < 0.5:
            clip = clip[::-1]
        if self.horizontal_flip and rng.random() < self.horizontal_flip:
            clip = clip[:, :, ::-1]
        clip = np.ascontiguousarray(clip)
        if self.rotation:
            angle = rng.uniform(*self.rotation)
            h, w = clip.shape[1:3]
            m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
            clip = np.stack([cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
                             for f in clip])
        if self.resize:
            ratio = rng.uniform(*self.resize)
            h, w = clip.shape[1:3]
            nh, nw = max(1, int(h * ratio)), max(1, int(w * ratio))
            interp = cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR
            clip = np.stack([cv2.resize(f, (nw, nh), interpolation=interp) for f in clip])
        if self.crop:
            ch, cw = self.crop
            h, w = clip.shape[1:3]
            ph, pw = max(0, ch - h), max(0, cw - w)
            if ph or pw:
                clip = np.pad(clip, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="edge")
                h, w = clip.shape[1:3]
            y0 = int(rng.integers(0, h - ch + 1))
            x0 = int(rng.integers(0, w - cw + 1))
            clip = np.ascontiguousarray(clip[:, y0:y0 + ch, x0:x0 + cw])
        if self.jitter:
            steps = []
            j = self.jitter
            for key, fn in (("brightness", adjust_brightness), ("saturation", adjust_saturation),
                            ("hue", adjust_hue), ("contrast", adjust_contrast)):
                amount = float(j.get(key) or 0)
                if amount <= 0:
                    continue
                factor = rng.uniform(-amount, amount) if key == "hue" else rng.uniform(max(0.0, 1 - amount), 1 + amount)
                steps.append((fn, factor))
            for k in rng.permutation(len(steps)):
                fn, factor = steps[k]
                clip = fn(clip, factor)
        return np.ascontiguousarray(clip, dtype=np.float32)


def _range(value, name, symmetric=True):
    if isinstance(value, (int, float)):
        v = float(value)
        if v < 0:
            raise ConfigError(f"{name}: {value} must not be negative")
        return (-v, v) if symmetric else (v, v)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (float(value[0]), float(value[1]))
    raise ConfigError(f"{name}: a number or a [min, max] pair, not {value!r}")


def _check_keys(where, params, accepted):
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (accepted: {', '.join(sorted(accepted))})")


def _jitter_params(where, params):
    _check_keys(where, params, ("brightness", "contrast", "saturation", "hue", "keys"))
    out = {k: float(params.get(k) or 0) for k in ("brightness", "contrast", "saturation", "hue")}
    for k, v in out.items():
        if v < 0:
            raise ConfigError(f"{where}.{k}: {v} must not be negative")
    if out["hue"] > 0.5:
        raise ConfigError(f"{where}.hue: {out['hue']} must be at most 0.5")
    return out if any(out.values()) else None


def build_augmentation(time_flip=False, transforms=None, augmentation_params=None, where="dataset"):
    """A :class:`PairAugmentation` from PaddleGAN's ``transforms`` list, the top-level
    ``time_flip`` and the original's ``augmentation_params`` (either spelling, not both)."""
    hflip, jitter = None, None
    for k, t in enumerate(transforms or []):
        here = f"{where}.transforms[{k}]"
        if not isinstance(t, dict) or "name" not in t:
            raise ConfigError(f"{here}: a mapping with a 'name' key is needed")
        params = {key: v for key, v in t.items() if key != "name"}
        if t["name"] == "PairedRandomHorizontalFlip":
            _check_keys(here, params, ("prob", "keys"))
            hflip = float(params.get("prob", 0.5))
        elif t["name"] == "PairedColorJitter":
            jitter = _jitter_params(here, params)
        else:
            raise ConfigError(f"{here}: unknown transform {t['name']!r} "
                              f"(known: PairedRandomHorizontalFlip, PairedColorJitter)")
    aug = dict(augmentation_params or {})
    _check_keys(f"{where}.augmentation_params", aug,
                ("flip_param", "rotation_param", "resize_param", "crop_param", "jitter_param"))
    rotation = resize = crop = None
    tflip = bool(time_flip)
    if aug.get("flip_param"):
        fp = dict(aug["flip_param"])
        _check_keys(f"{where}.augmentation_params.flip_param", fp, ("time_flip", "horizontal_flip"))
        if "horizontal_flip" in fp:
            if hflip is not None:
                raise ConfigError(f"{where}: the horizontal flip is given twice (transforms and "
                                  f"augmentation_params.flip_param); keep one")
            hflip = 0.5 if fp["horizontal_flip"] else 0.0
        if "time_flip" in fp:
            if time_flip is not None and bool(time_flip) != bool(fp["time_flip"]):
                raise ConfigError(f"{where}: time_flip {time_flip} and augmentation_params.flip_param.time_flip "
                                  f"{fp['time_flip']} disagree")
            tflip = bool(fp["time_flip"])
    if aug.get("jitter_param"):
        if jitter is not None:
            raise ConfigError(f"{where}: colour jitter is given twice (transforms and "
                              f"augmentation_params.jitter_param); keep one")
        jitter = _jitter_params(f"{where}.augmentation_params.jitter_param", dict(aug["jitter_param"]))
    if aug.get("rotation_param"):
        rp = dict(aug["rotation_param"])
        _check_keys(f"{where}.augmentation_params.rotation_param", rp, ("degrees",))
        rotation = _range(rp.get("degrees", 0), f"{where}.augmentation_params.rotation_param.degrees")
    if aug.get("resize_param"):
        rp = dict(aug["resize_param"])
        _check_keys(f"{where}.augmentation_params.resize_param", rp, ("ratio", "interpolation"))
        resize = _range(rp.get("ratio", (0.75, 4 / 3)), f"{where}.augmentation_params.resize_param.ratio",
                        symmetric=False)
        if min(resize) <= 0:
            raise ConfigError(f"{where}.augmentation_params.resize_param.ratio: must be positive")
    if aug.get("crop_param"):
        cp = dict(aug["crop_param"])
        _check_keys(f"{where}.augmentation_params.crop_param", cp, ("size",))
        size = cp.get("size")
        size = (size, size) if isinstance(size, (int, float)) else size
        if not (isinstance(size, (list, tuple)) and len(size) == 2 and min(int(s) for s in size) > 0):
            raise ConfigError(f"{where}.augmentation_params.crop_param.size: [height, width], not {size!r}")
        crop = (int(size[0]), int(size[1]))
    if hflip is not None and not 0 <= hflip <= 1:
        raise ConfigError(f"{where}: horizontal flip probability {hflip} is not in [0, 1]")
    return PairAugmentation(tflip, hflip or 0.0, rotation, resize, crop, jitter)


# -- the dataset ----------------------------------------------------------------------------------

def _identity(name):
    return name.split("#")[0]


@DATASETS.register(name="FirstOrderDataset")
class FirstOrderDataset:
    """Videos for FOMM: training pairs or whole test videos (see the module's docstring).

    Keys are those of ``dataset.train`` / ``dataset.test`` in PaddleGAN's configs; ``batch_size``,
    ``num_workers``, ``use_shared_memory``, ``create_frames_folder`` and ``process_time`` belong
    to the loader or to PaddleGAN's preprocessing and are accepted and ignored (this dataset never
    rewrites its folder). ``random_seed`` (the original's key) seeds the 80/20 split of a folder
    without train/test. Usable as a map-style dataset of ``paddle.io.DataLoader``.
    """

    def __init__(self, dataroot=None, phase="train", frame_shape=(256, 256, 3), id_sampling=False, pairs_list=None,
                 time_flip=None, num_repeats=1, transforms=None, augmentation_params=None, seed=0,
                 batch_size=None, num_workers=None, use_shared_memory=None, create_frames_folder=None,
                 process_time=None, random_seed=0, cache_bytes=DEFAULT_CACHE_BYTES, warn=None):
        if phase not in ("train", "test"):
            raise ConfigError(f"dataset phase {phase!r}: train or test")
        where = f"dataset.{phase}"
        if not dataroot:
            raise ConfigError(f"{where}.dataroot is not set")
        self.phase = phase
        self.is_train = phase == "train"
        self.frame_shape = None if frame_shape is None else self._frame_shape(frame_shape, where)
        self.id_sampling = bool(id_sampling) and self.is_train
        self.pairs_list = None if pairs_list in (None, "None", "none", "") else str(pairs_list)
        try:
            self.num_repeats = int(num_repeats) if self.is_train else 1
        except (TypeError, ValueError):
            raise ConfigError(f"{where}.num_repeats: a whole number, not {num_repeats!r}") from None
        if self.num_repeats < 1:
            raise ConfigError(f"{where}.num_repeats: at least 1, not {num_repeats}")
        if int(seed) < 0:
            raise ConfigError(f"seed {seed}: must not be negative")
        self.seed = int(seed)
        self.random_seed = int(random_seed)
        self.epoch = 0
        self.augment = (build_augmentation(time_flip, transforms, augmentation_params, where)
                        if self.is_train else PairAugmentation())
        self.cache = FrameCache(cache_bytes)
        self._warn = warn or log.warning
        self._bad = set()
        self.root = Path(dataroot)
        self.videos = self._scan()
        if self.id_sampling:
            groups = {}
            for k, v in enumerate(self.videos):
                groups.setdefault(_identity(v.name), []).append(k)
            self.identities = sorted(groups)
            self.items = [groups[i] for i in self.identities]
        else:
            self.identities = None
            self.items = [[k] for k in range(len(self.videos))]

    @staticmethod
    def _frame_shape(shape, where):
        try:
            shape = tuple(int(s) for s in shape)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}.frame_shape: [height, width, 3], not {shape!r}") from None
        if len(shape) not in (2, 3) or min(shape[:2]) < 1 or (len(shape) == 3 and shape[2] != 3):
            raise ConfigError(f"{where}.frame_shape: [height, width, 3], not {list(shape)}")
        return shape[:2]

    # -- finding videos -------------------------------------------------------------------
    def _entries(self):
        root = self.root
        if not root.is_dir():
            raise PpfomError(f"{root}: dataset folder not found")
        if (root / "train").is_dir() or (root / "test").is_dir():
            folder = root / self.phase
            if not folder.is_dir():
                raise PpfomError(f"{folder}: dataset folder not found")
            return folder, sorted(e for e in os.listdir(folder) if not e.startswith("."))
        # No split folders: the original's random 80/20 split (fixed seed) of the root's entries.
        entries = sorted(e for e in os.listdir(root) if not e.startswith("."))
        order = np.random.default_rng(self.random_seed).permutation(len(entries))
        n_test = int(math.ceil(0.2 * len(entries))) if len(entries) > 1 else 0
        test = set(order[:n_test].tolist())
        chosen = [e for k, e in enumerate(entries) if (k in test) != self.is_train]
        return root, chosen

    def _scan(self):
        folder, entries = self._entries()
        self.folder = folder
        videos, skipped = [], 0
        for entry in entries:
            path = folder / entry
            try:
                video = probe_video(path)
                if video.count < 2:
                    raise BadVideo(f"{video.count} frame{'s' if video.count != 1 else ''}; a video needs at least 2")
            except BadVideo as e:
                self._warn(f"{path}: skipped ({e})")
                skipped += 1
                continue
            except OSError as e:
                self._warn(f"{path}: skipped (cannot be read: {e.strerror or e})")
                skipped += 1
                continue
            videos.append(video)
        if not videos:
            what = f"no usable videos ({skipped} skipped)" if skipped else "no videos"
            raise PpfomError(f"{folder}: {what}; expected .mp4/.mov/.gif files or folders of frames")
        return videos

    # -- the sampler protocol ---------------------------------------------------------------
    def set_epoch(self, epoch):
        """Items of this epoch (their frames and augmentation) depend on it."""
        self.epoch = int(epoch)

    def __len__(self):
        return len(self.items) * self.num_repeats

    def names(self):
        return [v.name for v in self.videos]

    # -- reading -------------------------------------------------------------------------------
    def _fit(self, frame):
        if self.frame_shape is None or frame.shape[:2] == self.frame_shape:
            return frame
        import cv2

        h, w = self.frame_shape
        shrink = h * w < frame.shape[0] * frame.shape[1]
        return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)

    def _frames(self, video, indices=None):
        """uint8 (N, H, W, 3) frames of a video: the given indices, or all of them."""
        if video.kind == "frames":
            frames = _decode(video, indices)
            if indices is not None:
                lookup = dict(zip(sorted(set(int(i) for i in indices)), frames))
                frames = [lookup[int(i)] for i in indices]
            return np.stack([self._fit(f) for f in frames])
        key = (str(video.path), video.count, video.mtime)
        clip = self.cache.get(key)
        if clip is None:
            h, w = self.frame_shape or video.shape or (0, 0)
            if video.count * h * w * 3 <= self.cache.max_bytes // 4:
                clip = np.stack([self._fit(f) for f in _decode(video)])
                self.cache.put(key, clip)
            elif indices is not None:
                frames = _decode(video, indices)
                lookup = dict(zip(sorted(set(int(i) for i in indices)), frames))
                return np.stack([self._fit(lookup[int(i)]) for i in indices])
            else:
                clip = np.stack([self._fit(f) for f in _decode(video)])
        return clip if indices is None else clip[np.asarray(indices, dtype=np.int64)]

    def _report(self, video, error):
        if video.name not in self._bad:
            self._bad.add(video.name)
            self._warn(f"{video.path}: skipped ({error})")

    def test_video(self, index):
        """``(name, uint8 (T, H, W, 3))``: a whole video, read now."""
        video = self.videos[index]
        try:
            return video.name, self._frames(video)
        except BadVideo as e:
            raise PpfomError(f"{video.path}: cannot be read ({e})") from None

    def __getitem__(self, idx):
        idx = int(idx)
        if not 0 <= idx < len(self):
            raise IndexError(f"index {idx} out of range for {len(self)} items")
        if not self.is_train:
            name, frames = self.test_video(idx)
            return {"video": np.ascontiguousarray(frames.transpose(3, 0, 1, 2), dtype=np.float32) / 255.0,
                    "name": name}
        rng = np.random.default_rng([self.seed, self.epoch, idx])
        first = idx % len(self.items)
        for attempt in range(len(self.items)):
            item = self.items[(first + attempt) % len(self.items)]
            video = self.videos[item[int(rng.integers(len(item)))] if len(item) > 1 else item[0]]
            pair = np.sort(rng.integers(0, video.count, 2))     # with replacement, in time order
            try:                                                # (always tried: items stay pure)
                frames = self._frames(video, pair)
                break
            except BadVideo as e:
                self._report(video, e)
        else:
            raise PpfomError(f"{self.folder}: no video could be read")
        clip = frames.astype(np.float32) / 255.0
        if self.augment:
            clip = self.augment(clip, rng)
        return {"source": np.ascontiguousarray(clip[0].transpose(2, 0, 1)),
                "driving": np.ascontiguousarray(clip[1].transpose(2, 0, 1)),
                "name": video.name}

    # -- evaluation pairs ---------------------------------------------------------------------
    def animation_pairs(self, number_of_pairs, seed=0):
        """(driving index, source index) pairs for the animation benchmark, as the original's
        PairedDataset: the first ``number_of_pairs`` rows of ``pairs_list`` (a CSV with
        ``source`` and ``driving`` columns) whose videos are here, or random distinct pairs."""
        names = {v.name: k for k, v in enumerate(self.videos)}
        if self.pairs_list:
            path = Path(self.pairs_list)
            if not path.is_file():
                raise PpfomError(f"{path}: pairs list not found")
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            if rows and not {"source", "driving"} <= set(rows[0]):
                raise PpfomError(f"{path}: a CSV with 'source' and 'driving' columns is needed")
            pairs = [(names[r["driving"]], names[r["source"]]) for r in rows
                     if r["source"] in names and r["driving"] in names]
            return pairs[:int(number_of_pairs)]
        n = min(int(number_of_pairs), len(self.videos))
        grid = np.mgrid[:n, :n].reshape(2, -1).T
        count = min(len(grid), int(number_of_pairs))
        chosen = np.random.default_rng(seed).choice(len(grid), count, replace=False)
        return [tuple(int(x) for x in grid[k]) for k in chosen]
