"""Fast inference: one engine interface, three backends.

- ``inference``: the exported models in Paddle Inference (oneDNN on CPU, optionally bf16, or
  int8 where ``ppfom.quantize`` kept int8 models in the export; GPU with TensorRT fp16 when
  Paddle was built with CUDA). The default.
- ``lite``: the exported x86 ``.nb`` models in Paddle Lite (a check of what phones run).
- ``dygraph``: the networks as they are, no export (always available).

Every engine works on numpy NCHW float32 frames in [0, 1]:

    engine = create_engine(fomm)                 # exports once, cached by the weights' digest
    kp_source = engine.keypoints(source)         # {"value": (1,K,2), "jacobian": (1,K,2,2)}
    cache = engine.encode_source(source)         # the source-only work, once per source
    frames = engine.generate(cache, kp_source, kp_driving_normalized)   # (N, 3, H, W)

``animate`` strings these together for a stream of driving frames, in batches.
"""
import abc
import contextlib
import os
from pathlib import Path

import numpy as np

from .errors import PpfomError
from .kp_norm import movement_scale, normalize_kp

BACKENDS = ("inference", "lite", "dygraph")
PRECISIONS = ("fp32", "bf16", "fp16", "int8")
# Ops oneDNN runs in int8 for precision "int8". Letting it quantize every op it can (pool, concat,
# elementwise) fails on the frame decoder with paddle 2.6.2 ("Quantize scale(0.000000) should not
# be equal 0"); the convolutions are where the time goes anyway.
INT8_ONEDNN_OPS = ("conv2d", "depthwise_conv2d")


class EngineError(PpfomError):
    """The engine cannot run as asked."""


class Engine(abc.ABC):
    """What every backend offers; subclasses implement ``_run(model, inputs)``."""

    backend = "?"

    def __init__(self, num_kp, jacobian, size):
        self.num_kp, self.jacobian, self.size = num_kp, jacobian, size

    @abc.abstractmethod
    def _run(self, model, inputs):
        """Run exported model ``model`` on a list of numpy inputs; returns its outputs."""

    def _kp_inputs(self, kp, batch):
        arrays = [kp["value"]] + ([kp["jacobian"]] if self.jacobian else [])
        return [_tile(np.asarray(a, np.float32), batch) for a in arrays]

    def keypoints(self, images):
        out = self._run("kp_detector", [_frames(images, self.size)])
        return {"value": out[0], "jacobian": out[1]} if self.jacobian else {"value": out[0]}

    def encode_source(self, source):
        """The source-only work (features and downsampled source), kept for every frame."""
        features, small = self._run("source_encoder", [_frames(source, self.size)[:1]])
        return {"features": features, "source_small": small}

    def generate(self, cache, kp_source, kp_driving):
        """Frames for a batch of (already normalized) driving keypoints, from a source cache."""
        batch = np.asarray(kp_driving["value"]).shape[0]
        inputs = [_tile(cache["source_small"], batch), _tile(cache["features"], batch)]
        inputs += self._kp_inputs(kp_source, batch) + self._kp_inputs(kp_driving, batch)
        return self._run("frame_decoder", inputs)[0]

    def generate_uncached(self, source, kp_source, kp_driving):
        """The whole generator per frame (what PaddleGAN's export runs), for comparison."""
        batch = np.asarray(kp_driving["value"]).shape[0]
        inputs = [_tile(_frames(source, self.size)[:1], batch)]
        inputs += self._kp_inputs(kp_source, batch) + self._kp_inputs(kp_driving, batch)
        return self._run("generator", inputs)[0]

    def animate(self, source, driving_frames, relative=True, adapt_scale=True, batch_size=1):
        """Yield one animated frame (3, H, W) per driving frame, streaming.

        The first driving frame is the reference for relative motion; the movement scale is
        computed once from it, as the original's demo does.
        """
        kp_source = self.keypoints(source)
        cache = self.encode_source(source)
        kp_initial, scale = None, 1.0
        for chunk in batched(driving_frames, batch_size):
            chunk = np.stack([np.asarray(frame, np.float32) for frame in chunk])
            kp_driving = self.keypoints(chunk)
            if kp_initial is None:
                kp_initial = {k: v[:1] for k, v in kp_driving.items()}
                scale = movement_scale(kp_source["value"], kp_initial["value"]) if adapt_scale else 1.0
            kp_norm = normalize_kp(kp_source, kp_driving, kp_initial, use_relative_movement=relative,
                                   use_relative_jacobian=relative, scale=scale)
            yield from self.generate(cache, kp_source, kp_norm)


def _frames(images, size):
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[2:] != (size, size):
        raise EngineError(f"expected frames of shape (N, 3, {size}, {size}), got {images.shape}")
    return np.ascontiguousarray(images)


def _tile(array, batch):
    array = np.asarray(array, np.float32)
    if array.shape[0] == batch:
        return np.ascontiguousarray(array)
    if array.shape[0] != 1:
        raise EngineError(f"cannot broadcast a batch of {array.shape[0]} to {batch}")
    return np.ascontiguousarray(np.repeat(array, batch, axis=0))


def batched(items, size):
    """Lists of up to ``size`` consecutive items of any iterable (a stream stays a stream)."""
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ---------------------------------------------------------------------------------------------


class DygraphEngine(Engine):
    backend = "dygraph"

    def __init__(self, fomm, size):
        super().__init__(fomm.kp_detector.num_kp, fomm.kp_detector.jacobian is not None, size)
        self.fomm = fomm

    def _run(self, model, inputs):
        import paddle

        with paddle.no_grad():
            t = [paddle.to_tensor(x) for x in inputs]
            if model == "kp_detector":
                kp = self.fomm.kp_detector(t[0])
                return [kp[k].numpy() for k in ("value", "jacobian") if k in kp]
            if model == "source_encoder":
                cache = self.fomm.generator.encode(t[0])
                return [cache["features"].numpy(), cache["source_small"].numpy()]
            if model == "generator":
                source, kp_tensors = t[0], t[1:]
                cache = None
            else:
                cache = {"source_small": t[0], "features": t[1]}
                source, kp_tensors = None, t[2:]
            half = len(kp_tensors) // 2
            kp_s, kp_d = self._kp_dict(kp_tensors[:half]), self._kp_dict(kp_tensors[half:])
            out = self.fomm.generator(source, kp_driving=kp_d, kp_source=kp_s, source_cache=cache, full_outputs=False)
            return [out["prediction"].numpy()]

    @staticmethod
    def _kp_dict(tensors):
        return {"value": tensors[0], "jacobian": tensors[1]} if len(tensors) == 2 else {"value": tensors[0]}


class InferenceEngine(Engine):
    """Paddle Inference predictors over an export folder."""

    backend = "inference"

    def __init__(self, model_dir, device="cpu", precision="fp32", threads=None):
        from .export import read_export_info

        info = read_export_info(model_dir)
        super().__init__(info["num_kp"], info["jacobian"], info["size"])
        if precision not in PRECISIONS:
            raise EngineError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.model_dir = Path(model_dir)
        self.device, self.precision = _resolve_device(device, precision)
        if self.precision == "int8" and "int8" not in info:
            raise EngineError(f"{model_dir}: has no int8 models; make them with tools/export_model.py --int8")
        # the models quantized where it pays (ppfom.quantize); the others run in fp32
        self.int8_models = set(info.get("int8", {}).get("models", {})) if self.precision == "int8" else set()
        self.threads = threads or os.cpu_count() or 1
        self._predictors = {}

    def _predictor(self, model):
        if model not in self._predictors:
            import paddle.inference as pi

            int8 = model in self.int8_models
            prefix = self.model_dir / (f"{model}.int8" if int8 else model)
            if not Path(f"{prefix}.pdmodel").is_file():
                raise EngineError(f"{self.model_dir}: has no {model}.pdmodel; export it with tools/export_model.py")
            config = pi.Config(f"{prefix}.pdmodel", f"{prefix}.pdiparams")
            if self.device == "gpu":
                config.enable_use_gpu(256, 0)
                if self.precision == "fp16":
                    config.enable_tensorrt_engine(workspace_size=1 << 30, max_batch_size=8, min_subgraph_size=3,
                                                  precision_mode=pi.PrecisionType.Half, use_static=False,
                                                  use_calib_mode=False)
            else:
                config.disable_gpu()
                config.set_cpu_math_library_num_threads(self.threads)
                config.enable_mkldnn()
                config.set_mkldnn_cache_capacity(8)  # a few batch shapes, not one per call
                if self.precision == "bf16":
                    config.enable_mkldnn_bfloat16()
                if int8:  # the quantized program (ppfom.quantize) on oneDNN int8 kernels
                    config.enable_mkldnn_int8(set(INT8_ONEDNN_OPS))
            config.switch_ir_optim(True)
            config.enable_memory_optim()
            config.disable_glog_info()
            with _quiet_native_output(int8):  # oneDNN's int8 passes print a page each
                self._predictors[model] = pi.create_predictor(config)
        return self._predictors[model]

    def _run(self, model, inputs):
        predictor = self._predictor(model)
        for name, array in zip(predictor.get_input_names(), inputs):
            handle = predictor.get_input_handle(name)
            handle.reshape(array.shape)
            handle.copy_from_cpu(np.ascontiguousarray(array, np.float32))
        predictor.run()
        return [predictor.get_output_handle(n).copy_to_cpu() for n in predictor.get_output_names()]


class LiteEngine(Engine):
    """Paddle Lite on this machine (x86 ``.nb``), the same models phones run."""

    backend = "lite"

    def __init__(self, model_dir, threads=None):
        from .export import _lite_module, nb_target, read_export_info

        info = read_export_info(model_dir)
        super().__init__(info["num_kp"], info["jacobian"], info["size"])
        self.lite = _lite_module()
        self.model_dir = Path(model_dir)
        self.files = {}
        for model, variants in info.get("lite", {}).items():
            if "x86" in variants:
                path = self.model_dir / variants["x86"]
                target = nb_target(path)
                if target != "x86":
                    raise EngineError(f"{path}: a Paddle Lite model for {target}, not x86; this machine runs x86")
                self.files[model] = path
        if not self.files:
            raise EngineError(f"{model_dir}: has no x86 .nb models; export with --lite x86")
        self._predictors = {}

    def _run(self, model, inputs):
        if model not in self.files:
            raise EngineError(f"{self.model_dir}: has no x86 .nb for {model}")
        if model not in self._predictors:
            config = self.lite.MobileConfig()
            config.set_model_from_file(str(self.files[model]))
            self._predictors[model] = self.lite.create_paddle_predictor(config)
        predictor = self._predictors[model]
        for i, array in enumerate(inputs):
            predictor.get_input(i).from_numpy(np.ascontiguousarray(array, np.float32))
        predictor.run()
        # Outputs are views the next run overwrites; past the last index Lite aborts.
        return [np.array(predictor.get_output(i).numpy(), copy=True)
                for i in range(len(predictor.get_output_names()))]


def load_lite_model(path, expected_target="x86"):
    """Refuse a ``.nb`` built for another target before Lite loads it (that aborts the process)."""
    from .export import nb_target

    path = Path(path)
    if not path.is_file():
        raise EngineError(f"{path}: no such file")
    target = nb_target(path)
    if target != expected_target:
        raise EngineError(f"{path}: a Paddle Lite model for {target or 'an unknown target'}, "
                          f"not {expected_target}; convert it with tools/export_model.py --lite {expected_target}")
    return path


def _resolve_device(device, precision):
    import paddle

    if device == "gpu" and not paddle.device.is_compiled_with_cuda():
        raise EngineError("device gpu: this paddlepaddle has no CUDA; install paddlepaddle-gpu (see README)")
    if device == "auto":
        device = "gpu" if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0 else "cpu"
    if device == "cpu" and precision == "fp16":
        raise EngineError("fp16 needs a GPU; on CPU use fp32 or bf16")
    if device == "gpu" and precision == "int8":
        raise EngineError("int8 is a CPU (oneDNN) option; on GPU use fp32 or fp16")
    if device == "gpu" and precision == "bf16":
        raise EngineError("bf16 is a CPU (oneDNN) option; on GPU use fp32 or fp16")
    if precision == "bf16" and not cpu_has_bf16():
        raise EngineError("this CPU has no AVX-512 bf16 instructions; use fp32")
    return device, precision


@contextlib.contextmanager
def _quiet_native_output(enabled):
    """Send what native code prints to stdout and stderr to /dev/null meanwhile (errors still
    come back as exceptions; PPFOM_DEBUG=1 keeps the output)."""
    if not enabled or os.environ.get("PPFOM_DEBUG"):
        yield
        return
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + [devnull]:
            os.close(fd)


def cpu_has_bf16():
    try:
        return "avx512_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def engine_cache_dir():
    from .weights import ppfom_home

    return Path(ppfom_home()) / "engines"


def create_engine(fomm, backend="inference", size=None, precision="fp32", device="cpu", cache_dir=None,
                  threads=None, progress=True):
    """An engine for ``fomm``. Exported models are cached under ``cache_dir`` (default
    ``$PPFOM_HOME/engines``) in a folder named by the digest of the weights, config and
    numerics, so the export happens once per model."""
    from .config import frame_size
    from .export import export_models, paddle_can_export, weights_digest

    size = int(size or frame_size(fomm.config))
    if backend == "dygraph":
        return DygraphEngine(fomm, size)
    if backend not in BACKENDS:
        raise EngineError(f"engine must be one of {', '.join(BACKENDS)}, not {backend!r}")
    import paddle

    folder = Path(cache_dir or engine_cache_dir()) / f"{weights_digest(fomm)[:20]}-{size}-p{paddle.__version__}"
    lite = ("x86",) if backend == "lite" else ()
    if not (folder / "export_info.json").is_file() or (lite and not list(folder.glob("*.x86.nb"))):
        ok, reason = paddle_can_export()
        if not ok:
            raise EngineError(f"engine {backend}: {reason}; or use the dygraph engine")
        export_models(fomm, folder, size=size, batch=None, lite=lite, overwrite=True, progress=progress)
    if backend == "lite":
        return LiteEngine(folder, threads=threads)
    return InferenceEngine(folder, device=device, precision=precision, threads=threads)
