"""Multiply-accumulates (MACs) of dygraph networks, counted by running them once.

    from ppfom.flops import count_flops, fomm_flops

    count_flops(layer, x)                      # {"macs": per sample, "params": ..., "by_layer": {...}}
    fomm_flops(fomm.kp_detector, fomm.generator, 256)

A forward post-hook on every ``nn.Conv2D``, ``nn.Conv2DTranspose`` and ``nn.Linear`` reads the
shapes of the call and adds its MACs (one multiply and one add = 1 MAC; FLOPs are about 2 x MACs):

* ``Conv2D``: ``out_h * out_w * out_channels * (in_channels / groups) * kh * kw``
* ``Conv2DTranspose``: ``in_h * in_w * in_channels * (out_channels / groups) * kh * kw`` (every
  input pixel is scattered through the whole kernel)
* ``Linear``: ``rows * in_features * out_features`` (``rows``: the input's elements / in_features)

Bias adds are ignored. Not counted at all, because they are not such layers: ``grid_sample``
(the warps), ``interpolate`` (resizing), the anti-aliasing Gaussian blur before the keypoint
detector and dense motion (a fixed-kernel ``F.conv2d``, not an ``nn.Conv2D``), softmax,
normalisation, activations, pooling and the element-wise work of the motion model (heatmaps,
sparse motions). For FOMM these are a small share of the work, but their *time* on a CPU is not
small (grid_sample especially), so MACs are no substitute for timing (benchmarks/bench_core.py).

Counting runs the network once under ``paddle.no_grad()`` and in eval mode (so BatchNorm
statistics do not move); each sublayer's train/eval mode is put back afterwards, and every hook
is removed, also when the forward raises. A layer called several times (the keypoint detector on
source and driving frames, say) is counted once per call.
"""
import contextlib

import numpy as np
import paddle
import paddle.nn as nn

COUNTED_LAYERS = (nn.Conv2D, nn.Conv2DTranspose, nn.Linear)


def _numel(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _spatial(shape, data_format):
    """(h, w) of an NCHW or NHWC shape."""
    if data_format == "NHWC":
        return int(shape[1]), int(shape[2])
    return int(shape[2]), int(shape[3])


def layer_macs(layer, inputs, output):
    """MACs of one call of ``layer`` (the whole batch): Conv2D, Conv2DTranspose or Linear."""
    if isinstance(layer, nn.Conv2DTranspose):
        x = inputs[0]
        in_h, in_w = _spatial(x.shape, getattr(layer, "_data_format", "NCHW"))
        kh, kw = (int(k) for k in layer._kernel_size)
        per_pixel = layer._in_channels * (layer._out_channels // layer._groups) * kh * kw
        return int(x.shape[0]) * in_h * in_w * per_pixel
    if isinstance(layer, nn.Conv2D):
        out_h, out_w = _spatial(output.shape, getattr(layer, "_data_format", "NCHW"))
        kh, kw = (int(k) for k in layer._kernel_size)
        per_pixel = layer._out_channels * (layer._in_channels // layer._groups) * kh * kw
        return int(output.shape[0]) * out_h * out_w * per_pixel
    if isinstance(layer, nn.Linear):
        in_features, out_features = (int(d) for d in layer.weight.shape)
        rows = _numel(inputs[0].shape) // in_features
        return rows * in_features * out_features
    raise TypeError(f"no MAC formula for {type(layer).__name__}")


def _first_tensor(obj):
    if isinstance(obj, paddle.Tensor):
        return obj
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        for item in obj:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def trainable_params(layer):
    """Number of trainable parameter values (``stop_gradient`` False) of ``layer``."""
    return sum(_numel(p.shape) for p in layer.parameters() if not p.stop_gradient)


@contextlib.contextmanager
def _eval_mode(*nets):
    """Every sublayer of ``nets`` in eval mode meanwhile; each one's own mode put back after."""
    modes = [(sub, sub.training) for net in nets for _, sub in net.named_sublayers(include_self=True)]
    try:
        for net in nets:
            net.eval()
        yield
    finally:
        for sub, training in modes:
            sub.training = training


def _count(layer, run, batch):
    """Hook ``layer``'s counted sublayers, call ``run()``, unhook; per-sample MACs by layer name."""
    calls = {}
    handles = []
    for name, sub in layer.named_sublayers(include_self=True):
        if isinstance(sub, COUNTED_LAYERS):
            key = name or type(sub).__name__

            def hook(sub_layer, inputs, output, key=key):
                calls[key] = calls.get(key, 0) + layer_macs(sub_layer, inputs, output)

            handles.append(sub.register_forward_post_hook(hook))
    try:
        with _eval_mode(layer), paddle.no_grad():
            run()
    finally:
        for handle in handles:
            handle.remove()
    by_layer = {k: (v // batch if v % batch == 0 else v / batch) for k, v in calls.items()}
    return {"macs": sum(by_layer.values()), "params": trainable_params(layer), "by_layer": by_layer}


def count_flops(layer, *example_inputs, **kwargs):
    """MACs of one forward of ``layer(*example_inputs, **kwargs)``, per sample.

    Returns ``{"macs": total per sample, "params": trainable parameter count,
    "by_layer": {sublayer name: per-sample MACs}}`` (only layers that ran; their sum is
    ``macs``). The batch is the leading dimension of the first tensor in the inputs. See the
    module doc for what is and is not counted (grid_sample and interpolate are not).
    """
    first = _first_tensor(list(example_inputs) + list(kwargs.values()))
    batch = int(first.shape[0]) if first is not None and len(first.shape) > 0 else 1
    return _count(layer, lambda: layer(*example_inputs, **kwargs), batch)


def fomm_flops(kp_detector, generator, size, num_channels=None):
    """Per-frame MACs of FOMM inference at ``size`` x ``size`` (random frames, batch 1).

    Returns ``{"kp_detector": one frame, "generator_cached": the generator per driving frame
    with the source features cached (``generator.encode`` once, then ``full_outputs=False``),
    "source_encoder": ``generator.encode`` (once per source image), "per_frame": kp_detector +
    generator_cached}``. grid_sample, interpolate and the anti-aliasing blur are not counted.
    """
    channels = num_channels or getattr(generator, "num_channels", 3)
    with _eval_mode(kp_detector, generator):
        rng = np.random.default_rng(0)  # not paddle's global generator: counting draws nothing from it
        source, driving = (paddle.to_tensor(rng.uniform(0, 1, (1, channels, size, size)).astype("float32"))
                           for _ in range(2))
        with paddle.no_grad():
            kp_source = kp_detector(source)
            kp_driving = kp_detector(driving)
            cache = generator.encode(source)
        kp = count_flops(kp_detector, driving)
        cached = count_flops(generator, source, kp_driving=kp_driving, kp_source=kp_source, source_cache=cache,
                             full_outputs=False)
        encoder = _count(generator, lambda: generator.encode(source), 1)
    return {
        "kp_detector": kp["macs"],
        "generator_cached": cached["macs"],
        "source_encoder": encoder["macs"],
        "per_frame": kp["macs"] + cached["macs"],
    }
