"""ppfom: the First Order Motion Model in PaddlePaddle.

    from ppfom import load_fomm, normalize_kp
    fomm = load_fomm("configs/firstorder_vox_256.yaml", weights="vox-cpk.pdparams")
"""
import os as _os

# Paddle 3.x exports the new JSON program unless this is set before paddle is imported;
# Paddle Lite and our export need the old format. Harmless on 2.6.
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
