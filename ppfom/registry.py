"""One registry per component kind, filled by decorators and built from config dicts.

A config dict names its class with ``name``; :meth:`Registry.build` pops it and passes
the remaining keys as keyword arguments, as PaddleGAN's builders do. Unknown keys are
reported by name against the constructor's signature instead of a bare ``TypeError``.
"""
import copy
import inspect

from .errors import ConfigError


class Registry:
    def __init__(self, kind):
        self.kind = kind
        self._classes = {}

    def register(self, cls=None, *, name=None):
        """Use as ``@REG.register`` or ``@REG.register(name="Alias")``."""

        def add(c):
            key = name or c.__name__
            if key in self._classes and self._classes[key] is not c:
                raise KeyError(f"{self.kind} registry already has {key!r}")
            self._classes[key] = c
            return c

        return add(cls) if cls is not None else add

    def get(self, name):
        if name not in self._classes:
            known = ", ".join(sorted(self._classes)) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r} (known: {known})")
        return self._classes[name]

    def __contains__(self, name):
        return name in self._classes

    def names(self):
        return sorted(self._classes)

    def build(self, cfg, where=None, **extra):
        """Build from ``cfg`` (a dict with ``name``); ``extra`` keywords override cfg keys."""
        if not isinstance(cfg, dict) or "name" not in cfg:
            raise ConfigError(f"{where or self.kind}: a config with a 'name' key is needed")
        kwargs = copy.deepcopy(cfg)
        cls = self.get(kwargs.pop("name"))
        kwargs.update(extra)
        check_kwargs(cls, kwargs, where or f"{self.kind} {cls.__name__}")
        return cls(**kwargs)


def check_kwargs(fn, kwargs, where):
    """Raise ConfigError naming every key that ``fn`` does not accept."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    accepted = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ConfigError(
            f"{where}: unknown config key(s) {', '.join(unknown)} "
            f"(accepted: {', '.join(sorted(accepted - {'self'}))})"
        )


MODELS = Registry("model")
GENERATORS = Registry("generator")
KEYPOINT_DETECTORS = Registry("keypoint detector")
DISCRIMINATORS = Registry("discriminator")
DATASETS = Registry("dataset")
LOSSES = Registry("loss")
FACE_DETECTORS = Registry("face detector")
ENHANCERS = Registry("enhancer")
