"""The one-call entry point: ``load_fomm(config, weights)`` -> networks ready for inference."""
import os
from dataclasses import dataclass, field

from .errors import CheckpointError, ConfigError
from .registry import KEYPOINT_DETECTORS, GENERATORS, check_kwargs


@dataclass
class Numerics:
    """Numerical conventions that differ between the original FOMM and PaddleGAN.

    align_corners: grid_sample's convention (see README, "Which checkpoint wants which").
    antialias: "strided" (original, PaddleGAN >= 2.0 source) or "nearest" (ppgan 2.1.0 wheel).
    border_fix: PaddleGAN's inference-time edge fix.
    """

    align_corners: bool = False
    antialias: str = "strided"
    border_fix: bool = False

    @classmethod
    def resolve(cls, section, weights_origin):
        """From a config's ``model.numerics``; ``align_corners: auto`` follows the weights' origin:
        PaddleGAN .pdparams -> True (as PaddleGAN runs them), original .pth.tar or no weights ->
        False (as the original runs on torch >= 1.3)."""
        section = dict(section or {})
        align = section.get("align_corners", "auto")
        if isinstance(align, str):
            if align.lower() != "auto":
                raise ConfigError(f"model.numerics.align_corners must be auto, true or false, not {align!r}")
            align = weights_origin == "paddle"
        return cls(bool(align), section.get("antialias", "strided"), bool(section.get("border_fix", False)))


@dataclass
class FOMM:
    """The two networks of a First Order Motion Model, in eval mode, and how they were made."""

    kp_detector: object
    generator: object
    config: dict
    numerics: Numerics
    weights: str = None
    weights_origin: str = None
    extra: dict = field(default_factory=dict)

    def eval(self):
        self.kp_detector.eval()
        self.generator.eval()
        return self

    def set_border_fix(self, on):
        """Turn PaddleGAN's inference edge fix on or off without reloading (it holds no weights)."""
        from .modules.border_fix import BorderFix

        self.generator.border_fix = BorderFix() if on else None
        self.numerics = Numerics(self.numerics.align_corners, self.numerics.antialias, bool(on))
        return self

    def state_dicts(self):
        """PaddleGAN's checkpoint layout: ``{"generator": ..., "kp_detector": ...}``."""
        return {"generator": self.generator.state_dict(), "kp_detector": self.kp_detector.state_dict()}


def _section(cfg, *keys):
    node = cfg
    for i, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            raise ConfigError(f"config has no section {'.'.join(keys[: i + 1])}")
        node = node[key]
    return node


def build_networks(cfg, numerics=None):
    """Build (kp_detector, generator) from a normalized config dict (see ppfom.config)."""
    from . import modules  # noqa: F401  (fills the registries)

    numerics = numerics or Numerics()
    common = dict(_section(cfg, "model", "common_params"))
    kp_cfg = dict(_section(cfg, "model", "generator", "kp_detector_cfg"))
    gen_cfg = dict(_section(cfg, "model", "generator", "generator_cfg"))

    kp_cfg.setdefault("name", "KPDetector")
    kp_detector = KEYPOINT_DETECTORS.build(
        {**common, **kp_cfg}, where="model.generator.kp_detector_cfg", antialias=numerics.antialias
    )

    gen_cfg.setdefault("name", "OcclusionAwareGenerator")
    dense = gen_cfg.get("dense_motion_params")
    if dense is not None:
        from .modules.dense_motion import DenseMotionNetwork

        check_kwargs(
            DenseMotionNetwork,
            {**dense, "num_kp": 0, "num_channels": 0},
            "model.generator.generator_cfg.dense_motion_params",
        )
    generator = GENERATORS.build(
        {**common, **gen_cfg},
        where="model.generator.generator_cfg",
        align_corners=numerics.align_corners,
        antialias=numerics.antialias,
        border_fix=numerics.border_fix,
    )
    return kp_detector, generator


def _resolve_weights_path(weights):
    """A path as given, or the name of a weight-store entry (downloaded on first use)."""
    if os.path.exists(str(weights)):
        return str(weights)
    from . import weights as store

    if str(weights) in store.ENTRIES:
        return str(store.get_weights(str(weights)))
    raise CheckpointError(f"{weights}: no such file (nor a weight-store name: see `ppfom weights list`)")


def load_fomm(config, weights=None, overrides=None, numerics=None, border_fix=None):
    """Build the keypoint detector and generator from ``config`` and load ``weights``.

    config: a YAML path, a config name in configs/, or a dict (PaddleGAN's layout or the
        original FOMM's ``model_params`` layout).
    weights: a PaddleGAN ``.pdparams`` (``{"generator", "kp_detector"}``), an original
        ``.pth.tar`` (read without torch), a weight-store name, or None for random weights.
    overrides: ``["a.b=c", ...]`` as ``-o`` on the command line.
    numerics: a :class:`Numerics` to use instead of the config's ``model.numerics``.
    border_fix: shortcut to turn PaddleGAN's inference-time edge fix on or off.
    Every mismatch between the weights and the architecture raises CheckpointError by name.
    """
    from .checkpoint.convert import read_weights
    from .checkpoint.state import load_state_strict
    from .config import find_config, load_config

    if not isinstance(config, dict):
        config = find_config(config)
    cfg = load_config(config, overrides)

    layout, origin, path = None, None, None
    if weights is not None:
        path = _resolve_weights_path(weights)
        layout, origin = read_weights(path)
        missing = [k for k in ("generator", "kp_detector") if k not in layout]
        if missing:
            raise CheckpointError(
                f"{path}: not a FOMM checkpoint: no section {' or '.join(missing)} "
                f"(top-level keys: {', '.join(map(str, list(layout)[:8])) or 'none'})"
            )

    if numerics is None:
        numerics = Numerics.resolve(cfg["model"].get("numerics"), origin)
    if border_fix is not None:
        numerics = Numerics(numerics.align_corners, numerics.antialias, bool(border_fix))
    kp_detector, generator = build_networks(cfg, numerics)
    if layout is not None:
        load_state_strict(kp_detector, layout["kp_detector"], f"{path} [kp_detector]")
        load_state_strict(generator, layout["generator"], f"{path} [generator]")
    return FOMM(kp_detector, generator, cfg, numerics, path, origin).eval()


def expected_weight_shapes(config_name):
    """``{"generator": {key: shape}, "kp_detector": {...}}`` for a config, used to verify downloads."""
    from .checkpoint.state import expected_shapes_of
    from .config import find_config, load_config

    kp_detector, generator = build_networks(load_config(find_config(config_name)))
    return {"generator": expected_shapes_of(generator), "kp_detector": expected_shapes_of(kp_detector)}
