"""Fresh reference outputs of the original FOMM (via fomm_torch.py) for any config and seed.

API::

    make_reference(model_params, seed, size, n_frames, out_dir, name="fomm_ref",
                   normalization=None, align_corners=None, num_threads=2) -> dict of paths

writes, under ``out_dir``:

* ``<name>_zip.pth.tar`` / ``<name>_legacy.pth.tar``: ``{'generator', 'kp_detector', 'discriminator': {},
  'epoch': 0}`` in torch's zip and legacy (pre-1.6) formats, like the original's checkpoints;
* ``<name>.npz``: the fixture's keys (weights ``kp_detector/<name>``, ``generator/<name>``, ``input/*``,
  ``kp_source/*``, ``kp_driving/*``, ``kp_driving_initial/*``, ``kp_norm/*``, ``out/*``,
  ``dense_motion/deformation``, ``normalize/adapt_movement_scale``, ``config_yaml``, ``meta_json``);
  keys of outputs the config does not produce (jacobians without ``estimate_jacobian``, the occlusion
  map without ``estimate_occlusion_map``) are absent;
* ``<name>.yaml``: the same original-layout config as ``config_yaml``;

and returns ``{'checkpoint_zip', 'checkpoint_legacy', 'npz', 'config'}`` -> path.

CLI::

    python tests/reference/make_reference.py --out DIR --seed N [--size S] [--frames F] --variant NAME
    python tests/reference/make_reference.py --list

The weights are deterministic functions of ``seed`` and deliberately far from the original's
initialisation: every conv weight/bias random; BatchNorm affine random and running statistics
calibrated on the inputs then perturbed (so eval-mode activations stay O(1)); the jacobian head
(zero-initialised in the original) random, so jacobians are not the identity; the keypoint, jacobian,
mask, occlusion and final heads scaled so their outputs are neither flat nor saturated.
"""

import argparse
import copy
import json
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

try:
    from . import fomm_torch as ft
except ImportError:  # run as a script, or imported with tests/reference on sys.path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import fomm_torch as ft

__all__ = ["make_reference", "VARIANTS", "variant_params", "BASE_MODEL_PARAMS", "DEFAULT_NORMALIZATION"]

#: The demo's normalisation as the fixture ran it (relative movement + jacobian, adapted scale).
DEFAULT_NORMALIZATION = {"adapt_movement_scale": True, "use_relative_movement": True,
                         "use_relative_jacobian": True}

#: vox-256 layout at small widths: 128x128 frames keep num_blocks 5 at scale_factor 0.25.
BASE_MODEL_PARAMS = {
    "common_params": {"num_kp": 10, "num_channels": 3, "estimate_jacobian": True},
    "kp_detector_params": {"temperature": 0.1, "block_expansion": 16, "max_features": 64,
                           "scale_factor": 0.25, "num_blocks": 5},
    "generator_params": {"block_expansion": 16, "max_features": 64, "num_down_blocks": 2,
                         "num_bottleneck_blocks": 3, "estimate_occlusion_map": True,
                         "dense_motion_params": {"block_expansion": 16, "max_features": 64,
                                                 "num_blocks": 5, "scale_factor": 0.25}},
}


def _variant(size, changes=None, normalization=None, doc=""):
    return {"size": size, "changes": changes or {}, "normalization": normalization or {}, "doc": doc}


#: name -> {size, changes: {"section.key" or "generator_params.dense_motion_params.key": value}, ...}
VARIANTS = {
    "vox": _variant(128, doc="vox-256 layout at small widths (fixture-like, other widths and weights)"),
    "nojac": _variant(128, {"common_params.estimate_jacobian": False},
                      {"use_relative_jacobian": False},
                      doc="estimate_jacobian False (no jacobian head, pure translation sparse motions)"),
    "single_jac": _variant(128, {"kp_detector_params.single_jacobian_map": True},
                           doc="single_jacobian_map True, as mgif-256"),
    "kp5": _variant(64, {"common_params.num_kp": 5,
                         "kp_detector_params.num_blocks": 4, "kp_detector_params.scale_factor": 0.5,
                         "kp_detector_params.block_expansion": 8,
                         "generator_params.block_expansion": 8,
                         "generator_params.dense_motion_params.num_blocks": 4,
                         "generator_params.dense_motion_params.scale_factor": 0.5,
                         "generator_params.dense_motion_params.block_expansion": 8},
                    doc="5 keypoints, 4 blocks, scale 0.5 (5x5 anti-alias), width 8, 64x64; dense motion "
                        "at 32x32 vs features at 16x16 (resized deformation and occlusion)"),
    "pad3": _variant(128, {"kp_detector_params.pad": 3},
                     doc="keypoint/jacobian heads with padding 3 (heatmap as large as the features)"),
    "noocc": _variant(128, {"generator_params.estimate_occlusion_map": False},
                      doc="estimate_occlusion_map False (no occlusion head, no occlusion_map output)"),
    "bigger": _variant(96, {"generator_params.num_down_blocks": 3,
                            "kp_detector_params.num_blocks": 3,
                            "generator_params.dense_motion_params.num_blocks": 3,
                            "generator_params.max_features": 128},
                       doc="96x96, num_down_blocks 3 (features 12x12 vs dense motion 24x24), 3-block hourglasses"),
    "noscale": _variant(32, {"kp_detector_params.scale_factor": 1,
                             "generator_params.dense_motion_params.scale_factor": 1},
                        doc="scale_factor 1: no anti-alias module (no 'down.weight'), 32x32"),
    "temp": _variant(128, {"kp_detector_params.temperature": 0.25,
                           "generator_params.dense_motion_params.kp_variance": 0.03,
                           "generator_params.num_bottleneck_blocks": 2},
                     doc="temperature 0.25, kp_variance 0.03, 2 bottleneck blocks"),
    "noadapt": _variant(128, normalization={"adapt_movement_scale": False},
                        doc="animate_params default: relative movement + jacobian, no scale adaptation"),
    "absolute": _variant(128, normalization={"adapt_movement_scale": False, "use_relative_movement": False,
                                             "use_relative_jacobian": False},
                         doc="no normalisation: the generator gets the driving keypoints as they are"),
}


def variant_params(name):
    """(model_params, size, normalization) of a named variant."""
    spec = VARIANTS[name]
    params = copy.deepcopy(BASE_MODEL_PARAMS)
    for dotted, value in spec["changes"].items():
        node = params
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    norm = dict(DEFAULT_NORMALIZATION)
    norm.update(spec["normalization"])
    return params, spec["size"], norm


# ----------------------------------------------------------------------------------------------
# deterministic weights

# Output scales the heads are set to. Decisive enough to exercise the maths (peaked keypoint heatmaps,
# non-uniform masks), mild enough that fp32 rounding noise stays far below the parity tolerances
# (check_against_fixture.py --float64 measures it).
KP_LOGIT_STD = 1.5      # std over H*W of keypoint logits / temperature
JACOBIAN_STD = 0.08     # std of the jacobian head's output before its bias [1, 0, 0, 1] + noise
MASK_LOGIT_STD = 1.0
OCCLUSION_LOGIT_STD = 1.0
FINAL_LOGIT_STD = 1.2
PIXEL_NOISE = 0.0       # per-pixel noise added to the smooth random frames


def _randn(gen, shape, std=1.0, mean=0.0):
    return torch.randn(shape, generator=gen) * std + mean


def _uniform(gen, shape, lo, hi):
    return torch.rand(shape, generator=gen) * (hi - lo) + lo


def _randomize_plain(module, gen):
    """Random conv weights/biases and BatchNorm affine parameters (running stats come later)."""
    with torch.no_grad():
        for _, m in module.named_modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(_randn(gen, m.weight.shape, std=(1.5 / fan_in) ** 0.5))
                if m.bias is not None:
                    m.bias.copy_(_randn(gen, m.bias.shape, std=0.1))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(_uniform(gen, m.weight.shape, 0.7, 1.3))
                m.bias.copy_(_randn(gen, m.bias.shape, std=0.1))


def _calibrate_bn(module, gen, run):
    """Set running stats from one train-mode pass (momentum 1), then perturb them randomly."""
    bns = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 1.0
    module.train()
    with torch.no_grad():
        run()
    module.eval()
    with torch.no_grad():
        for m, mom in zip(bns, saved):
            m.momentum = mom
            std = m.running_var.clamp_min(1e-4).sqrt()
            m.running_mean.add_(_randn(gen, std.shape) * 0.1 * std)
            m.running_var.mul_(_uniform(gen, std.shape, 0.8, 1.25))
            m.num_batches_tracked.fill_(int(torch.randint(100, 100000, (1,), generator=gen)))


def _output_std(module, conv, run, reduce_hw=False):
    """Std of conv's output during run() (over H*W per map and then averaged, if reduce_hw)."""
    seen = []
    handle = conv.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    try:
        with torch.no_grad():
            run()
    finally:
        handle.remove()
    out = torch.cat(seen)
    if reduce_hw:
        return float(out.flatten(2).std(dim=2).mean())
    return float(out.std())


def _scale_head(conv, factor, bias=None):
    with torch.no_grad():
        conv.weight.mul_(factor)
        if bias is not None:
            conv.bias.copy_(bias)
        elif conv.bias is not None:
            conv.bias.mul_(factor)


def _randomize_kp_detector(kp_detector, gen, frames):
    _randomize_plain(kp_detector, gen)
    _calibrate_bn(kp_detector, gen, lambda: kp_detector(frames))
    # keypoint logits / temperature: std KP_LOGIT_STD over the heatmap (peaked, but not one-hot)
    std = _output_std(kp_detector, kp_detector.kp, lambda: kp_detector(frames), reduce_hw=True)
    _scale_head(kp_detector.kp, KP_LOGIT_STD * kp_detector.temperature / max(std, 1e-8))
    if kp_detector.jacobian is not None:
        # the original zero-initialises this head (identity jacobians): make it clearly non-identity
        jac = kp_detector.jacobian
        n = kp_detector.num_jacobian_maps
        ident = torch.tensor([1.0, 0.0, 0.0, 1.0] * n)
        noise = _randn(gen, (4 * n,), std=0.1)
        with torch.no_grad():
            jac.bias.zero_()
        std = _output_std(kp_detector, jac, lambda: kp_detector(frames))
        _scale_head(jac, JACOBIAN_STD / max(std, 1e-8), bias=ident + noise)
        # keep every jacobian well conditioned (normalize_kp and the sparse motions invert them)
        for _ in range(30):
            with torch.no_grad():
                j = kp_detector(frames)["jacobian"]
            dev = float((j - torch.eye(2)).abs().max())
            if float(torch.linalg.det(j).min()) >= 0.6 and dev <= 0.45:
                break
            with torch.no_grad():
                jac.weight.mul_(0.8)
                noise.mul_(0.8)
                jac.bias.copy_(ident + noise)


def _randomize_generator(generator, gen, run):
    _randomize_plain(generator, gen)
    _calibrate_bn(generator, gen, run)
    dm = generator.dense_motion_network
    if dm is not None:
        std = _output_std(generator, dm.mask, run)
        _scale_head(dm.mask, MASK_LOGIT_STD / max(std, 1e-8))
        if dm.occlusion is not None:
            std = _output_std(generator, dm.occlusion, run)
            _scale_head(dm.occlusion, OCCLUSION_LOGIT_STD / max(std, 1e-8), bias=_randn(gen, (1,), std=0.2, mean=0.5))
    # heads changed the warped features: recompute the statistics, then keep the output unsaturated
    _calibrate_bn(generator, gen, run)
    std = _output_std(generator, generator.final, run)
    _scale_head(generator.final, FINAL_LOGIT_STD / max(std, 1e-8))


# ----------------------------------------------------------------------------------------------
# inputs


def _smooth_image(gen, n, channels, size, cells):
    coarse = torch.rand((n, channels, cells, cells), generator=gen)
    img = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    img = img + PIXEL_NOISE * torch.randn((n, channels, size, size), generator=gen)
    return img.clamp(0.0, 1.0)


def _make_inputs(gen, channels, size, n_frames):
    source = _smooth_image(gen, 1, channels, size, 6)
    base = _smooth_image(gen, 1, channels, size, 6)
    frames = [base]
    for _ in range(1, n_frames):
        # small random affine motion of the initial frame, plus fresh noise
        ang = float(_randn(gen, (), std=0.12))
        sc = float(_uniform(gen, (), 0.9, 1.1))
        tx, ty = (float(v) for v in _randn(gen, (2,), std=0.08))
        theta = torch.tensor([[[sc * np.cos(ang), -sc * np.sin(ang), tx],
                               [sc * np.sin(ang), sc * np.cos(ang), ty]]], dtype=torch.float32)
        grid = F.affine_grid(theta, (1, channels, size, size), align_corners=False)
        moved = F.grid_sample(base, grid, mode="bilinear", padding_mode="border", align_corners=False)
        frames.append((moved + (2 * PIXEL_NOISE / 3) * torch.randn(moved.shape, generator=gen)).clamp(0.0, 1.0))
    return source.contiguous(), torch.cat(frames).contiguous()


# ----------------------------------------------------------------------------------------------
# config


def _original_config(model_params, size, normalization):
    """A whole original-layout config (as config/vox-256.yaml) around model_params."""
    channels = model_params["common_params"]["num_channels"]
    return {
        "dataset_params": {"root_dir": "data/reference", "frame_shape": [size, size, channels],
                           "id_sampling": False},
        "model_params": dict(copy.deepcopy(model_params),
                             discriminator_params={"scales": [1], "block_expansion": 32, "max_features": 512,
                                                   "num_blocks": 4, "sn": True}),
        "animate_params": {"num_pairs": 50, "format": ".mp4", "normalization_params": dict(normalization)},
        "visualizer_params": {"kp_size": 5, "draw_border": True, "colormap": "gist_rainbow"},
    }


# ----------------------------------------------------------------------------------------------


def _run(kp_detector, generator, source, driving, normalization):
    """The fixture README's "What was run": batched kp, then per-frame normalize_kp + generator."""
    res = {}
    with torch.no_grad():
        kp_source = kp_detector(source)
        kp_driving = kp_detector(driving)
        kp_initial = {k: v[:1] for k, v in kp_driving.items()}
        scale = ft.movement_scale(kp_source, kp_initial) if normalization["adapt_movement_scale"] else 1.0
        norms, outs = [], []
        for i in range(driving.shape[0]):
            kp_i = {k: v[i:i + 1] for k, v in kp_driving.items()}
            kp_norm = ft.normalize_kp(kp_source, kp_i, kp_initial, **normalization)
            norms.append(kp_norm)
            outs.append(generator(source, kp_source=kp_source, kp_driving=kp_norm))
    res["normalize/adapt_movement_scale"] = np.array(scale, dtype=np.float64)
    for prefix, kp in (("kp_source", kp_source), ("kp_driving", kp_driving), ("kp_driving_initial", kp_initial)):
        for k, v in kp.items():
            res["%s/%s" % (prefix, k)] = v.numpy().astype(np.float32)
    for k in norms[0]:
        res["kp_norm/" + k] = torch.cat([n[k] for n in norms]).numpy().astype(np.float32)
    for k in outs[0]:
        key = "dense_motion/deformation" if k == "deformation" else "out/" + k
        res[key] = torch.cat([o[k] for o in outs]).numpy().astype(np.float32)
    return res


def make_reference(model_params, seed, size, n_frames, out_dir, name="fomm_ref", normalization=None,
                   align_corners=None, num_threads=2):
    """Build fomm_torch modules from original-layout ``model_params``, give them seeded random weights,
    run kp detector + normalize_kp + generator on seeded random frames, write checkpoints and an npz.

    model_params: ``{'common_params', 'kp_detector_params', 'generator_params'}`` as in the original
    YAML (a whole config with ``model_params`` is accepted). size: frame height = width. n_frames:
    driving frames (frame 0 is the initial one). normalization: overrides of DEFAULT_NORMALIZATION
    (``use_relative_jacobian`` is dropped when the config has no jacobians). align_corners: grid_sample
    setting (None: ``fomm_torch.GRID_SAMPLE_ALIGN_CORNERS``, False unless changed).
    Returns ``{'checkpoint_zip', 'checkpoint_legacy', 'npz', 'config'}`` -> absolute path.
    """
    if "model_params" in model_params:
        model_params = model_params["model_params"]
    model_params = copy.deepcopy({k: model_params[k] for k in
                                  ("common_params", "kp_detector_params", "generator_params")})
    norm = dict(DEFAULT_NORMALIZATION)
    norm.update(normalization or {})
    if not model_params["common_params"].get("estimate_jacobian", False):
        norm["use_relative_jacobian"] = False
    if n_frames < 1:
        raise ValueError("n_frames must be >= 1")

    threads = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        gen = torch.Generator().manual_seed(int(seed))
        kp_detector, generator = ft.build_from_original_config(model_params, align_corners=align_corners)
        channels = model_params["common_params"]["num_channels"]
        source, driving = _make_inputs(gen, channels, size, n_frames)

        _randomize_kp_detector(kp_detector, gen, torch.cat([source, driving]))
        with torch.no_grad():
            kp_s = kp_detector(source)
            kp_d = kp_detector(driving)
            kp_init = {k: v[:1] for k, v in kp_d.items()}
            kp_n = ft.normalize_kp(kp_s, kp_d, kp_init, **norm)  # batched: calibration only
        src_rep = source.expand(driving.shape[0], -1, -1, -1)
        kp_s_rep = {k: v.expand(driving.shape[0], *v.shape[1:]) for k, v in kp_s.items()}
        _randomize_generator(generator, gen,
                             lambda: generator(src_rep, kp_driving=kp_n, kp_source=kp_s_rep))
        kp_detector.eval()
        generator.eval()

        results = _run(kp_detector, generator, source, driving, norm)
    finally:
        torch.set_num_threads(threads)

    os.makedirs(out_dir, exist_ok=True)
    config = _original_config(model_params, size, norm)
    config_yaml = yaml.safe_dump(config, sort_keys=False)
    kp_sd = kp_detector.state_dict()
    gen_sd = generator.state_dict()
    ckpt = {"generator": gen_sd, "kp_detector": kp_sd, "discriminator": {}, "epoch": 0}
    paths = {
        "checkpoint_zip": os.path.abspath(os.path.join(out_dir, name + "_zip.pth.tar")),
        "checkpoint_legacy": os.path.abspath(os.path.join(out_dir, name + "_legacy.pth.tar")),
        "npz": os.path.abspath(os.path.join(out_dir, name + ".npz")),
        "config": os.path.abspath(os.path.join(out_dir, name + ".yaml")),
    }
    torch.save(ckpt, paths["checkpoint_zip"])
    torch.save(ckpt, paths["checkpoint_legacy"], _use_new_zipfile_serialization=False)
    with open(paths["config"], "w") as f:
        f.write(config_yaml)

    arrays = OrderedDict()
    for prefix, sd in (("kp_detector", kp_sd), ("generator", gen_sd)):
        for k, v in sd.items():
            arrays["%s/%s" % (prefix, k)] = v.detach().cpu().numpy()
    arrays["input/source"] = source.numpy()
    arrays["input/driving"] = driving.numpy()
    arrays.update(results)
    arrays["config_yaml"] = np.array(config_yaml)
    arrays["meta_json"] = np.array(json.dumps({
        "generator": "tests/reference/make_reference.py (fomm_torch, independent of the Paddle port)",
        "seed": int(seed), "size": int(size), "n_driving": int(n_frames), "normalization": norm,
        "grid_sample": "align_corners=%s" % (ft.GRID_SAMPLE_ALIGN_CORNERS if align_corners is None
                                             else bool(align_corners)),
        "torch_version": torch.__version__, "numpy_version": np.__version__,
        "params": {"kp_detector": sum(p.numel() for p in kp_detector.parameters()),
                   "generator": sum(p.numel() for p in generator.parameters())},
    }))
    np.savez(paths["npz"], **arrays)
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write original-FOMM reference outputs for a named variant.")
    ap.add_argument("--out", help="output folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variant", default="vox", choices=sorted(VARIANTS))
    ap.add_argument("--size", type=int, default=None, help="frame size (default: the variant's)")
    ap.add_argument("--frames", type=int, default=4, help="driving frames (default 4)")
    ap.add_argument("--name", default=None, help="file stem (default: the variant name)")
    ap.add_argument("--align-corners", action="store_true", help="grid_sample align_corners=True (torch<1.3)")
    ap.add_argument("--list", action="store_true", help="list the variants and exit")
    args = ap.parse_args(argv)
    if args.list:
        for k in VARIANTS:
            print("%-11s %3d  %s" % (k, VARIANTS[k]["size"], VARIANTS[k]["doc"]))
        return 0
    if not args.out:
        ap.error("--out is required")
    params, size, norm = variant_params(args.variant)
    paths = make_reference(params, args.seed, args.size or size, args.frames, args.out,
                           name=args.name or args.variant, normalization=norm,
                           align_corners=True if args.align_corners else None)
    for k, v in paths.items():
        print("%-18s %s" % (k, v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
