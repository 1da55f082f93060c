"""``ppfom prune`` / ``tools/prune.py``: structured channel pruning of a mobile FOMM.

    python tools/prune.py --config-file configs/firstorder_synthetic_64_mobile.yaml \\
        --load output_dir/RUN/checkpoints/latest.pdparams --ratio 0.5 --output output_dir/pruned

writes OUTPUT/config.yaml (the config with the pruned widths), OUTPUT/pruned.pdparams
(``kp_detector`` and ``generator``, loadable strictly with that config) and OUTPUT/report.json
(parameters and multiply-accumulates per frame, before and after). Fine-tune it next, with
distillation from the teacher of the config:

    python tools/main.py --config-file OUTPUT/config.yaml --load OUTPUT/pruned.pdparams
"""
HELP = "prune channels of a mobile FOMM by measured importance and rewrite its config"


def add_arguments(parser):
    add = parser.add_argument
    add("--config-file", "--config", dest="config", required=True, help="YAML path or config name in configs/")
    add("--load", required=True, help="weights of the mobile model (.pdparams or a training checkpoint)")
    add("--ratio", type=float, required=True, help="fraction of each prunable layer's channels to remove, in [0, 1)")
    add("--output", default=None, help="output folder (default: output_dir/pruned-<config>-r<ratio>)")
    add("--calibration", default=None,
        help="dataset root (root/train/...) whose frame pairs measure importance (default: the config's "
             "dataset.train.dataroot)")
    add("--pairs", type=int, default=32, help="frame pairs to measure importance on (default 32)")
    add("--min-channels", type=int, default=4, help="never keep fewer channels in a layer (default 4)")
    add("--only", choices=("kp_detector", "generator"), default=None, help="prune one network only")
    add("-o", "--opt", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key (repeatable)")
    add("--overwrite", action="store_true", help="replace an existing output folder")


def calibration_pairs(cfg, root, count, batch=8):
    """Batches of (source, driving) NCHW float32 pairs from the training split, in a fixed order."""
    import numpy as np

    from ..data import frames_dataset  # noqa: F401  (registers FirstOrderDataset)
    from ..errors import PpfomError
    from ..registry import DATASETS

    section = dict((cfg.get("dataset") or {}).get("train") or {})
    section.setdefault("name", "FirstOrderDataset")
    if root:
        section["dataroot"] = str(root)
    if not section.get("dataroot"):
        raise PpfomError("no calibration data: pass --calibration DATASET_ROOT (a folder with train/)")
    for key in ("transforms", "num_repeats", "batch_size", "num_workers", "use_shared_memory"):
        section.pop(key, None)
    dataset = DATASETS.build(section, where="calibration dataset", seed=0)
    if len(dataset) == 0:
        raise PpfomError(f"{section['dataroot']}: no training video to calibrate on")
    items = [dataset[i % len(dataset)] for i in range(count)]
    pairs = []
    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
        pairs.append((np.stack([i["source"] for i in chunk]).astype("float32"),
                      np.stack([i["driving"] for i in chunk]).astype("float32")))
    return pairs


def model_cost(fomm, size):
    """Per-frame MACs (see ppfom.flops) and trainable parameters of both networks."""
    from ..flops import fomm_flops, trainable_params

    return {"macs": fomm_flops(fomm.kp_detector, fomm.generator, size),
            "params": trainable_params(fomm.kp_detector) + trainable_params(fomm.generator)}


def run(args):
    import json
    import os
    import shutil
    import tempfile
    from pathlib import Path

    import yaml

    from ..api import load_fomm
    from ..config import find_config
    from ..errors import PpfomError
    from ..prune import prune_fomm

    config_path = find_config(args.config)
    out = Path(args.output or f"output_dir/pruned-{Path(config_path).stem}-r{args.ratio:g}")
    if out.exists() and not args.overwrite:
        raise PpfomError(f"{out} exists; pass --overwrite to replace it")
    fomm = load_fomm(config_path, weights=args.load, overrides=args.overrides)
    cfg = fomm.config
    pairs = calibration_pairs(cfg, args.calibration, args.pairs)
    which = (args.only,) if args.only else ("kp_detector", "generator")
    pruned_cfg, state = prune_fomm(cfg, fomm.kp_detector, fomm.generator, pairs, args.ratio,
                                   min_channels=args.min_channels, which=which)
    # The numerics the weights were loaded with, written out: "auto" must not change meaning.
    pruned_cfg["model"].setdefault("numerics", {})
    pruned_cfg["model"]["numerics"]["align_corners"] = bool(fomm.numerics.align_corners)

    # Check before writing: the pruned weights load strictly into networks built from the new config.
    pruned = load_fomm(pruned_cfg, weights=None)
    from ..checkpoint.state import load_state_strict

    load_state_strict(pruned.kp_detector, state["kp_detector"], "pruned [kp_detector]")
    load_state_strict(pruned.generator, state["generator"], "pruned [generator]")
    size = int(pairs[0][0].shape[-1])
    report = {"ratio": args.ratio, "which": list(which), "config": str(config_path), "weights": str(args.load),
              "before": model_cost(fomm, size), "after": model_cost(pruned, size)}

    import paddle

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (tmp / "config.yaml").write_text(yaml.safe_dump(pruned_cfg, sort_keys=False))
        paddle.save({"kp_detector": pruned.kp_detector.state_dict(), "generator": pruned.generator.state_dict()},
                    str(tmp / "pruned.pdparams"))
        (tmp / "report.json").write_text(json.dumps(report, indent=1, default=float))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    b, a = report["before"], report["after"]
    print(f"pruned {', '.join(which)} by {args.ratio:g}: per-frame MACs {b['macs']['per_frame'] / 1e6:.1f}M -> "
          f"{a['macs']['per_frame'] / 1e6:.1f}M, parameters {b['params'] / 1e6:.3f}M -> {a['params'] / 1e6:.3f}M; "
          f"wrote {out}")
    return 0
