"""ppfom: the First Order Motion Model in PaddlePaddle.

    from ppfom import load_fomm, normalize_kp
    fomm = load_fomm("configs/firstorder_vox_256.yaml", weights="vox-cpk.pdparams")
"""
import os as _os


def _paddle_version():
    try:
        from importlib.metadata import version

        for dist in ("paddlepaddle", "paddlepaddle-gpu"):
            try:
                return version(dist)
            except Exception:
                continue
    except ImportError:
        pass
    return ""


# Paddle 3.0 and 3.1 export the new JSON program, which Paddle Lite cannot read, unless this
# flag is set before paddle is imported. On 3.2+ the flag breaks to_static and Lite export is
# impossible anyway (shared/notes/paddle-lite.md), and 2.x does not need it.
if _paddle_version().startswith(("3.0", "3.1")):
    _os.environ.setdefault("FLAGS_enable_pir_api", "0")

__version__ = "0.1.0"


def load_fomm(*args, **kwargs):
    from .api import load_fomm as _load

    return _load(*args, **kwargs)


def normalize_kp(*args, **kwargs):
    from .kp_norm import normalize_kp as _normalize

    return _normalize(*args, **kwargs)


load_fomm.__doc__ = "Build and load a FOMM; see ppfom.api.load_fomm."
normalize_kp.__doc__ = "Relative motion and adapt_movement_scale; see ppfom.kp_norm.normalize_kp."
