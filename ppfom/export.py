"""Export a loaded FOMM to Paddle inference models and Paddle Lite ``.nb`` files.

An export folder holds, for each model of :mod:`ppfom.modules.exportable`, a ``.pdmodel``
and ``.pdiparams`` pair (the format Paddle Inference and Paddle Lite's ``opt`` read),
optionally ``<model>.<target>.nb`` files, and ``export_info.json`` describing inputs,
outputs, sizes, numerics and the weights they came from. The folder is built under a
hidden temporary name and renamed at the end, so a failed export leaves nothing behind.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from .config import frame_size
from .errors import PpfomError

FORMAT_VERSION = 1
MODELS = ("kp_detector", "generator", "source_encoder", "frame_decoder")
LITE_TARGETS = ("x86", "arm")


class ExportError(PpfomError):
    """The model cannot be exported as asked."""


def paddle_can_export():
    """(ok, reason): whether this paddlepaddle writes the program format Lite and our engine read."""
    import paddle

    version = paddle.__version__
    parts = re.findall(r"\d+", version)[:2]
    major, minor = (int(parts[0]), int(parts[1])) if len(parts) == 2 else (0, 0)
    if (major, minor) == (0, 0):  # a development build: trust it
        return True, ""
    if (major, minor) >= (3, 2):
        return False, (
            f"paddlepaddle {version} cannot write the .pdmodel program that Paddle Lite and ppfom's engine "
            "read; export with paddlepaddle 2.6.2 on Python 3.10 (the pinned environment, .venv)"
        )
    if major == 3 and os.environ.get("FLAGS_enable_pir_api") != "0":
        return False, (
            f"paddlepaddle {version} exports the old program format only with FLAGS_enable_pir_api=0 set "
            "before paddle is imported (import ppfom first, or set it in the environment)"
        )
    return True, ""


def parse_inputs_size(text):
    """PaddleGAN's ``--inputs_size "1,3,256,256;1,3,256,256;1,10,2;1,10,2,2"`` -> (batch, size, num_kp).

    The first shape is the source image, the third the keypoint values; the others must agree.
    """
    try:
        shapes = [[int(d) for d in part.split(",")] for part in text.split(";") if part.strip()]
    except ValueError:
        raise ExportError(f"--inputs_size {text!r}: expected shapes like '1,3,256,256;1,3,256,256;1,10,2;1,10,2,2'")
    if len(shapes) < 3 or len(shapes[0]) != 4 or len(shapes[2]) != 3:
        raise ExportError(f"--inputs_size {text!r}: expected image (N,3,H,W), image, keypoints (N,K,2)[, jacobians]")
    batch, channels, height, width = shapes[0]
    if channels != 3 or height != width:
        raise ExportError(f"--inputs_size {text!r}: the image must be N,3,S,S (square RGB)")
    return batch, height, shapes[2][1]


def weights_digest(fomm):
    """A stable hash of the networks' weights, config and numerics (the engine cache key)."""
    digest = hashlib.sha256()
    for section, state in fomm.state_dicts().items():
        digest.update(section.encode())
        for name, value in state.items():
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(value.numpy()).tobytes())
    model_cfg = {k: v for k, v in fomm.config["model"].items() if k != "train_params"}
    digest.update(json.dumps(model_cfg, sort_keys=True, default=str).encode())
    digest.update(json.dumps(vars(fomm.numerics), sort_keys=True).encode())
    return digest.hexdigest()


def _specs(name, batch, size, num_kp, jacobian, generator):
    """InputSpecs of one exported model."""
    from paddle.static import InputSpec

    def kp(prefix):
        specs = [InputSpec([batch, num_kp, 2], "float32", f"{prefix}_value")]
        if jacobian:
            specs.append(InputSpec([batch, num_kp, 2, 2], "float32", f"{prefix}_jacobian"))
        return specs

    image = InputSpec([batch, 3, size, size], "float32", "source" if name != "kp_detector" else "image")
    if name == "kp_detector" or name == "source_encoder":
        return [image]
    if name == "generator":
        return [image, *kp("kp_source"), *kp("kp_driving")]
    # frame_decoder: the cached source tensors have the shapes the encoder gives them
    import paddle

    with paddle.no_grad():
        cache = generator.encode(paddle.zeros([1, 3, size, size], "float32"))
    small = InputSpec([batch, *cache["source_small"].shape[1:]], "float32", "source_small")
    features = InputSpec([batch, *cache["features"].shape[1:]], "float32", "features")
    return [small, features, *kp("kp_source"), *kp("kp_driving")]


def _wrapper(name, fomm, jacobian):
    from .modules import exportable as ex

    if name == "kp_detector":
        return ex.KPDetectorExport(fomm.kp_detector)
    if name == "source_encoder":
        return ex.SourceEncoderExport(fomm.generator)
    if name == "generator":
        return (ex.GeneratorExport if jacobian else ex.GeneratorNoJacobianExport)(fomm.generator)
    return (ex.FrameDecoderExport if jacobian else ex.FrameDecoderNoJacobianExport)(fomm.generator)


OUTPUTS = {
    "kp_detector": ["value", "jacobian"],
    "generator": ["prediction"],
    "source_encoder": ["features", "source_small"],
    "frame_decoder": ["prediction"],
}


def _check_destination(out_dir, overwrite):
    out_dir = Path(out_dir)
    parent = out_dir.parent if str(out_dir.parent) else Path(".")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a folder")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise ExportError(f"{out_dir}: exists and is not empty; pass --overwrite to replace it")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"{parent}: cannot create the output folder: {e.strerror or e}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{parent}: the output folder is not writable")
    return out_dir


def export_models(fomm, out_dir, size=None, batch=1, models=MODELS, lite=(), overwrite=False, progress=True,
                  lite_weights="fp32"):
    """Export ``fomm``'s networks into ``out_dir``; returns its Path.

    size: frame size (default: the config's frame_shape); batch: a fixed batch size, or None
    for a dynamic batch; lite: targets among ``LITE_TARGETS`` to also convert with opt;
    lite_weights: how the ``.nb`` files store weights, one of ``LITE_WEIGHTS``.
    """
    import paddle

    ok, reason = paddle_can_export()
    if not ok:
        raise ExportError(reason)
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ExportError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    unknown = sorted(set(lite) - set(LITE_TARGETS))
    if unknown:
        raise ExportError(f"unknown Lite target(s) {', '.join(unknown)}; choose from {', '.join(LITE_TARGETS)}")
    if lite_weights not in LITE_WEIGHTS:
        raise ExportError(f"unknown Lite weight storage {lite_weights!r}; choose from {', '.join(LITE_WEIGHTS)}")
    out_dir = _check_destination(out_dir, overwrite)
    size = int(size or frame_size(fomm.config))
    num_kp = fomm.kp_detector.num_kp
    jacobian = fomm.kp_detector.jacobian is not None
    if lite:
        _lite_module()  # fail before the work when paddlelite is missing

    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    info = {
        "format": FORMAT_VERSION,
        "ppfom": _ppfom_version(),
        "paddle": paddle.__version__,
        "size": size,
        "batch": batch,
        "num_kp": num_kp,
        "jacobian": jacobian,
        "numerics": dict(vars(fomm.numerics)),
        "weights": fomm.weights,
        "digest": weights_digest(fomm),
        "config": fomm.config,
        "models": {},
        "lite": {},
        "lite_weights": lite_weights,
    }
    try:
        from tqdm import tqdm

        steps = [(m, None) for m in models] + [(m, t) for t in lite for m in models]
        bar = tqdm(steps, desc="export", unit="model", disable=not progress, leave=False)
        for name, target in bar:
            bar.set_postfix_str(name if target is None else f"{name} -> Lite {target}")
            if target is None:
                specs = _specs(name, batch, size, num_kp, jacobian, fomm.generator)
                layer = paddle.jit.to_static(_wrapper(name, fomm, jacobian), input_spec=specs, full_graph=True)
                paddle.jit.save(layer, str(tmp / name))
                outputs = OUTPUTS[name] if (name != "kp_detector" or jacobian) else ["value"]
                info["models"][name] = {"inputs": [s.name for s in specs], "outputs": outputs}
            else:
                files = convert_to_lite(tmp / name, target, tmp / "lite_report.txt", weights=lite_weights)
                info["lite"].setdefault(name, {}).update(files)
        (tmp / "export_info.json").write_text(json.dumps(info, indent=1, default=str))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def read_export_info(model_dir):
    path = Path(model_dir) / "export_info.json"
    if not path.is_file():
        raise ExportError(f"{model_dir}: not an export folder (no export_info.json); make one with tools/export_model.py")
    info = json.loads(path.read_text())
    if info.get("format") != FORMAT_VERSION:
        raise ExportError(f"{model_dir}: export format {info.get('format')} is not {FORMAT_VERSION}; export again")
    return info


# ---------------------------------------------------------------------------------------------
# Paddle Lite


def _lite_module():
    try:
        import paddlelite.lite as lite
    except ImportError:
        raise ExportError(
            "Paddle Lite conversion needs paddlelite==2.13rc0 (Python 3.10, numpy<2): use the pinned "
            "environment (.venv)"
        ) from None
    if int(np.__version__.split(".")[0]) >= 2:
        raise ExportError(f"numpy {np.__version__} silently corrupts Paddle Lite inputs: install numpy<2")
    return lite


def _opt_tool():
    """The paddle_lite_opt program of the paddlelite package (next to this Python)."""
    candidates = [Path(sys.executable).parent / "paddle_lite_opt", shutil.which("paddle_lite_opt")]
    for path in candidates:
        if path and Path(path).is_file():
            return str(path)
    raise ExportError("paddle_lite_opt not found; install paddlelite==2.13rc0 in this environment")


def _run_opt(args, report_path):
    """Run paddle_lite_opt in a child process (its support check ends the process it runs
    in, and it prints a lot), appending its output to the report."""
    with open(report_path, "a") as log:
        log.flush()
        return subprocess.run([_opt_tool(), *args], stdout=log, stderr=subprocess.STDOUT, check=False).returncode


# How .nb files store their weights. int16 is opt's "dynamic" weight quantization: weights are
# kept as int16 with a scale per channel and turned back into floats when the model loads, so
# the kernels and their precision are unchanged while the file shrinks by about 45 %. (Measured
# on the shipped synthetic-64 model through Lite x86: the frames change by 0.02 % of the model's
# L1 to the real frames. Lite 2.13's opt offers no fp16 weight storage: its fp16 files keep
# fp32 weights.)
LITE_WEIGHTS = ("fp32", "int16")


def convert_to_lite(prefix, target, report_path, weights="fp32"):
    """Convert ``prefix.pdmodel`` for ``target``: x86 fp32, or ARM fp32 and fp16.

    weights: "fp32", or "int16" to store the weights as int16 (see ``LITE_WEIGHTS``).
    Returns ``{variant: file name}``. opt's op-support table goes to ``report_path``; a model
    with an op the target cannot run is an error that names the ops.
    """
    _lite_module()
    prefix = Path(prefix)
    report_path = Path(report_path)
    start = report_path.stat().st_size if report_path.exists() else 0
    model = [f"--model_file={prefix}.pdmodel", f"--param_file={prefix}.pdiparams", f"--valid_targets={target}"]
    with open(report_path, "a") as log:
        log.write(f"== {prefix.name} for {target}\n")
    _run_opt([*model, "--print_model_ops=true"], report_path)
    report = report_path.read_text(errors="replace")[start:]
    if "supports this model" not in report:
        unsupported = _unsupported_ops(report)
        raise ExportError(
            f"{prefix.name}: Paddle Lite ({target}) cannot run op(s) {', '.join(unsupported) or '(see report)'}; "
            f"see {report_path.name}"
        )
    variants = {target: False} if target == "x86" else {"arm": False, "arm_fp16": True}
    files = {}
    for variant, fp16 in variants.items():
        out = prefix.parent / f"{prefix.name}.{variant}"
        flags = [*model, "--optimize_out_type=naive_buffer", f"--optimize_out={out}"]
        if fp16:
            flags.append("--enable_fp16=true")
        if weights == "int16":
            flags += ["--quant_model=true", "--quant_type=QUANT_INT16"]
        code = _run_opt(flags, report_path)
        if code != 0 or not Path(f"{out}.nb").is_file():
            raise ExportError(f"{prefix.name}: Paddle Lite opt failed for {variant}; see {report_path.name}")
        if fp16 and "fp16" not in nb_precisions(f"{out}.nb"):
            raise ExportError(f"{out.name}.nb: opt chose no fp16 kernel; see {report_path.name}")
        files[variant] = f"{out.name}.nb"
    return files


def _unsupported_ops(report):
    ops = []
    for line in report.splitlines():
        cells = line.split()
        if len(cells) == 1 and re.fullmatch(r"[a-z0-9_]+", cells[0]) and cells[0] not in ("ops", "op_name"):
            ops.append(cells[0])  # an op row with no 'Y' in any target column
    return ops


# Lite's TargetType enum as written in kernel keys "op/alias/target/precision/layout".
_LITE_TARGET_IDS = {2: "x86", 4: "arm", 5: "opencl", 3: "cuda"}
_KERNEL_KEY = re.compile(rb"[a-z0-9_]{2,}/def/(\d+)/(\d+)/(\d+)")


def nb_target(path):
    """The hardware target a Paddle Lite ``.nb`` was optimized for ("x86", "arm", ...), read from
    its kernel keys without loading it (loading a wrong-target model aborts the process)."""
    data = Path(path).read_bytes()
    targets = {_LITE_TARGET_IDS.get(int(m.group(1))) for m in _KERNEL_KEY.finditer(data)}
    targets.discard(None)
    if not targets:
        return None
    return sorted(targets)[0] if len(targets) == 1 else "+".join(sorted(targets))


_LITE_PRECISION_IDS = {1: "fp32", 2: "int8", 3: "int32", 5: "fp16"}
# Every kernel key, whatever its alias: int8 convolutions are keyed ``conv2d/fp32_out/...``.
_ANY_KERNEL_KEY = re.compile(rb"[a-z0-9_]{2,}/[a-z0-9_]+/\d+/(\d+)/\d+")


def nb_precisions(path):
    """The kernel precisions used in a ``.nb`` ("fp32", "fp16", "int8", ...)."""
    data = Path(path).read_bytes()
    found = {_LITE_PRECISION_IDS.get(int(m.group(1))) for m in _ANY_KERNEL_KEY.finditer(data)}
    found.discard(None)
    return found


def _ppfom_version():
    from . import __version__

    return __version__
