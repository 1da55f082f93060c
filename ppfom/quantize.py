"""int8 post-training quantization of an export folder, kept only where it pays.

``quantize_export(model_dir, calibration)`` takes a folder written by
:func:`ppfom.export.export_models` and

1. calibrates the per-frame models (keypoint detector, frame decoder, whole generator; the
   source encoder runs once per source, so int8 would not pay there) with Paddle's
   ``PostTrainingQuantization`` on real frames: the keypoint detector on the frames, the frame
   decoder and the generator on what the fp32 models make of them (source features and
   keypoints), so every model sees the activations it meets in use. Convolutions are quantized
   (weights per channel, stored as int8), except the output heads (see :func:`head_conv_inputs`);
2. measures, on held-out frames, the reconstruction through the int8 engine (Paddle Inference on
   CPU, oneDNN int8 convolutions) against the fp32 one: ``mean|int8 - fp32| / mean|fp32 - frame|``
   (a bound on how much the L1 to the real frame can change), and the keypoint differences;
3. keeps the largest set of int8 models (all; without the whole generator; without the frame
   decoder; the keypoint detector alone) whose change is within ``max_change`` (5 %) on every
   path: it writes ``<model>.int8.pdmodel/.pdiparams``, Paddle Lite ``<model>.int8.<target>.nb``
   files, and an ``int8`` record with the figures into ``export_info.json``. If no set passes it
   writes nothing and says why.

Everything is built in a hidden temporary folder; the files are renamed into place and
``export_info.json`` is replaced last, so the folder never names a file that is not there.

Found with paddlepaddle 2.6.2 and paddlelite 2.13rc0 on a 2-core x86 machine:
- PostTrainingQuantization accepts only a ``paddle.io.DataLoader`` (2.6 dropped generators);
  ``_Feeds`` is a list of feed dicts posing as one.
- On the shipped synthetic model, ``avg`` calibration changed the reconstruction least (then
  abs_max, hist; mse far worse); KL spends about a minute per model in Python on 2 cores.
- Quantizing the heads (keypoint heatmaps, motion masks, occlusion, final image) cost a third of
  the error; the source encoder alone cost ~5 %.
- oneDNN's int8 pass refuses a tensor calibrated all zeros (scale 0) and mistakes an fp32
  convolution with whole-number weights (a zero-initialized head) for an int8 one; both are
  mended in the saved program (:func:`_fix_for_onednn`). oneDNN is
  also told to run only convolutions in int8 (``ppfom.infer.INT8_ONEDNN_OPS``): with every op
  allowed, the frame decoder fails the same way.
- Lite's opt accepts the int8 programs for ARM and x86 and picks int8 conv kernels for both.
  The x86 Lite runtime crashed (SIGSEGV) on the int8 keypoint detector and generator, and ran
  the int8 frame decoder no faster than fp32 and further from fp32 than Paddle Inference's int8;
  so each x86 ``.nb`` is run once in a child process and kept only if it runs and agrees (see
  :func:`_lite_int8`). ARM files cannot be run here.
"""
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .errors import PpfomError
from .export import MODELS, ExportError, _run_opt, nb_precisions, paddle_can_export, read_export_info

ALGOS = ("abs_max", "avg", "KL", "hist", "mse", "emd", "min_max")
DEFAULT_ALGO = "avg"
MAX_CHANGE = 0.05
QUANTIZED_OPS = ("conv2d", "depthwise_conv2d")  # where the time goes; matmuls (keypoints, jacobians) stay fp32
# The models that run for every frame. The source encoder runs once per source: int8 would not pay
# there (on the shipped synthetic model it alone changed the reconstruction by ~5 %).
PER_FRAME_MODELS = ("kp_detector", "generator", "frame_decoder")
MAX_HELD_OUT = 32  # held-out reconstruction pairs measured
LITE_INT8_TARGETS = ("arm", "x86")


class QuantizeError(PpfomError):
    """int8 quantization cannot run as asked."""


# ---------------------------------------------------------------------------------------------
# Calibration frames


def _to_input(frames, size):
    """uint8 (T,H,W,3) or float (T,3,S,S) -> float32 (T,3,size,size) in [0,1]."""
    from .pipeline.regions import center_square

    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4:
        raise QuantizeError(f"calibration frames: expected (N,H,W,3) or (N,3,H,W), got {frames.shape}")
    if frames.shape[1] == 3 and frames.shape[3] != 3:  # (N,3,H,W) floats in [0,1]
        if frames.shape[2:] != (size, size):
            raise QuantizeError(f"calibration frames: (N,3,H,W) frames must be {size}x{size}, got {frames.shape}")
        return np.ascontiguousarray(frames, np.float32)
    if frames.dtype != np.uint8:
        frames = np.clip(np.asarray(frames, np.float32) * (255.0 if frames.max() <= 1.0 else 1.0), 0, 255)
        frames = frames.round().astype(np.uint8)
    out = np.stack([center_square(np.ascontiguousarray(f[..., :3]), size) for f in frames])
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2), np.float32) / 255.0


def _spread(count, wanted):
    """``wanted`` indices spread evenly over ``range(count)``."""
    if count <= wanted:
        return list(range(count))
    return sorted(set(np.linspace(0, count - 1, wanted).round().astype(int).tolist()))


def _read_clip(path, size, max_frames):
    from .data.frames_dataset import BadVideo, _decode, probe_video

    try:
        video = probe_video(path)
        frames = _decode(video, _spread(video.count, max_frames))
    except BadVideo as e:
        raise QuantizeError(f"calibration: {path}: {e}") from None
    return _to_input(np.stack(frames), size)


def builtin_calibration(size, max_frames=40):
    """ppfom's built-in sample frames: the astronaut driving video (a real face) and the
    synthetic driving head, rendered offline (no file is read or written)."""
    from .data import sample
    from .data.synthetic import render_video

    real = list(sample.driving_frames())
    real = np.stack([real[i] for i in _spread(len(real), max_frames)])
    identity, motion = sample.SYNTHETIC_DRIVER
    synthetic = render_video(identity, motion, size=min(int(size), 128), frames=max_frames)
    return [_to_input(real, size), _to_input(synthetic, size)]


def load_calibration(source, size, max_frames=40, max_clips=16):
    """Calibration clips as a list of float32 (T,3,size,size) arrays.

    source: None (the built-in sample frames); a video file (.mp4/.mov/.gif); a folder of frames
    (one clip); a folder of videos or frame folders (a dataset, with or without train/test);
    an array of frames; or a list of such arrays (one per clip).
    """
    from .data.frames_dataset import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    if source is None:
        return builtin_calibration(size, max_frames)
    if isinstance(source, np.ndarray):
        return [_to_input(source, size)]
    if isinstance(source, (list, tuple)):
        return [_to_input(clip, size) for clip in source]
    path = Path(source)
    if not path.exists():
        raise QuantizeError(f"calibration: {path}: no such file or folder")
    if path.is_file():
        return [_read_clip(path, size, max_frames)]
    entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    if any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in entries):
        return [_read_clip(path, size, max_frames)]
    splits = [path / s for s in ("test", "train") if (path / s).is_dir()]
    if splits:
        entries = [p for s in splits for p in sorted(s.iterdir()) if not p.name.startswith(".")]
    entries = [p for p in entries if p.is_dir() or p.suffix.lower() in VIDEO_SUFFIXES]
    if not entries:
        raise QuantizeError(f"calibration: {path}: no frames, videos or frame folders in it")
    chosen = [entries[i] for i in _spread(len(entries), max_clips)]
    per_clip = max(4, max_frames // len(chosen) * 2)
    return [_read_clip(p, size, per_clip) for p in chosen]


def split_clips(clips):
    """(calibration clips, held-out clips). Four clips or more: every fourth clip is held out
    whole; fewer: the last third of each clip's frames is held out (its first frame stays the
    source of both parts)."""
    clips = [c for c in clips if len(c) >= 2]
    if not clips:
        raise QuantizeError("calibration: need at least one clip of 2 frames or more")
    if len(clips) >= 4:
        return [c for i, c in enumerate(clips) if i % 4 != 3], [c for i, c in enumerate(clips) if i % 4 == 3]
    calibration, held = [], []
    for clip in clips:
        cut = max(1, int(round(len(clip) * 2 / 3)))
        cut = min(cut, len(clip) - 1)
        calibration.append(clip[:cut])
        held.append(np.concatenate([clip[:1], clip[cut:]]))  # frame 0 is the source
    return calibration, held


# ---------------------------------------------------------------------------------------------
# Paddle's post-training quantization


def _feeds_loader(feeds):
    import paddle

    class _Feeds(paddle.io.DataLoader):
        """PostTrainingQuantization (paddle 2.6) accepts only a paddle.io.DataLoader and calls it
        for an iterator over feed dicts; a list of ready feed dicts is all it needs."""

        def __init__(self, items):  # noqa: the DataLoader machinery is not wanted
            self.items = items

        def __call__(self):
            return iter(self.items)

        def __iter__(self):
            return iter(self.items)

        def __len__(self):
            return len(self.items)

    return _Feeds(feeds)


@contextlib.contextmanager
def _quiet(enabled):
    """Keep PTQ's progress bars and log lines off the terminal."""
    if not enabled:
        yield
        return
    import logging

    # PTQ's own log lines, and static io's warning that loading by file names is "the old way"
    # (the path-prefix way cannot be reached through PTQ's arguments in 2.6)
    loggers = [logging.getLogger(n) for n in ("paddle.static.quantization.post_training_quantization",
                                              "paddle.static.io")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _ptq(model_dir, model, feeds, out_dir, algo, ops, quiet, skip_tensors=None):
    """Quantize ``model_dir/model`` on ``feeds``; writes ``out_dir/<model>.int8.pdmodel/.pdiparams``."""
    import paddle
    from paddle.static.quantization import PostTrainingQuantization

    paddle.enable_static()
    scope = paddle.static.Scope()
    try:
        with paddle.static.scope_guard(scope), _quiet(quiet):
            exe = paddle.static.Executor(paddle.CPUPlace())
            ptq = PostTrainingQuantization(
                executor=exe, scope=scope, model_dir=str(model_dir), model_filename=f"{model}.pdmodel",
                params_filename=f"{model}.pdiparams", data_loader=_feeds_loader(feeds),
                batch_size=1, batch_nums=len(feeds), algo=algo, quantizable_op_type=list(ops),
                weight_quantize_type="channel_wise_abs_max", onnx_format=True, skip_tensor_list=skip_tensors or None)
            ptq.quantize()
            ptq.save_quantized_model(str(out_dir), model_filename=f"{model}.int8")
        _fix_for_onednn(Path(out_dir) / f"{model}.int8")
    finally:
        paddle.disable_static()


def head_conv_inputs(prefix):
    """Input tensors of the convolutions that make a network's outputs (those whose result,
    after its bias, goes into softmax or sigmoid: the keypoint heatmaps, the motion masks, the
    occlusion map, the final image). 8 bits there move keypoints and warps visibly."""
    import paddle

    paddle.enable_static()
    try:
        with paddle.static.scope_guard(paddle.static.Scope()):
            program, _, _ = paddle.static.load_inference_model(str(prefix), paddle.static.Executor(paddle.CPUPlace()))
    finally:
        paddle.disable_static()
    ops = list(program.global_block().ops)
    consumers = {}
    for op in ops:
        for name in op.input_arg_names:
            consumers.setdefault(name, []).append(op)
    heads = []
    for op in ops:
        if op.type not in ("conv2d", "depthwise_conv2d"):
            continue
        frontier, seen = list(op.output_arg_names), 0
        while frontier and seen < 5:  # conv -> bias add -> (reshape / scale) -> softmax | sigmoid
            seen += 1
            nxt = [c for name in frontier for c in consumers.get(name, [])]
            if any(c.type in ("softmax", "sigmoid") for c in nxt):
                heads.append(op.input("Input")[0])
                break
            frontier = [o for c in nxt if c.type in ("elementwise_add", "reshape2", "scale", "transpose2")
                        for o in c.output_arg_names]
    return sorted(set(heads))


def _fix_for_onednn(prefix):
    """Two edits of a quantized program that oneDNN's int8 passes (paddle 2.6.2) otherwise reject.

    - A tensor that was all zeros on every calibration frame (FOMM makes a few, e.g. ``x * 0``)
      gets scale 0: "Quantize scale(0.000000) should not be equal 0". Its quantize/dequantize
      pair is taken out; the tensor stays fp32.
    - A convolution left in fp32 whose weights are all whole numbers (a zero-initialized head, as
      the jacobian head of untrained weights) is taken for an int8 one: "Could not find threshold
      information for [...]". One weight is moved to the next float (1e-30 for a zero), which
      changes no output.
    Returns the number of edits."""
    import paddle

    scope = paddle.static.Scope()
    with paddle.static.scope_guard(scope):
        exe = paddle.static.Executor(paddle.CPUPlace())
        program, feed_names, fetch_vars = paddle.static.load_inference_model(str(prefix), exe)
        block = program.global_block()
        ops = list(block.ops)
        drop, renamed, nudged = set(), {}, 0
        for i, op in enumerate(ops):
            if op.type in ("conv2d", "depthwise_conv2d"):
                var = scope.find_var(op.input("Filter")[0])
                weights = np.array(var.get_tensor()) if var is not None else None
                if weights is not None and weights.dtype == np.float32 and np.all(weights == np.round(weights)):
                    flat = weights.reshape(-1)
                    zeros = np.flatnonzero(flat == 0)
                    if len(zeros):
                        flat[zeros[0]] = 1e-30
                    else:
                        flat[0] = np.nextafter(flat[0], np.float32(np.inf))
                    var.get_tensor().set(weights, paddle.CPUPlace())
                    nudged += 1
            if op.type != "quantize_linear":
                continue
            scale = scope.find_var(op.input("Scale")[0])
            if scale is None or not np.any(np.array(scale.get_tensor()) == 0):
                continue
            source, quantized = op.input("X")[0], op.output("Y")[0]
            drop.add(i)
            for j, other in enumerate(ops):
                if other.type == "dequantize_linear" and other.input("X")[0] == quantized:
                    dequantized = other.output("Y")[0]
                    for consumer in ops:
                        if dequantized in consumer.input_arg_names:
                            consumer._rename_input(dequantized, source)
                    renamed[dequantized] = source
                    drop.add(j)
        if not drop and not nudged:
            return 0
        for index in sorted(drop, reverse=True):
            block._remove_op(index)
        fetch_vars = [block.var(renamed.get(v.name, v.name)) for v in fetch_vars]
        paddle.static.save_inference_model(str(prefix), [block.var(n) for n in feed_names], fetch_vars, exe,
                                           program=program)
        return len(drop) // 2 + nudged


def program_op_types(prefix):
    """{op type: count} of a saved inference program."""
    import paddle

    paddle.enable_static()
    try:
        with paddle.static.scope_guard(paddle.static.Scope()):
            program, _, _ = paddle.static.load_inference_model(str(prefix), paddle.static.Executor(paddle.CPUPlace()))
        counts = {}
        for op in program.global_block().ops:
            counts[op.type] = counts.get(op.type, 0) + 1
        return counts
    finally:
        paddle.disable_static()


# ---------------------------------------------------------------------------------------------
# Measuring


def _pairs(clip):
    """Reconstruction pairs of a clip: its first frame as the source for every later frame."""
    return [(clip[0:1], clip[j:j + 1]) for j in range(1, len(clip))]


def _reconstruct(engine, pairs, cached, with_generator):
    """Keypoints and predictions for reconstruction pairs: through the cached path (source
    encoder + frame decoder) where exported, and through the whole generator."""
    out = {"kp": [], "prediction": [], "generator": []}
    for source, driving in pairs:
        kp_source, kp_driving = engine.keypoints(source), engine.keypoints(driving)
        out["kp"].append((kp_driving, kp_source))
        if cached:
            out["prediction"].append(engine.generate(engine.encode_source(source), kp_source, kp_driving))
        if with_generator:
            out["generator"].append(engine.generate_uncached(source, kp_source, kp_driving))
    if not cached:
        out["prediction"], out["generator"] = out["generator"], []
    return out


def _compare(fp32, int8, drivings):
    truth = np.concatenate(drivings)
    a, b = np.concatenate(fp32["prediction"]), np.concatenate(int8["prediction"])
    l1_fp32, l1_int8 = float(np.abs(a - truth).mean()), float(np.abs(b - truth).mean())
    figures = {
        "frames": int(len(truth)),
        "l1_fp32": l1_fp32,
        "l1_int8": l1_int8,
        "diff": float(np.abs(b - a).mean()),
        "change": float(np.abs(b - a).mean()) / max(l1_fp32, 1e-12),
        "l1_relative_change": (l1_int8 - l1_fp32) / max(l1_fp32, 1e-12),
    }
    if fp32["generator"] and int8["generator"]:
        g32, g8 = np.concatenate(fp32["generator"]), np.concatenate(int8["generator"])
        figures["generator_change"] = float(np.abs(g8 - g32).mean()) / max(float(np.abs(g32 - truth).mean()), 1e-12)
    for key in ("value", "jacobian"):
        if key in fp32["kp"][0][0]:
            x = np.concatenate([k[key] for pair in fp32["kp"] for k in pair])
            y = np.concatenate([k[key] for pair in int8["kp"] for k in pair])
            figures[f"kp_{key}_mean_abs_diff"] = float(np.abs(y - x).mean())
            figures[f"kp_{key}_max_abs_diff"] = float(np.abs(y - x).max())
    return figures


def _time_per_frame(engine, source, driving, runs, cached, with_generator):
    """Median seconds per frame: keypoints + frame decoder (what animate runs per frame), and
    keypoints + the whole generator."""
    kp_source = engine.keypoints(source)

    def median(fn):
        fn()  # warm-up (oneDNN builds its kernels on the first run)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    out = {}
    if cached:
        cache = engine.encode_source(source)
        out["frame"] = median(lambda: engine.generate(cache, kp_source, engine.keypoints(driving)))
    if with_generator:
        out["generator"] = median(lambda: engine.generate_uncached(source, kp_source, engine.keypoints(driving)))
    out.setdefault("frame", out.get("generator"))
    return out


# ---------------------------------------------------------------------------------------------
# Paddle Lite


_LITE_PROBE = r"""
import sys, numpy as np
from paddlelite.lite import MobileConfig, create_paddle_predictor
data = np.load(sys.argv[2])
config = MobileConfig()
config.set_model_from_file(sys.argv[1])
predictor = create_paddle_predictor(config)
for i in range(len(data.files)):
    predictor.get_input(i).from_numpy(np.ascontiguousarray(data[f"x{i}"], np.float32))
predictor.run()
outs = [np.array(predictor.get_output(i).numpy(), copy=True) for i in range(len(predictor.get_output_names()))]
np.savez(sys.argv[3], *outs)
"""


def _probe_lite(nb_path, inputs, workdir):
    """Run a Lite ``.nb`` on ``inputs`` in a child process (a crashing kernel takes the process
    down with it); returns (outputs or None, error line or None)."""
    workdir = Path(workdir)
    np.savez(workdir / "probe_in.npz", **{f"x{i}": x for i, x in enumerate(inputs)})
    result = subprocess.run([sys.executable, "-c", _LITE_PROBE, str(nb_path), str(workdir / "probe_in.npz"),
                             str(workdir / "probe_out.npz")], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        how = f"signal {-result.returncode}" if result.returncode < 0 else f"exit {result.returncode}"
        tail = (result.stderr.strip().splitlines() or [""])[-1][:200]
        return None, f"Paddle Lite crashed running it ({how}){': ' + tail if tail else ''}"
    with np.load(workdir / "probe_out.npz") as data:
        return [data[k] for k in sorted(data.files, key=lambda k: int(k.split("_")[-1]))], None


def _mean_abs(a, b):
    return float(np.mean(np.concatenate([np.abs(np.asarray(x) - np.asarray(y)).reshape(-1) for x, y in zip(a, b)])))


def _lite_int8(tmp, model, target, sample_inputs, int8_outputs, fp32_outputs):
    """Convert ``tmp/<model>.int8`` for ``target``; returns the record for it.

    An x86 file is run once here (in a child process) and kept only if it runs and its outputs
    are no further from Paddle Inference's int8 outputs than those are from fp32: measured on
    paddlelite 2.13rc0, x86 int8 kernels crashed or strayed further (and ran no faster)."""
    prefix = tmp / f"{model}.int8"
    out = tmp / f"{model}.int8.{target}"
    report = tmp / "lite_report.int8.txt"
    with open(report, "a") as log:
        log.write(f"== {prefix.name} for {target}\n")
    code = _run_opt([f"--model_file={prefix}.pdmodel", f"--param_file={prefix}.pdiparams", f"--valid_targets={target}",
                     "--optimize_out_type=naive_buffer", f"--optimize_out={out}"], report)
    nb = Path(f"{out}.nb")
    if code != 0 or not nb.is_file():
        return {"error": f"opt failed (see {report.name})"}
    record = {"file": nb.name, "bytes": nb.stat().st_size, "kernels": sorted(nb_precisions(nb))}
    if "int8" not in record["kernels"]:
        record["note"] = "opt chose no int8 kernel"
    if target != "x86":
        record["note"] = record.get("note", "not run here (this machine is x86)")
        return record
    outputs, error = _probe_lite(nb, sample_inputs, tmp)
    if error:
        nb.unlink()
        return {"error": error, "kernels": record["kernels"]}
    record["mean_abs_diff_to_inference_int8"] = _mean_abs(outputs, int8_outputs)
    record["mean_abs_diff_to_fp32"] = _mean_abs(outputs, fp32_outputs)
    budget = _mean_abs(int8_outputs, fp32_outputs)
    if record["mean_abs_diff_to_inference_int8"] > budget:
        nb.unlink()
        return dict(record, file=None, error=(
            "Lite's int8 kernels stray from Paddle Inference's int8 by "
            f"{record['mean_abs_diff_to_inference_int8']:.4g} "
            f"(mean), more than int8 differs from fp32 ({budget:.4g})"))
    return record


# ---------------------------------------------------------------------------------------------


def _engine_inputs(engine, model, source, driving):
    """The input list of ``model`` for one (source, driving) pair, as the engine feeds it."""
    if model == "kp_detector":
        return [driving]
    if model == "source_encoder":
        return [source]
    kp_source, kp_driving = engine.keypoints(source), engine.keypoints(driving)
    kps = engine._kp_inputs(kp_source, 1) + engine._kp_inputs(kp_driving, 1)
    if model == "generator":
        return [source, *kps]
    cache = engine.encode_source(source)
    return [cache["source_small"], cache["features"], *kps]


def _write_json(path, data):
    path = Path(path)
    tmp = path.parent / f".{path.name}.partial-{os.getpid()}"
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def quantize_export(model_dir, calibration_frames=None, out_dir=None, algo=DEFAULT_ALGO, batch_nums=None,
                    max_change=MAX_CHANGE, models=None, lite=None, ops=QUANTIZED_OPS, fp32_heads=True, threads=None,
                    time_runs=5, overwrite=False, progress=False, say=None):
    """Quantize the models of export folder ``model_dir`` to int8 and keep them if they pay.

    calibration_frames: what :func:`load_calibration` takes (None: the built-in sample frames).
    out_dir: None to add the int8 models to ``model_dir``; else a new folder holding a copy of
        the export plus the int8 models (``overwrite`` to replace one).
    algo: PostTrainingQuantization's activation calibration (``ALGOS``); batch_nums: at most this
        many calibration samples per model (None: all).
    max_change: int8 models are kept only if ``mean|int8 - fp32| / mean|fp32 - frame|`` on the
        held-out frames (through the cached path, and through the whole generator where exported)
        is at most this; the largest passing set of :func:`_candidate_sets` is kept.
    models: the models to quantize (default: those that run per frame, ``PER_FRAME_MODELS``).
    ops: the op types quantized; fp32_heads: keep the output heads' convolutions in fp32.
    lite: Lite targets to convert the kept int8 models for (None: those the export has .nb files for).
    threads: CPU threads of the engines; time_runs: timed runs per engine (0: no timing).
    Returns a report dict: ``kept``, ``reason``, ``change``, ``metrics``, ``candidates``, ``models``
    (sizes), ``lite``, ``times``, ``written``.
    """
    from .infer import InferenceEngine

    say = say or (lambda message: None)
    ok, reason = paddle_can_export()
    if not ok:
        raise QuantizeError(f"int8 quantization reads and writes the same program format: {reason}")
    if algo not in ALGOS:
        raise QuantizeError(f"int8 algo must be one of {', '.join(ALGOS)}, not {algo!r}")
    model_dir = Path(model_dir)
    info = read_export_info(model_dir)
    if info.get("batch") not in (None, 1):
        raise QuantizeError(f"{model_dir}: exported for batch {info.get('batch')}; int8 calibrates and measures "
                            "frame by frame: export with batch 1 or --dynamic_batch")
    present = [m for m in MODELS if m in info.get("models", {})]
    if "kp_detector" not in present or not ({"source_encoder", "frame_decoder"} <= set(present)
                                            or "generator" in present):
        raise QuantizeError(f"{model_dir}: int8 needs kp_detector and source_encoder + frame_decoder (or generator) "
                            "to measure the reconstruction; export them all")
    models = [m for m in MODELS if m in (models or [m for m in present if m in PER_FRAME_MODELS])]
    missing = sorted(set(models) - set(present))
    if missing:
        raise QuantizeError(f"{model_dir}: has no {', '.join(missing)} to quantize")
    cached = {"source_encoder", "frame_decoder"} <= set(present)
    with_generator = "generator" in present
    if lite is None:
        lite = sorted({("arm" if v.startswith("arm") else v) for files in info.get("lite", {}).values() for v in files})
    lite = tuple(lite)
    unknown = sorted(set(lite) - set(LITE_INT8_TARGETS))
    if unknown:
        raise QuantizeError(f"unknown Lite target(s) {', '.join(unknown)}; choose from {', '.join(LITE_INT8_TARGETS)}")
    if out_dir is not None:
        from .export import _check_destination

        out_dir = _check_destination(out_dir, overwrite)
        if out_dir.resolve() == model_dir.resolve():
            out_dir = None
    size = int(info["size"])
    clips = load_calibration(calibration_frames, size)
    calibration, held = split_clips(clips)
    say(f"int8: calibrating on {sum(len(c) for c in calibration)} frames of {len(calibration)} clip(s), "
        f"measuring on {sum(len(c) - 1 for c in held)} held-out frames")

    fp32 = InferenceEngine(model_dir, threads=threads)
    frames = np.concatenate(calibration)
    limit = batch_nums or len(frames) * 4
    pairs = [p for clip in calibration for p in _pairs(clip)]
    pairs = [pairs[i] for i in _spread(len(pairs), limit)]
    feeds = {}
    names = {m: info["models"][m]["inputs"] for m in models}
    for model in models:
        if model in ("kp_detector", "source_encoder"):
            samples = [[frames[i:i + 1]] for i in _spread(len(frames), limit)]
        else:
            samples = [_engine_inputs(fp32, model, s, d) for s, d in pairs]
        feeds[model] = [dict(zip(names[model], (np.ascontiguousarray(x, np.float32) for x in sample)))
                        for sample in samples]

    base = out_dir if out_dir is not None else model_dir
    tmp = base.parent / f".{base.name}.int8-partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        report = {"algo": algo, "ops": list(ops), "max_change": max_change,
                  "calibration": {"clips": len(calibration), "frames": int(len(frames)),
                                  "samples": {m: len(f) for m, f in feeds.items()},
                                  "source": "built-in sample frames" if calibration_frames is None else
                                  (str(calibration_frames) if isinstance(calibration_frames, (str, Path))
                                   else "frames")},
                  "held_out": {"clips": len(held), "frames": int(sum(len(c) - 1 for c in held))}}
        for model in models:
            say(f"int8: quantizing {model} ({len(feeds[model])} samples, {algo})")
            skip = head_conv_inputs(model_dir / model) if fp32_heads else []
            _ptq(model_dir, model, feeds[model], tmp, algo, ops, quiet=not progress, skip_tensors=skip)
        report["models"] = {}
        for model in models:
            ops_found = program_op_types(tmp / f"{model}.int8")
            report["models"][model] = {
                "files": [f"{model}.int8.pdmodel", f"{model}.int8.pdiparams"],
                "bytes": (tmp / f"{model}.int8.pdiparams").stat().st_size,
                "fp32_bytes": (model_dir / f"{model}.pdiparams").stat().st_size,
                "quantized_ops": sum(ops_found.get(t, 0) for t in ("quantize_linear", "dequantize_linear")),
            }

        # Measure through the int8 engine on the held-out frames: all the quantized models first,
        # then smaller sets, and keep the first set whose every path stays within max_change.
        links = []  # the fp32 models the int8 engine also runs, for the measurement only
        for model in present:
            for suffix in (".pdmodel", ".pdiparams"):
                os.symlink((model_dir / f"{model}{suffix}").resolve(), tmp / f"{model}{suffix}")
                links.append(tmp / f"{model}{suffix}")
        held_pairs = [p for clip in held for p in _pairs(clip)]
        held_pairs = [held_pairs[i] for i in _spread(len(held_pairs), MAX_HELD_OUT)]
        report["held_out"]["frames"] = len(held_pairs)
        drivings = [d for _, d in held_pairs]
        out32 = _reconstruct(fp32, held_pairs, cached, with_generator)
        report["candidates"], chosen, int8 = [], None, None
        for subset in _candidate_sets(models):
            _write_json(tmp / "export_info.json", dict(info, int8={"models": {m: report["models"][m] for m in subset}}))
            int8 = InferenceEngine(tmp, precision="int8", threads=threads)
            metrics = _compare(out32, _reconstruct(int8, held_pairs, cached, with_generator), drivings)
            worst = max(metrics["change"], metrics.get("generator_change", 0.0))
            report["candidates"].append({"models": list(subset), "change": worst, "metrics": metrics})
            say(f"int8: {'+'.join(subset)}: change {100 * worst:.2f} %")
            if worst <= max_change:
                chosen = report["candidates"][-1]
                break
        best = chosen or min(report["candidates"], key=lambda c: c["change"])
        report["metrics"], report["change"] = best["metrics"], best["change"]
        report["kept"] = chosen is not None
        if not report["kept"]:
            tried = len(report["candidates"])
            report["reason"] = (f"int8 changes the reconstruction by {100 * best['change']:.2f} % of its L1 to the "
                                f"real frames (> {100 * max_change:g} %) with {'+'.join(best['models'])}"
                                + (f", the least of the {tried} model sets tried" if tried > 1 else "")
                                + ": int8 models not kept, nothing written")
            return report
        kept = chosen["models"]
        for model in set(models) - set(kept):
            for suffix in (".pdmodel", ".pdiparams"):
                (tmp / f"{model}.int8{suffix}").unlink()
        report["models"] = {m: report["models"][m] for m in kept}
        report["reason"] = (f"int8 {'+'.join(kept)} change the reconstruction by {100 * chosen['change']:.2f} % "
                            f"(<= {100 * max_change:g} %): kept")
        models = kept

        if time_runs:
            source, driving = held_pairs[0]
            report["times"] = {"threads": int(fp32.threads),
                               "fp32": _time_per_frame(fp32, source, driving, time_runs, cached, with_generator),
                               "int8": _time_per_frame(int8, source, driving, time_runs, cached, with_generator)}

        report["lite"] = {}
        if lite:
            from .export import _lite_module

            _lite_module()
            source, driving = held_pairs[0]
            for model in models:
                inputs = _engine_inputs(int8, model, source, driving)
                outputs8, outputs32 = int8._run(model, inputs), fp32._run(model, inputs)
                for target in lite:
                    say(f"int8: Paddle Lite {target} for {model}")
                    report["lite"].setdefault(model, {})[target] = _lite_int8(tmp, model, target, inputs, outputs8,
                                                                              outputs32)
            for name in ("probe_in.npz", "probe_out.npz"):
                (tmp / name).unlink(missing_ok=True)

        record = {k: report[k] for k in ("algo", "ops", "max_change", "change", "calibration", "held_out", "metrics",
                                         "models", "candidates")}
        record["lite"] = {m: {t: r["file"] for t, r in targets.items() if r.get("file")}
                          for m, targets in report["lite"].items()}
        record["lite_report"] = report["lite"]
        record["times"] = report.get("times")
        record["paddle"] = _paddle_version()
        new_info = dict(info, int8=record)
        for path in links + [tmp / "export_info.json"]:
            path.unlink()
        files = sorted(p.name for p in tmp.iterdir())
        _install(model_dir, out_dir, tmp, files, info, new_info)
        report["written"] = files
        return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _candidate_sets(models):
    """The sets of int8 models to try, largest first: all; without the whole generator
    (PaddleGAN's uncached path, which also re-encodes the source); without the frame decoder;
    the keypoint detector alone."""
    models = list(models)
    sets = [models, [m for m in models if m != "generator"],
            [m for m in models if m not in ("frame_decoder", "source_encoder")],
            [m for m in models if m == "kp_detector"]]
    out = []
    for subset in sets:
        if subset and subset not in out:
            out.append(subset)
    return out


def _paddle_version():
    import paddle

    return paddle.__version__


def _install(model_dir, out_dir, tmp, files, info, new_info):
    """Move the int8 files into place; export_info.json last."""
    if out_dir is not None:
        staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            shutil.copytree(model_dir, staging)
            for name in files:
                os.replace(tmp / name, staging / name)
            _write_json(staging / "export_info.json", new_info)
            if out_dir.exists():
                shutil.rmtree(out_dir)
            os.replace(staging, out_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return
    if "int8" in info:  # an older int8 record: retire it, and its files, before the new ones go in
        _write_json(model_dir / "export_info.json", {k: v for k, v in info.items() if k != "int8"})
        old = info["int8"]
        stale = [f for entry in old.get("models", {}).values() for f in entry.get("files", [])]
        stale += [f for targets in old.get("lite", {}).values() for f in targets.values()]
        for name in set(stale) - set(files):
            (model_dir / name).unlink(missing_ok=True)
    moved = []
    try:
        for name in files:
            os.replace(tmp / name, model_dir / name)
            moved.append(name)
        _write_json(model_dir / "export_info.json", new_info)
    except BaseException:
        for name in moved:
            (model_dir / name).unlink(missing_ok=True)
        raise


def format_report(report):
    """A few lines for the terminal."""
    m = report.get("metrics", {})
    lines = [report["reason"]]
    if m:
        lines.append(f"  held-out frames {m['frames']}: L1 to the frame fp32 {m['l1_fp32']:.4f}, "
                     f"int8 {m['l1_int8']:.4f}; "
                     f"mean |int8 - fp32| {m['diff']:.4f} ({100 * m['change']:.2f} %)"
                     + (f", generator {100 * m['generator_change']:.2f} %" if "generator_change" in m else "")
                     + (f"; keypoints mean |diff| {m['kp_value_mean_abs_diff']:.4f}" if "kp_value_mean_abs_diff" in m
                        else ""))
    if report.get("kept"):
        sizes = ", ".join(f"{k} {v['fp32_bytes'] / 1e6:.2f} -> {v['bytes'] / 1e6:.2f} MB"
                          for k, v in report["models"].items())
        lines.append(f"  weights: {sizes}")
        times = report.get("times")
        if times:
            lines.append("  per frame on {} thread(s): fp32 {:.1f} ms, int8 {:.1f} ms".format(
                times["threads"], 1e3 * times["fp32"]["frame"], 1e3 * times["int8"]["frame"])
                + (" (generator {:.1f} -> {:.1f} ms)".format(1e3 * times["fp32"]["generator"],
                                                              1e3 * times["int8"]["generator"])
                   if "generator" in times["fp32"] else ""))
        for model, targets in report.get("lite", {}).items():
            for target, r in targets.items():
                text = (f"{r['file']} {r['bytes'] / 1e6:.2f} MB ({'/'.join(r['kernels'])} kernels)" if r.get("file")
                        else f"not written: {r['error']}")
                lines.append(f"  Lite {target} {model}: {text}")
    return "\n".join(lines)


__all__ = ["quantize_export", "load_calibration", "split_clips", "format_report", "program_op_types",
           "QuantizeError", "ExportError", "ALGOS", "MAX_CHANGE"]
