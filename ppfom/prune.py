"""Structured channel pruning of the mobile FOMM networks.

A *channel space* is a set of feature channels that one layer produces and others read: the
output of a mobile down/up block, the hidden width of a mobile residual block, the hidden
layers of a head. Removing channel c of a space removes row c of its producer (conv and
BatchNorm), the matching depthwise filters, and column c of every consumer (at the offset
where the space sits inside a concatenation). Spaces that a residual sum ties together (the
generator's bottleneck trunk), the image/heatmap inputs and the outputs (keypoints, masks,
RGB) are never pruned.

Importance is measured on data: the mean absolute activation of each channel where it leaves
its producer (after the ReLU when there is one), over calibration frame pairs run through the
keypoint detector and the generator. Each space keeps its ``round(width * (1 - ratio))`` most
important channels (at least ``min_channels``). The new widths are written into the config
(``widths`` of each network, see :mod:`ppfom.modules`), so the pruned weights load strictly
into networks built from it.

    pruned_cfg, state = prune_fomm(cfg, kp_detector, generator, frame_pairs, ratio=0.5)
"""
import copy
from dataclasses import dataclass, field
from typing import List, Tuple

import numpy as np

from .errors import ConfigError, PpfomError

BN = ("weight", "bias", "_mean", "_variance")


@dataclass
class Space:
    """One prunable channel space."""

    widths_key: str                 # key in the network's ``widths``
    index: int                      # position in that list
    size: int
    producers: List[str]            # parameter names whose axis 0 is this space
    consumers: List[Tuple[str, int, int]] = field(default_factory=list)  # (name, axis, offset)
    probe: str = ""                 # sublayer whose output measures importance
    relu: bool = True               # the probe's output goes through a ReLU before use


def _bn(prefix):
    return [f"{prefix}.{k}" for k in BN]


def _block_input(prefix, offset=0):
    """Where a mobile down/up block reads its input: depthwise conv + BN rows, pointwise columns."""
    rows = [f"{prefix}.conv.weight", *_bn(f"{prefix}.norm")]
    return [(name, 0, offset) for name in rows] + [(f"{prefix}.conv1.weight", 1, offset)]


def _head_input(prefix, offset=0):
    return [(f"{prefix}.weight", 1, offset)]


def hourglass_spaces(prefix, widths, heads):
    """Spaces of a mobile hourglass at ``prefix`` whose output feeds the first conv of ``heads``."""
    enc, dec = list(widths["encoder"]), list(widths["decoder"])
    n = len(enc)
    spaces = []
    # Decoder inputs: up_blocks[0] reads e_n; up_blocks[j] reads concat(d^{j-1}, e_{n-j}).
    for i in range(1, n + 1):  # encoder output e_i (enc[i - 1])
        down = f"{prefix}.encoder.down_blocks.{i - 1}"
        consumers = []
        if i < n:
            consumers += _block_input(f"{prefix}.encoder.down_blocks.{i}")
            consumers += _block_input(f"{prefix}.decoder.up_blocks.{n - i}", offset=dec[n - i - 1])
        else:
            consumers += _block_input(f"{prefix}.decoder.up_blocks.0")
        spaces.append(Space("encoder", i - 1, enc[i - 1], [f"{down}.conv1.weight", *_bn(f"{down}.norm1")],
                            consumers, probe=f"{down}.norm1"))
    for j in range(n):
        up = f"{prefix}.decoder.up_blocks.{j}"
        if j < n - 1:
            consumers = _block_input(f"{prefix}.decoder.up_blocks.{j + 1}")
        else:
            consumers = [c for head in heads for c in _head_input(head)]
        spaces.append(Space("decoder", j, dec[j], [f"{up}.conv1.weight", *_bn(f"{up}.norm1")], consumers,
                            probe=f"{up}.norm1"))
    return spaces


def head_spaces(key, prefix, widths, step, relu):
    """Hidden layers of a 3-conv head (Sequential indices 0, step, 2*step)."""
    spaces = []
    for k, width in enumerate(widths):
        conv, nxt = f"{prefix}.{k * step}", f"{prefix}.{(k + 1) * step}"
        spaces.append(Space(key, k, width, [f"{conv}.weight", f"{conv}.bias"], _head_input(nxt),
                            probe=conv, relu=relu))
    return spaces


def kp_detector_spaces(kp_detector):
    widths = kp_detector.default_widths()
    heads = ["kp.0"] + (["jacobian.0"] if kp_detector.jacobian is not None else [])
    spaces = hourglass_spaces("predictor", widths, heads)
    spaces += head_spaces("kp", "kp", widths["kp"], 1, relu=False)
    if kp_detector.jacobian is not None:
        spaces += head_spaces("jacobian", "jacobian", widths["jacobian"], 1, relu=False)
    return widths, spaces


def dense_motion_spaces(dense_motion, prefix="dense_motion_network"):
    widths = dense_motion.default_widths()
    heads = [f"{prefix}.mask.0"] + ([f"{prefix}.occlusion.0"] if dense_motion.occlusion is not None else [])
    spaces = hourglass_spaces(f"{prefix}.hourglass", widths, heads)
    spaces += head_spaces("mask", f"{prefix}.mask", widths["mask"], 2, relu=True)
    if dense_motion.occlusion is not None:
        spaces += head_spaces("occlusion", f"{prefix}.occlusion", widths["occlusion"], 2, relu=True)
    return widths, spaces


def generator_spaces(generator):
    widths = generator.default_widths()
    spaces = []
    first, down, up = widths["first"], widths["down"], widths["up"]
    # With skip connections, skips.{i} reads encoder level len(down) - 1 - i (the last ``first``
    # width, then each down block's but the trunk) and adds into the output of up block i.
    skips = generator.skips is not None

    def skip_reading(level):
        return [(f"skips.{len(down) - 1 - level}.weight", 1, 0)] if skips else []

    for k in range(len(first)):
        producers = [f"first.{k}.conv.weight", *_bn(f"first.{k}.norm")]
        if k + 1 < len(first):
            consumers = [(f"first.{k + 1}.conv.weight", 1, 0)]
        else:
            consumers = _block_input("down_blocks.0") + skip_reading(0)
        spaces.append(Space("first", k, first[k], producers, consumers, probe=f"first.{k}.norm"))
    for k in range(len(down) - 1):  # the last one is the residual trunk: not prunable
        spaces.append(Space("down", k, down[k], [f"down_blocks.{k}.conv1.weight", *_bn(f"down_blocks.{k}.norm1")],
                            _block_input(f"down_blocks.{k + 1}") + skip_reading(k + 1),
                            probe=f"down_blocks.{k}.norm1"))
    for k, hidden in enumerate(widths["bottleneck_hidden"]):
        block = f"bottleneck.r{k}"
        producers = [f"{block}.conv_pw.weight", *_bn(f"{block}.norm_pw"), f"{block}.conv_dw.weight",
                     *_bn(f"{block}.norm_dw")]
        spaces.append(Space("bottleneck_hidden", k, hidden, producers, [(f"{block}.conv_pw_linear.weight", 1, 0)],
                            probe=f"{block}.norm_dw"))
    for k in range(len(up)):
        consumers = _block_input(f"up_blocks.{k + 1}") if k + 1 < len(up) else _head_input("final.0")
        if k == len(up) - 1 and generator.blend is not None:
            consumers = consumers + [("blend.weight", 1, 0)]  # the blend reads the last one too
        producers = [f"up_blocks.{k}.conv1.weight", *_bn(f"up_blocks.{k}.norm1")]
        producers += [f"skips.{k}.weight"] if skips else []  # its sum with the block's output
        if k == len(up) - 1 and generator.image_skip is not None:
            producers.append("image_skip.weight")  # the source-image skip adds to the last one
        spaces.append(Space("up", k, up[k], producers, consumers, probe=f"up_blocks.{k}.norm1"))
    spaces += head_spaces("final", "final", widths["final"], 2, relu=True)
    return widths, spaces


def _require_mobile(net, what):
    if not getattr(net, "mobile_net", False):
        raise ConfigError(f"{what}: pruning works on the mobile networks (mobile_net: true); this one is not")


# ----------------------------------------------------------------------------- importance
class ActivationProbe:
    """Mean |activation| per channel at named sublayers, accumulated over forward passes."""

    def __init__(self, net, spaces, prefix=""):
        self.sums, self.counts, self.handles = {}, {}, []
        layers = dict(net.named_sublayers())
        for space in spaces:
            name = space.probe[len(prefix):] if prefix and space.probe.startswith(prefix) else space.probe
            if name not in layers:
                raise PpfomError(f"pruning: no sublayer {space.probe!r} to measure")
            if space.probe in self.sums:
                continue
            self.sums[space.probe] = None
            self.handles.append(layers[name].register_forward_post_hook(self._hook(space.probe, space.relu)))

    def _hook(self, key, relu):
        def hook(layer, inputs, output):
            value = output.numpy()
            if relu:
                value = np.maximum(value, 0)
            per_channel = np.abs(value).mean(axis=(0, 2, 3))
            self.sums[key] = per_channel if self.sums[key] is None else self.sums[key] + per_channel
            self.counts[key] = self.counts.get(key, 0) + 1
        return hook

    def importance(self, key):
        if self.sums.get(key) is None:
            raise PpfomError(f"pruning: {key} never ran on the calibration data")
        return self.sums[key] / self.counts[key]

    def remove(self):
        for handle in self.handles:
            handle.remove()


def measure(kp_detector, generator, pairs, kp_spaces, gen_spaces):
    """Importance of every space, from ``pairs`` of (source, driving) NCHW float32 batches."""
    import paddle

    kp_detector.eval()
    generator.eval()
    kp_probe = ActivationProbe(kp_detector, kp_spaces)
    gen_probe = ActivationProbe(generator, gen_spaces)
    try:
        with paddle.no_grad():
            for source, driving in pairs:
                source, driving = paddle.to_tensor(source), paddle.to_tensor(driving)
                kp_source, kp_driving = kp_detector(source), kp_detector(driving)
                generator(source, kp_driving=kp_driving, kp_source=kp_source, full_outputs=False)
    finally:
        kp_probe.remove()
        gen_probe.remove()
    return ({s.probe: kp_probe.importance(s.probe) for s in kp_spaces},
            {s.probe: gen_probe.importance(s.probe) for s in gen_spaces})


# ----------------------------------------------------------------------------- surgery
def keep_indices(importance, ratio, min_channels):
    size = len(importance)
    keep = max(min(size, min_channels), int(round(size * (1.0 - ratio))))
    order = np.argsort(-np.asarray(importance), kind="stable")[:keep]
    return np.sort(order)


def slice_state(state, spaces, kept):
    """``state`` with every space's dropped channels removed (rows of producers, columns of consumers)."""
    masks = {}

    def mask(name, axis):
        shape = np.asarray(state[name]).shape
        return masks.setdefault((name, axis), np.ones(shape[axis], dtype=bool))

    for space in spaces:
        dropped = np.setdiff1d(np.arange(space.size), kept[space.widths_key, space.index])
        for name in space.producers:
            if name not in state:
                raise PpfomError(f"pruning: the weights have no {name}")
            m = mask(name, 0)
            if m.shape[0] != space.size:
                raise PpfomError(f"pruning: {name} has {m.shape[0]} rows, its space {space.widths_key} {space.size}")
            m[dropped] = False
        for name, axis, offset in space.consumers:
            if name not in state:
                raise PpfomError(f"pruning: the weights have no {name}")
            mask(name, axis)[offset + dropped] = False
    out = {}
    for name, value in state.items():
        array = np.asarray(value)
        for axis in range(array.ndim):
            m = masks.get((name, axis))
            if m is not None:
                array = np.compress(m, array, axis=axis)
        out[name] = np.ascontiguousarray(array)
    return out


def _pruned_widths(widths, spaces, kept):
    new = copy.deepcopy(widths)
    for space in spaces:
        new[space.widths_key][space.index] = int(len(kept[space.widths_key, space.index]))
    return new


def prune_network(state, spaces, widths, importance, ratio, min_channels):
    kept = {(s.widths_key, s.index): keep_indices(importance[s.probe], ratio, min_channels) for s in spaces}
    return _pruned_widths(widths, spaces, kept), slice_state(state, spaces, kept)


def prune_fomm(cfg, kp_detector, generator, pairs, ratio, min_channels=4, which=("kp_detector", "generator")):
    """Prune the mobile networks; returns (config with the new widths, {"kp_detector", "generator"} states)."""
    if not 0.0 <= float(ratio) < 1.0:
        raise ConfigError(f"--ratio must be in [0, 1), not {ratio}")
    _require_mobile(kp_detector, "the keypoint detector")
    _require_mobile(generator, "the generator")
    kp_widths, kp_spaces = kp_detector_spaces(kp_detector)
    gen_widths, gen_spaces = generator_spaces(generator)
    dm_widths, dm_spaces = ((None, []) if generator.dense_motion_network is None
                            else dense_motion_spaces(generator.dense_motion_network))
    kp_importance, gen_importance = measure(kp_detector, generator, pairs, kp_spaces, gen_spaces + dm_spaces)

    cfg = copy.deepcopy(cfg)
    gen_section = cfg["model"]["generator"]
    kp_state = {k: v.numpy() for k, v in kp_detector.state_dict().items()}
    gen_state = {k: v.numpy() for k, v in generator.state_dict().items()}
    if "kp_detector" in which:
        new_widths, kp_state = prune_network(kp_state, kp_spaces, kp_widths, kp_importance, ratio,
                                             min_channels)
        gen_section["kp_detector_cfg"]["widths"] = new_widths
    if "generator" in which:
        new_widths, gen_state = prune_network(gen_state, gen_spaces, gen_widths, gen_importance, ratio,
                                              min_channels)
        gen_section["generator_cfg"]["widths"] = new_widths
        if dm_spaces:
            new_widths, gen_state = prune_network(gen_state, dm_spaces, dm_widths, gen_importance, ratio,
                                                  min_channels)
            gen_section["generator_cfg"]["dense_motion_params"]["widths"] = new_widths
    return cfg, {"kp_detector": kp_state, "generator": gen_state}
