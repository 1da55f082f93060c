"""Animate the faces of a photo with a driving video: the stages, connected as a stream.

    read photo -> detect faces -> crop each face -> (per batch of driving frames:) read frames
    -> keypoints -> smooth -> normalize -> generate -> enhance -> paste back -> write

Everything that can be checked is checked before the heavy work starts (inputs, output
path, weights, enhancer), so a bad input fails in a second and leaves nothing behind.
Memory does not grow with the driving video's length: frames flow through in batches; only
keypoints (a few hundred bytes a frame) are kept, and only with --find_best_frame.
"""
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np

from ..config import frame_size
from ..errors import PpfomError
from ..infer import batched
from ..kp_norm import movement_scale, normalize_kp
from .media import VIDEO_SUFFIXES, MediaError, VideoReader, VideoWriter, read_image
from .regions import Paster, center_square, cut, face_regions
from .smooth import KeypointSmoother

# The published model for each setting: (config, weight-store name).
DEFAULT_MODELS = {
    (256, False): ("firstorder_vox_256", "vox-cpk"),
    (512, False): ("firstorder_vox_512", "vox-cpk-512"),
    (256, True): ("firstorder_vox_mobile_256", "vox-mobile"),
}
# The model ppfom trains and ships (MODEL_CARD.md): what the no-argument demo runs, offline.
SHIPPED_MODEL = ("firstorder_synthetic_64", "ppfom-synthetic-64")
# Its compressed student (mobile blocks, distilled and pruned): the built-in sample with --mobile_net.
SHIPPED_MOBILE_MODEL = ("firstorder_synthetic_64_mobile_pruned", "ppfom-synthetic-64-mobile")
IMAGE_SIZES = (64, 128, 256, 512)


@dataclass
class AnimateOptions:
    source_image: str
    driving_video: str
    output: str = "output"  # a folder (then + filename) or a file ending in .mp4 / .gif
    filename: str = "result.mp4"
    config: Optional[str] = None
    weight_path: Optional[str] = None
    relative: bool = False
    adapt_scale: bool = False
    ratio: float = 0.4
    image_size: Optional[int] = None  # None: the model's own frame size
    multi_person: bool = False
    face_enhancement: bool = False
    mobile_net: bool = False
    batch_size: int = 1
    find_best_frame: bool = False
    best_frame: Optional[int] = None
    device: str = "cpu"
    audio: bool = True
    smooth: bool = False
    detector: str = "auto"
    engine: str = "auto"
    precision: str = "fp32"
    border_fix: Optional[bool] = None  # None: on for PaddleGAN weights, as PaddleGAN's demo
    overwrite: bool = False
    overrides: List[str] = field(default_factory=list)


def output_path(opts):
    out = Path(opts.output)
    if out.suffix.lower() in VIDEO_SUFFIXES:
        return out
    name = Path(opts.filename)
    if name.suffix.lower() not in VIDEO_SUFFIXES:
        raise MediaError(f"--filename {opts.filename}: must end in .mp4 or .gif")
    return out / name


def choose_model(opts):
    """(config, weights) for the options: the user's, else the published model for the size."""
    if opts.image_size is not None and opts.image_size not in IMAGE_SIZES:
        raise PpfomError(f"--image_size {opts.image_size}: choose one of {', '.join(map(str, IMAGE_SIZES))}")
    if opts.config and opts.weight_path:
        return opts.config, opts.weight_path
    default = DEFAULT_MODELS.get((opts.image_size or 256, opts.mobile_net))
    if default is None:
        raise PpfomError("the published models run at --image_size 256 (vox, mobile) or 512 (vox)")
    return opts.config or default[0], opts.weight_path or default[1]


def _say(message):
    print(message, file=sys.stderr, flush=True)


def _to_input(frames_uint8):
    """(N, S, S, 3) uint8 -> (N, 3, S, S) float32 in [0, 1]."""
    return np.ascontiguousarray(np.asarray(frames_uint8, np.float32).transpose(0, 3, 1, 2) / 255.0)


def _to_uint8(frames):
    return (np.clip(np.asarray(frames).transpose(0, 2, 3, 1), 0, 1) * 255).round().astype(np.uint8)


def _normalized_shape(value):
    """Keypoints centred and scaled by their hull, to compare poses (as the original's best frame)."""
    from ..kp_norm import hull_area

    centred = value - value.mean(axis=0)
    return centred / np.sqrt(max(hull_area(value), 1e-12))


def best_frame_index(kp_source_value, driving_values):
    """The driving frame whose keypoints best match the source's pose."""
    source = _normalized_shape(kp_source_value[0])
    distances = [np.sum((_normalized_shape(v) - source) ** 2) for v in driving_values]
    return int(np.argmin(distances))


class DrivingKeypoints:
    """Driving frames -> batches of keypoints (smoothed if asked), streamed."""

    def __init__(self, reader, engine, size, batch_size, smooth):
        self.reader, self.engine, self.size, self.batch_size = reader, engine, size, batch_size
        self.smoother = KeypointSmoother(reader.fps) if smooth else None

    def __iter__(self):
        frames = (center_square(frame, self.size) for frame in self.reader)
        for batch in batched(frames, self.batch_size):
            kp = self.engine.keypoints(_to_input(batch))
            yield self.smoother(kp) if self.smoother else kp


def animate_photo(opts, progress=True, say=_say):
    """Run the whole pipeline; returns a summary dict (output, frames, fps, faces, seconds)."""
    started = time.perf_counter()
    if opts.batch_size < 1:
        raise PpfomError("--batch_size must be at least 1")
    if not 0 <= opts.ratio <= 2:
        raise PpfomError(f"--ratio {opts.ratio}: expected a value between 0 and 2")
    out_path = output_path(opts)
    if out_path.exists() and not opts.overwrite:
        raise MediaError(f"{out_path} exists; pass --overwrite to replace it")

    notices = []
    photo = read_image(opts.source_image, notices)
    reader = VideoReader(opts.driving_video)
    config, weights = choose_model(opts)
    if opts.face_enhancement:
        from ..enhance.enhancer import check_enhancer_available

        check_enhancer_available()  # the weights message now, before any work

    from ..api import load_fomm

    fomm = load_fomm(config, weights=weights, overrides=opts.overrides)
    border_fix = opts.border_fix if opts.border_fix is not None else fomm.weights_origin == "paddle"
    if border_fix != fomm.numerics.border_fix:
        fomm.set_border_fix(border_fix)

    from ..faces.detector import build_face_detector

    detector = build_face_detector(opts.detector, notice=say)
    boxes = detector.detect(photo)
    if len(boxes) == 0:
        raise PpfomError(f"{opts.source_image}: no face found (try --detector s3fd, or a larger, frontal face)")
    if not opts.multi_person:
        boxes = boxes[:1]  # the detector lists the largest face first
    regions = face_regions(boxes, opts.ratio)
    for message in notices:
        say(f"note: {message}")

    size = opts.image_size or frame_size(fomm.config)
    engine = _engine(fomm, opts, size, say)
    crops = np.stack([cut(photo, region, size) for region in regions])
    sources = _to_input(crops)
    kp_sources = [engine.keypoints(sources[i:i + 1]) for i in range(len(regions))]
    caches = [engine.encode_source(sources[i:i + 1]) for i in range(len(regions))]
    enhancer = None
    if opts.face_enhancement:
        from ..enhance.enhancer import GPENEnhancer

        enhancer = GPENEnhancer()
    paster = Paster(photo, regions)

    keypoints = DrivingKeypoints(reader, engine, size, opts.batch_size, opts.smooth)
    if opts.find_best_frame or opts.best_frame is not None:
        # Two passes over keypoints only: find the reference frame(s), then animate.
        batches = list(keypoints)
        every = {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
        count = len(every["value"])
        if opts.best_frame is not None:
            if not 0 <= opts.best_frame < count:
                raise PpfomError(f"--best_frame {opts.best_frame}: the driving video has {count} frames")
            references = [opts.best_frame] * len(regions)
        else:
            references = [best_frame_index(kp["value"], every["value"]) for kp in kp_sources]
        initials = [{k: v[r:r + 1] for k, v in every.items()} for r in references]
        stream = batches
    else:
        stream, initials, references = keypoints, None, [0] * len(regions)

    writer = VideoWriter(out_path, reader.fps, audio_from=reader.path if opts.audio and reader.has_audio else None,
                         overwrite=opts.overwrite)
    from tqdm import tqdm

    bar = tqdm(total=len(reader) or None, unit="frame", desc="animate", disable=not progress, leave=False)
    scales = None
    with writer:
        for kp_driving in stream:
            if initials is None:
                initials = [{k: v[:1] for k, v in kp_driving.items()} for _ in regions]
            if scales is None:
                scales = [movement_scale(kp["value"], init["value"]) if opts.adapt_scale else 1.0
                          for kp, init in zip(kp_sources, initials)]
            faces = []
            for kp_source, cache, initial, scale in zip(kp_sources, caches, initials, scales):
                kp_norm = normalize_kp(kp_source, kp_driving, initial, use_relative_movement=opts.relative,
                                       use_relative_jacobian=opts.relative, scale=scale)
                frames = _to_uint8(engine.generate(cache, kp_source, kp_norm))
                faces.append(enhancer.enhance(frames) if enhancer is not None else frames)
            for t in range(len(faces[0])):
                writer.write(paster.paste([face[t] for face in faces]))
                bar.update(1)
        bar.close()
        writer.finish()
    for message in reader.notices:
        say(f"note: {message}")
    return {
        "output": str(out_path),
        "frames": writer.frames,
        "fps": reader.fps,
        "faces": len(regions),
        "reference_frames": references,
        "engine": engine.backend,
        "audio": writer.audio_from is not None,
        "seconds": time.perf_counter() - started,
    }


def _engine(fomm, opts, size, say):
    from ..export import paddle_can_export
    from ..infer import create_engine

    backend = opts.engine
    if backend == "auto":
        ok, reason = paddle_can_export()
        backend = "inference" if ok else "dygraph"
        if not ok:
            say("note: running in dygraph (slower): " + reason.split(";")[0])
    device = "gpu" if opts.device == "gpu" else "cpu"
    return create_engine(fomm, backend, size=size, precision=opts.precision, device=device, progress=False)
