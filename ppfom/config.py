"""Configuration files: ``_base_`` inheritance, the original FOMM layout, ``-o`` overrides, checks.

Every other module reads the *normalized* layout that :func:`load_config` returns, which is
PaddleGAN's (``configs/firstorder_vox_256.yaml`` there)::

    epochs, output_dir
    dataset: {train: {...}, test: {...}}
    model:
      name, common_params
      generator: {name, kp_detector_cfg, generator_cfg: {..., dense_motion_params}}
      discriminator: {name, discriminator_cfg}
      train_params: {num_epochs, scales, checkpoint_freq, transform_params, loss_weights}
      numerics: {align_corners, antialias, border_fix, config_layout}      # ppfom's own
    lr_scheduler: {name, epoch_milestones, milestone_unit, gamma, lr_generator, lr_discriminator, lr_kp_detector}
    optimizer, log_config, snapshot_config, validate, ...

A file in the original repository's layout (``model_params``, ``dataset_params``,
``train_params`` ...) is converted to this on load, so its users can bring it as it is.

Everything a user can get wrong raises :class:`~ppfom.errors.ConfigError` with a one-line
message that names the file and the dotted key.
"""
import copy
import math
from pathlib import Path

import yaml

from .errors import ConfigError

__all__ = [
    "CONFIG_DIR",
    "NUMERICS_DEFAULTS",
    "load_config",
    "parse_overrides",
    "apply_overrides",
    "find_config",
    "convert_original",
    "deep_merge",
]

# The repository's configs/ folder, next to the ppfom package.
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"

NUMERICS_DEFAULTS = {"align_corners": "auto", "antialias": "strided", "border_fix": False}
NUMERICS_KEYS = ("align_corners", "antialias", "border_fix", "config_layout")
LAYOUTS = ("original", "paddlegan")

# Top-level keys that PaddleGAN's configs (and its trainer) use.
PADDLEGAN_TOP_KEYS = {
    "epochs", "total_iters", "output_dir", "find_unused_parameters", "model", "dataset",
    "lr_scheduler", "optimizer", "validate", "log_config", "snapshot_config", "export_model",
    "enable_visualdl", "is_train", "min_max", "image_num", "amp", "amp_level", "seed",
    # PaddleGAN's older FOMM configs (firstorder_mgif.yaml) keep train_params at the top.
    "train_params",
}
# Sections of the original repository's configs; the last three are kept as they are.
ORIGINAL_TOP_KEYS = {
    "dataset_params", "model_params", "train_params",
    "reconstruction_params", "animate_params", "visualizer_params",
}
KEPT_SECTIONS = ("reconstruction_params", "animate_params", "visualizer_params")
KNOWN_TOP_KEYS = PADDLEGAN_TOP_KEYS | ORIGINAL_TOP_KEYS

ORIGINAL_MODEL_KEYS = ("common_params", "kp_detector_params", "generator_params", "discriminator_params", "numerics")
# train_params entries of the original that PaddleGAN keeps elsewhere.
_TRAIN_TO_DATASET = ("num_repeats", "batch_size")
_TRAIN_TO_LR = ("epoch_milestones", "lr_generator", "lr_discriminator", "lr_kp_detector")
# The original's train.py hard-codes these.
ORIGINAL_ADAM = {"name": "Adam", "beta1": 0.5, "beta2": 0.999}
ORIGINAL_NUM_WORKERS = 6
# PaddleGAN's logging defaults in its FOMM configs (the original has no such settings).
DEFAULT_LOG_CONFIG = {"interval": 10, "visiual_interval": 10}


def _err(msg):
    """A ConfigError whose message is guaranteed to be one line."""
    return ConfigError(" ".join(str(msg).split()))


def _names(keys):
    keys = sorted(map(str, keys))
    return ", ".join(keys) if keys else "none"


# ----------------------------------------------------------------------------- reading files


def _read_yaml(path, included_from=None):
    path = Path(path)
    via = f" (a _base_ of {included_from})" if included_from else ""
    if not path.exists():
        raise _err(f"config file not found: {path}{via}")
    if not path.is_file():
        raise _err(f"config path is not a file: {path}{via}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise _err(f"{path}: cannot read config file{via}: {e}")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise _err(f"{path}: not valid YAML{via}: {at}{problem}")
    if data is None:
        raise _err(f"{path}: the config is empty; its top level must be a mapping{via}")
    if not isinstance(data, dict):
        raise _err(f"{path}: the top level must be a mapping of sections, not a {type(data).__name__}{via}")
    return data


def _unshare(node):
    """A copy in which no dict or list appears twice (YAML anchors, shared defaults), so that
    an override of one place never changes another."""
    if isinstance(node, dict):
        return {k: _unshare(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_unshare(v) for v in node]
    return node


def deep_merge(base, update):
    """``base`` with ``update`` merged on top: dicts merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve_bases(data, here, name, stack):
    """Merge the ``_base_`` files of ``data`` (paths relative to folder ``here``), then ``data``."""
    data = dict(data)
    bases = data.pop("_base_", None)
    if bases is None:
        return data
    if isinstance(bases, (str, Path)):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, (str, Path)) for b in bases):
        raise _err(f"{name}: _base_ must be a path or a list of paths, not {bases!r}")
    merged = {}
    for base in bases:
        merged = deep_merge(merged, _load_tree(Path(here) / base, stack, included_from=name))
    return deep_merge(merged, data)


def _load_tree(path, stack, included_from=None):
    path = Path(path)
    key = path.resolve()
    if key in stack:
        chain = " -> ".join(str(p) for p in list(stack) + [key])
        raise _err(f"_base_ cycle: {chain}")
    data = _read_yaml(path, included_from)
    return _resolve_bases(data, path.parent, str(path), stack + (key,))


# ----------------------------------------------------------------------------- the original layout


def _mapping(value, where):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _err(f"{where} must be a mapping, not {type(value).__name__} {value!r}")
    return value


def _convert_augmentation(aug, where):
    """The original's ``augmentation_params`` -> (PaddleGAN transforms, time_flip, the rest)."""
    aug = dict(_mapping(aug, where))
    transforms = []
    flip = dict(_mapping(aug.pop("flip_param", None), f"{where}.flip_param"))
    time_flip = bool(flip.pop("time_flip", False))
    if flip.pop("horizontal_flip", False):
        # The original flips the whole clip with probability 0.5, as PaddleGAN's paired flip does.
        transforms.append({"name": "PairedRandomHorizontalFlip", "prob": 0.5, "keys": ["image", "image"]})
    if flip:
        raise _err(f"{where}.flip_param: unknown key(s) {_names(flip)} (known: horizontal_flip, time_flip)")
    jitter = aug.pop("jitter_param", None)
    if jitter is not None:
        jitter = _mapping(jitter, f"{where}.jitter_param")
        # The original's ColorJitter defaults every strength to 0 (off).
        entry = {"name": "PairedColorJitter", "brightness": 0, "contrast": 0, "saturation": 0, "hue": 0}
        entry.update(jitter)
        entry["keys"] = ["image", "image"]
        transforms.append(entry)
    # crop_param, resize_param, rotation_param ... have no PaddleGAN transform: kept as they are.
    return transforms, time_flip, aug


def convert_original(cfg, where="config"):
    """Convert a config in the original repository's layout to PaddleGAN's (normalized) layout.

    The model part is converted completely; dataset settings without a PaddleGAN equivalent stay
    under ``dataset.train.augmentation_params``. ``reconstruction_params``, ``animate_params`` and
    ``visualizer_params`` are kept as they are.
    """
    cfg = copy.deepcopy(cfg)
    mp = _mapping(cfg.pop("model_params", None), "model_params")
    if not mp:
        raise _err(f"{where}: no model_params section (the original layout needs model_params.common_params, "
                   f"kp_detector_params and generator_params)")
    unknown = set(mp) - set(ORIGINAL_MODEL_KEYS)
    if unknown:
        raise _err(f"{where}: unknown key(s) {_names(unknown)} in model_params "
                   f"(known: {_names(ORIGINAL_MODEL_KEYS)})")
    for key in ("common_params", "kp_detector_params", "generator_params"):
        if key not in mp:
            raise _err(f"{where}: model_params.{key} is missing")
    tp = dict(_mapping(cfg.pop("train_params", None), "train_params"))
    dp = dict(_mapping(cfg.pop("dataset_params", None), "dataset_params"))

    out = {}
    if "num_epochs" in tp:
        out["epochs"] = tp["num_epochs"]
    out["output_dir"] = "output_dir"

    # dataset_params -> dataset.train / dataset.test
    moved = {k: tp.pop(k) for k in _TRAIN_TO_DATASET if k in tp}
    if dp:
        root = dp.pop("root_dir", None)
        frame_shape = dp.pop("frame_shape", dp.pop("image_shape", None))  # older configs say image_shape
        id_sampling = bool(dp.pop("id_sampling", False))
        pairs_list = dp.pop("pairs_list", None)
        transforms, time_flip, rest = _convert_augmentation(dp.pop("augmentation_params", None),
                                                            "dataset_params.augmentation_params")
        common = {"name": "FirstOrderDataset", "dataroot": root}
        if frame_shape is not None:
            common["frame_shape"] = frame_shape
        train = dict(copy.deepcopy(common), phase="train", id_sampling=id_sampling, pairs_list=pairs_list,
                     time_flip=time_flip, num_repeats=moved.get("num_repeats", 1),
                     batch_size=moved.get("batch_size", 1), num_workers=ORIGINAL_NUM_WORKERS,
                     transforms=transforms)
        if rest:
            train["augmentation_params"] = rest
        train.update(dp)  # anything else the original's FramesDataset takes (random_seed ...)
        # Evaluation reads whole videos one at a time, without augmentation (reconstruction.py).
        test = dict(copy.deepcopy(common), phase="test", id_sampling=False, pairs_list=pairs_list, time_flip=False,
                    batch_size=1, num_workers=1)
        if "random_seed" in dp:
            test["random_seed"] = dp["random_seed"]
        out["dataset"] = {"train": train, "test": test}

    # model_params -> model
    model = {
        "name": "FirstOrderModel",
        "common_params": mp["common_params"],
        "generator": {
            "name": "FirstOrderGenerator",
            "kp_detector_cfg": mp["kp_detector_params"],
            "generator_cfg": mp["generator_params"],
        },
    }
    if mp.get("discriminator_params") is not None:
        model["discriminator"] = {"name": "FirstOrderDiscriminator",
                                  "discriminator_cfg": mp["discriminator_params"]}
    lr = {k: tp.pop(k) for k in _TRAIN_TO_LR if k in tp}
    tp.setdefault("perceptual_loss", "vgg19")  # the original's perceptual loss is VGG19's
    model["train_params"] = tp  # num_epochs, scales, checkpoint_freq, transform_params, loss_weights
    if "numerics" in mp:
        model["numerics"] = mp["numerics"]
    out["model"] = model

    # The original steps its MultiStepLR once per epoch with gamma 0.1, Adam betas (0.5, 0.999).
    if lr:
        out["lr_scheduler"] = {"name": "MultiStepDecay", "epoch_milestones": lr.pop("epoch_milestones", []),
                               "milestone_unit": "epoch", "gamma": 0.1, **lr}
    out["optimizer"] = dict(ORIGINAL_ADAM)
    out["log_config"] = dict(DEFAULT_LOG_CONFIG)
    if "checkpoint_freq" in tp:
        # The original saves every checkpoint_freq epochs; PaddleGAN's interval counts epochs too.
        out["snapshot_config"] = {"interval": tp["checkpoint_freq"]}

    for key in KEPT_SECTIONS:
        if key in cfg:
            out[key] = cfg.pop(key)
    out.update(cfg)  # PaddleGAN keys that a user added beside the original sections
    return out


# ----------------------------------------------------------------------------- normalizing


def _detect_layout(cfg, where):
    original = [k for k in ("model_params", "dataset_params") if k in cfg]
    paddle = [k for k in ("model", "dataset") if k in cfg]
    if original and paddle:
        raise _err(f"{where}: mixes the original layout ({', '.join(original)}) with PaddleGAN's "
                   f"({', '.join(paddle)}); use one of them")
    return "original" if original else "paddlegan"


# Sections that a file may drop from its base by setting them to null.
_OPTIONAL_SECTIONS = (
    ("model", "discriminator"), ("model", "train_params"), ("dataset",), ("dataset", "train"),
    ("dataset", "test"), ("lr_scheduler",), ("optimizer",), ("log_config",), ("snapshot_config",),
    ("validate",), ("export_model",),
)


def _drop_nulls(cfg):
    for path in _OPTIONAL_SECTIONS:
        node = cfg
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node and node[path[-1]] is None:
            del node[path[-1]]


def _normalize(cfg, where):
    """Fill the defaults every reader may rely on (after conversion, before overrides)."""
    _drop_nulls(cfg)
    model = cfg.get("model")
    if not isinstance(model, dict):
        return cfg  # reported by _validate
    # PaddleGAN's older configs keep train_params at the top level; it belongs to the model.
    top_tp = cfg.pop("train_params", None)
    if top_tp is not None:
        model["train_params"] = deep_merge(_mapping(top_tp, "train_params"),
                                           _mapping(model.get("train_params"), "model.train_params"))
    model.setdefault("name", "FirstOrderModel")
    if isinstance(model.get("generator"), dict):
        model["generator"].setdefault("name", "FirstOrderGenerator")
    if isinstance(model.get("discriminator"), dict):
        model["discriminator"].setdefault("name", "FirstOrderDiscriminator")
    if "epochs" not in cfg and isinstance(model.get("train_params"), dict) and "num_epochs" in model["train_params"]:
        cfg["epochs"] = model["train_params"]["num_epochs"]
    cfg.setdefault("output_dir", "output_dir")

    numerics = model.get("numerics")
    if numerics is None:
        numerics = {}
    if not isinstance(numerics, dict):
        raise _err(f"{where}: model.numerics must be a mapping, not {numerics!r}")
    model["numerics"] = {**NUMERICS_DEFAULTS, **numerics}

    lr = cfg.get("lr_scheduler")
    if isinstance(lr, dict):
        lr.setdefault("name", "MultiStepDecay")
        lr.setdefault("gamma", 0.1)  # both PaddleGAN and the original hard-code 0.1
        if "lr" in lr:  # one rate for the three optimizers
            rate = lr.pop("lr")
            for key in ("lr_generator", "lr_discriminator", "lr_kp_detector"):
                lr.setdefault(key, rate)
    return cfg


def _finish(cfg, overridden):
    """Settle what depends on the final values (after overrides)."""
    _drop_nulls(cfg)
    dataset = cfg.get("dataset")
    if isinstance(dataset, dict):
        for entry in dataset.values():
            # PaddleGAN's YAMLs write pairs_list: None, which YAML reads as the string 'None'.
            if isinstance(entry, dict) and entry.get("pairs_list") in ("None", "none", "null", ""):
                entry["pairs_list"] = None
    model = cfg["model"]
    tp = model.get("train_params")
    if isinstance(tp, dict) and "num_epochs" in tp and "epochs" in cfg:
        # Top-level epochs is what the trainer counts; num_epochs mirrors it (PaddleGAN keeps both).
        if "model.train_params.num_epochs" in overridden and "epochs" not in overridden:
            cfg["epochs"] = tp["num_epochs"]
        else:
            tp["num_epochs"] = cfg["epochs"]
    lr = cfg.get("lr_scheduler")
    if isinstance(lr, dict) and "milestone_unit" not in lr:
        # PaddleGAN steps its scheduler every iteration, and its vox/fashion configs give
        # iteration counts ([237360, 356040]); milestones no larger than the epoch count are epochs.
        ms = lr.get("epoch_milestones") or []
        epochs = cfg.get("epochs")
        numeric = all(isinstance(m, (int, float)) and not isinstance(m, bool) for m in ms)
        if numeric and isinstance(epochs, int) and all(m <= epochs for m in ms):
            lr["milestone_unit"] = "epoch"
        elif numeric:
            lr["milestone_unit"] = "iter" if ms else "epoch"


# ----------------------------------------------------------------------------- overrides


def parse_overrides(overrides):
    """``["a.b.c=value", ...]`` -> ``[("a.b.c", value), ...]``, values read as YAML.

    ``"+a.b.c=value"`` (kept as ``"+a.b.c"``) may create a key that does not exist yet.
    """
    if overrides is None:
        return []
    if isinstance(overrides, str):
        overrides = [overrides]
    out = []
    for item in overrides:
        if not isinstance(item, str):
            raise _err(f"override {item!r} is not a string (expected key.path=value)")
        if "=" not in item:
            raise _err(f"override {item!r} has no '=' (expected key.path=value, e.g. model.common_params.num_kp=10)")
        key, raw = item.split("=", 1)
        key = key.strip()
        bare = key[1:] if key.startswith("+") else key
        if not bare or any(not part.strip() for part in bare.split(".")):
            raise _err(f"override {item!r}: {key!r} is not a dotted key path (e.g. dataset.train.batch_size)")
        key = ("+" if key.startswith("+") else "") + ".".join(p.strip() for p in bare.split("."))
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as e:
            problem = getattr(e, "problem", None) or str(e)
            raise _err(f"override {item!r}: the value is not valid YAML ({problem})")
        out.append((key, value))
    return out


def apply_overrides(cfg, overrides):
    """Apply ``overrides`` (strings or parsed pairs) to ``cfg`` in place; return the set of keys set."""
    if overrides and all(isinstance(o, tuple) and len(o) == 2 for o in overrides):
        pairs = list(overrides)
    else:
        pairs = parse_overrides(overrides)
    done = set()
    for key, value in pairs:
        create = key.startswith("+")
        parts = (key[1:] if create else key).split(".")
        dotted = ".".join(parts)
        node, path = cfg, []
        for part in parts[:-1]:
            node = _step(node, part, path, dotted)
            path.append(part)
        last = parts[-1]
        under_numerics = path == ["model", "numerics"]
        if under_numerics and last not in NUMERICS_KEYS:
            raise _err(f"override {dotted!r}: unknown numerics setting {last!r} (settings: {_names(NUMERICS_KEYS)})")
        if isinstance(node, list):
            index = _index(node, last, path, dotted)
            node[index] = value
        elif isinstance(node, dict):
            if last not in node and not (create or under_numerics):
                at = ".".join(path) if path else "the top level"
                raise _err(f"override {dotted!r}: no key {last!r} under {at} (keys there: {_names(node)}); "
                           f"write +{dotted}=... to add it")
            node[last] = value
        else:
            raise _err(f"override {dotted!r}: {'.'.join(path)} is a {type(node).__name__}, not a mapping")
        done.add(dotted)
    return done


def _index(node, part, path, dotted):
    try:
        index = int(part)
    except ValueError:
        raise _err(f"override {dotted!r}: {'.'.join(path)} is a list; {part!r} is not an index")
    if not -len(node) <= index < len(node):
        raise _err(f"override {dotted!r}: index {index} is out of range for {'.'.join(path)} "
                   f"(length {len(node)})")
    return index


def _step(node, part, path, dotted):
    if isinstance(node, list):
        return node[_index(node, part, path, dotted)]
    if not isinstance(node, dict):
        raise _err(f"override {dotted!r}: {'.'.join(path)} is a {type(node).__name__}, not a mapping")
    if part not in node:
        at = ".".join(path) if path else "the top level"
        raise _err(f"override {dotted!r}: no key {part!r} under {at} (keys there: {_names(node)})")
    return node[part]


# ----------------------------------------------------------------------------- checks

_INT, _POS_INT, _NUM, _BOOL, _STR = "an integer", "a positive integer", "a number", "true or false", "a string"
_MAP, _LIST, _NUM_LIST, _INT_LIST = "a mapping", "a list", "a list of numbers", "a list of integers"
_SHAPE = "a list of 2 or 3 positive integers"

# Types of the keys we know, wherever they appear; unknown keys are left to the builders,
# which check constructor keywords by name.
_NET = {"block_expansion": _POS_INT, "max_features": _POS_INT, "num_blocks": _POS_INT, "scale_factor": _NUM}
_SCHEMA = {
    "epochs": _POS_INT,
    "total_iters": _POS_INT,
    "output_dir": _STR,
    "model": _MAP,
    "model.common_params": _MAP,
    "model.common_params.num_kp": _POS_INT,
    "model.common_params.num_channels": _POS_INT,
    "model.common_params.estimate_jacobian": _BOOL,
    "model.generator": _MAP,
    "model.generator.kp_detector_cfg": _MAP,
    **{f"model.generator.kp_detector_cfg.{k}": t for k, t in _NET.items()},
    "model.generator.kp_detector_cfg.temperature": _NUM,
    "model.generator.kp_detector_cfg.single_jacobian_map": _BOOL,
    "model.generator.kp_detector_cfg.pad": _INT,
    "model.generator.generator_cfg": _MAP,
    "model.generator.generator_cfg.block_expansion": _POS_INT,
    "model.generator.generator_cfg.max_features": _POS_INT,
    "model.generator.generator_cfg.num_down_blocks": _POS_INT,
    "model.generator.generator_cfg.num_bottleneck_blocks": _INT,
    "model.generator.generator_cfg.estimate_occlusion_map": _BOOL,
    "model.generator.generator_cfg.skip_connections": _BOOL,
    "model.generator.generator_cfg.skip_source_image": _BOOL,
    "model.generator.generator_cfg.blend_warped_source": _BOOL,
    "model.generator.generator_cfg.exact_flow_resize": _BOOL,
    "model.generator.generator_cfg.dense_motion_params": _MAP,
    **{f"model.generator.generator_cfg.dense_motion_params.{k}": t for k, t in _NET.items()},
    "model.generator.generator_cfg.dense_motion_params.kp_variance": _NUM,
    "model.discriminator": _MAP,
    "model.discriminator.discriminator_cfg": _MAP,
    "model.discriminator.discriminator_cfg.scales": _NUM_LIST,
    "model.discriminator.discriminator_cfg.block_expansion": _POS_INT,
    "model.discriminator.discriminator_cfg.max_features": _POS_INT,
    "model.discriminator.discriminator_cfg.num_blocks": _POS_INT,
    "model.discriminator.discriminator_cfg.sn": _BOOL,
    "model.discriminator.discriminator_cfg.use_kp": _BOOL,
    "model.train_params": _MAP,
    "model.train_params.num_epochs": _POS_INT,
    "model.train_params.scales": _NUM_LIST,
    "model.train_params.checkpoint_freq": _POS_INT,
    "model.train_params.transform_params": _MAP,
    "model.train_params.transform_params.sigma_affine": _NUM,
    "model.train_params.transform_params.sigma_tps": _NUM,
    "model.train_params.transform_params.points_tps": _POS_INT,
    "model.train_params.loss_weights": _MAP,
    "model.train_params.loss_weights.generator_gan": _NUM,
    "model.train_params.loss_weights.discriminator_gan": _NUM,
    "model.train_params.loss_weights.feature_matching": _NUM_LIST,
    "model.train_params.loss_weights.perceptual": _NUM_LIST,
    "model.train_params.loss_weights.equivariance_value": _NUM,
    "model.train_params.loss_weights.equivariance_jacobian": _NUM,
    "dataset": _MAP,
    "dataset.*": _MAP,
    "dataset.*.frame_shape": _SHAPE,
    "dataset.*.batch_size": _POS_INT,
    "dataset.*.num_workers": _INT,
    "dataset.*.num_repeats": _POS_INT,
    "dataset.*.id_sampling": _BOOL,
    "dataset.*.time_flip": _BOOL,
    "dataset.*.transforms": _LIST,
    "lr_scheduler": _MAP,
    "lr_scheduler.epoch_milestones": _INT_LIST,
    "lr_scheduler.gamma": _NUM,
    "lr_scheduler.lr_generator": _NUM,
    "lr_scheduler.lr_discriminator": _NUM,
    "lr_scheduler.lr_kp_detector": _NUM,
    "optimizer": _MAP,
    "optimizer.beta1": _NUM,
    "optimizer.beta2": _NUM,
    "log_config": _MAP,
    "snapshot_config": _MAP,
    "snapshot_config.interval": _POS_INT,
    "validate": _MAP,
}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _as_number(v):
    """A number, or a string YAML 1.1 left unread (``2e-4``): returned as float; else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def _check(value, kind):
    """(ok, value possibly converted)."""
    if kind == _INT:
        return _is_int(value), value
    if kind == _POS_INT:
        return _is_int(value) and value > 0, value
    if kind == _NUM:
        n = _as_number(value)
        return n is not None, (n if n is not None else value)
    if kind == _BOOL:
        return isinstance(value, bool), value
    if kind == _STR:
        return isinstance(value, str), value
    if kind == _MAP:
        return isinstance(value, dict), value
    if kind == _LIST:
        return isinstance(value, list), value
    if kind == _NUM_LIST:
        if not isinstance(value, list):
            return False, value
        nums = [_as_number(v) for v in value]
        return all(n is not None for n in nums), (nums if all(n is not None for n in nums) else value)
    if kind == _INT_LIST:
        return isinstance(value, list) and all(_is_int(v) and v >= 0 for v in value), value
    if kind == _SHAPE:
        return (isinstance(value, list) and len(value) in (2, 3)
                and all(_is_int(v) and v > 0 for v in value)), value
    raise AssertionError(kind)


def _walk(node, parts, prefix):
    """Yield (parent, key, dotted) for every place ``parts`` (with ``*``) matches in ``node``."""
    if not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    keys = list(node) if head == "*" else ([head] if head in node else [])
    for key in keys:
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if rest:
            yield from _walk(node[key], rest, dotted)
        else:
            yield node, key, dotted


def _describe(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _validate(cfg, where):
    unknown = set(cfg) - KNOWN_TOP_KEYS
    if unknown:
        raise _err(f"{where}: unknown top-level key(s) {_names(unknown)} (known: {_names(KNOWN_TOP_KEYS)})")
    if "model" not in cfg:
        raise _err(f"{where}: no 'model' section (it needs model.common_params and model.generator)")
    for key, kind in _SCHEMA.items():
        for parent, name, dotted in _walk(cfg, key.split("."), ""):
            ok, converted = _check(parent[name], kind)
            if not ok:
                raise _err(f"{where}: {dotted} must be {kind}, not {_describe(parent[name])}")
            parent[name] = converted
    model = cfg["model"]
    for required in ("common_params", "generator"):
        if required not in model:
            raise _err(f"{where}: model.{required} is missing (model has: {_names(model)})")
    for required in ("kp_detector_cfg", "generator_cfg"):
        if required not in model["generator"]:
            raise _err(f"{where}: model.generator.{required} is missing (model.generator has: "
                       f"{_names(model['generator'])})")
    lr = cfg.get("lr_scheduler")
    if isinstance(lr, dict) and lr.get("milestone_unit", "epoch") not in ("epoch", "iter"):
        raise _err(f"{where}: lr_scheduler.milestone_unit must be epoch or iter, not {_describe(lr['milestone_unit'])}")
    _validate_numerics(model["numerics"], where)


def _validate_numerics(numerics, where):
    unknown = set(numerics) - set(NUMERICS_KEYS)
    if unknown:
        raise _err(f"{where}: unknown model.numerics setting(s) {_names(unknown)} (settings: {_names(NUMERICS_KEYS)})")
    align = numerics["align_corners"]
    if isinstance(align, str) and align.strip().lower() in ("auto", "true", "false"):
        align = {"auto": "auto", "true": True, "false": False}[align.strip().lower()]
    if align not in ("auto", True, False) or (not isinstance(align, bool) and align != "auto"):
        raise _err(f"{where}: model.numerics.align_corners must be auto, true or false, not {_describe(align)}")
    numerics["align_corners"] = align
    anti = numerics["antialias"]
    if not isinstance(anti, str) or anti.strip().lower() not in ("strided", "nearest"):
        raise _err(f"{where}: model.numerics.antialias must be strided or nearest, not {_describe(anti)}")
    numerics["antialias"] = anti.strip().lower()
    if not isinstance(numerics["border_fix"], bool):
        raise _err(f"{where}: model.numerics.border_fix must be true or false, not {_describe(numerics['border_fix'])}")
    if numerics.get("config_layout") not in LAYOUTS:
        raise _err(f"{where}: model.numerics.config_layout must be original or paddlegan, "
                   f"not {_describe(numerics.get('config_layout'))}")


# ----------------------------------------------------------------------------- public entry points


def load_config(source, overrides=None):
    """Load a config and return it, as a plain dict, in PaddleGAN's (normalized) layout.

    source: a YAML path, a config name in ``configs/`` (see :func:`find_config`), or a dict.
        ``_base_`` (a path or a list of paths, relative to the including file; relative to the
        working directory for a dict) is merged first, in order, then the file on top.
    overrides: ``["a.b.c=value", ...]`` as ``-o`` gives them, applied to the normalized layout;
        values are read as YAML. A key that does not exist is an error unless written ``+a.b.c=``.

    ``model.numerics`` gets its defaults (:data:`NUMERICS_DEFAULTS`) and ``config_layout``:
    ``original`` or ``paddlegan``, the layout the file was written in (unless it says itself).
    """
    if isinstance(source, dict):
        where = "config"
        data = _resolve_bases(copy.deepcopy(source), Path.cwd(), where, ())
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file() and not path.exists():
            path = find_config(source)
        where = str(path)
        data = _load_tree(path, ())
    else:
        raise _err(f"a config must be a YAML path or a dict, not {type(source).__name__}")

    unknown = set(data) - KNOWN_TOP_KEYS
    if unknown:
        raise _err(f"{where}: unknown top-level key(s) {_names(unknown)} (known: {_names(KNOWN_TOP_KEYS)})")
    layout = _detect_layout(data, where)
    explicit = None
    if layout == "original":
        mp = data.get("model_params")
        if isinstance(mp, dict) and isinstance(mp.get("numerics"), dict):
            explicit = mp["numerics"].get("config_layout")
        cfg = convert_original(data, where)
    else:
        cfg = data
        if "model" not in cfg:
            raise _err(f"{where}: no 'model' section (it needs model.common_params and model.generator)")
        if not isinstance(cfg["model"], dict):
            raise _err(f"{where}: model must be a mapping, not {_describe(cfg['model'])}")
        if isinstance(cfg["model"].get("numerics"), dict):
            explicit = cfg["model"]["numerics"].get("config_layout")
    cfg = _normalize(_unshare(cfg), where)
    cfg["model"]["numerics"]["config_layout"] = explicit if explicit is not None else layout

    overridden = apply_overrides(cfg, overrides) if overrides else set()
    if overridden:
        if not isinstance(cfg.get("model"), dict) or not isinstance(cfg["model"].get("numerics"), dict):
            raise _err(f"{where}: after the overrides, model and model.numerics must still be mappings")
        # An override may replace the whole numerics mapping: keep the defaults under it.
        layout_now = cfg["model"]["numerics"].get("config_layout", explicit if explicit is not None else layout)
        cfg["model"]["numerics"] = {**NUMERICS_DEFAULTS, **cfg["model"]["numerics"], "config_layout": layout_now}
    _finish(cfg, overridden)
    _validate(cfg, where)
    return cfg


def _available_configs():
    if not CONFIG_DIR.is_dir():
        return []
    names = []
    for p in sorted(CONFIG_DIR.rglob("*.y*ml")):
        rel = p.relative_to(CONFIG_DIR)
        if rel.parts[0] == "_base_":
            continue
        names.append(str(rel.with_suffix("")).replace("\\", "/"))
    return names


def frame_size(cfg, default=256):
    """The frame size a model was trained at: its config's dataset.train.frame_shape."""
    shape = ((cfg.get("dataset") or {}).get("train") or {}).get("frame_shape") or [default]
    return int(shape[0])


def find_config(name_or_path):
    """An existing file as given, else a config of that name in the repository's ``configs/``.

    ``firstorder_vox_256``, ``firstorder_vox_256.yaml``, ``vox_256`` and ``original/vox-256``
    all work. Raises ConfigError listing the available configs when nothing matches.
    """
    p = Path(name_or_path)
    if p.is_file():
        return p
    name = str(name_or_path)
    candidates = []
    for stem in (name, f"firstorder_{name}"):
        for suffix in ("", ".yaml", ".yml"):
            candidates.append(CONFIG_DIR / f"{stem}{suffix}")
    for c in candidates:
        if c.is_file():
            return c
    why = "is a folder, not a file" if p.is_dir() else "no such file"
    raise _err(f"config {name!r} not found: {why}, nor a config of that name in {CONFIG_DIR} "
               f"(available: {', '.join(_available_configs()) or 'none'})")
