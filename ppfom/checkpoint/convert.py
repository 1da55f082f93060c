"""Convert original FOMM checkpoints to PaddleGAN's layout; read and write weights files.

PaddleGAN's layout is ``{'generator': {name: array}, 'kp_detector': {...}[, 'discriminator': {...}]}``
with Paddle's parameter names: BatchNorm statistics are ``_mean``/``_variance`` (no
``num_batches_tracked``) and an affine InstanceNorm's weight is ``scale``.
"""
import io
import os
import pickle
import tempfile

import numpy as np

from ..errors import CheckpointError
from .torch_reader import _python3_name, read_file_head, read_torch_checkpoint, sniff_torch_format

__all__ = ["torch_state_to_paddle", "original_to_paddlegan", "read_weights", "save_pdparams", "count_tensors"]

# Sections of PaddleGAN's layout, in the order they are written.
REQUIRED_SECTIONS = ("generator", "kp_detector")
OPTIONAL_SECTIONS = ("discriminator",)

_NAMES_SHOWN = 8


def _listing(names):
    names = [str(n) for n in names]
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return (shown + (f" and {more} more" if more > 0 else "")) or "none"


def _as_numpy(value):
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    return np.asarray(value)


def _split(name):
    prefix, _, leaf = name.rpartition(".")
    return prefix, leaf


def _is_norm_module(prefix):
    last = prefix.rpartition(".")[2]
    return "norm" in last.lower()


def torch_state_to_paddle(state):
    """One torch state dict -> the same weights under Paddle's names, as numpy arrays.

    * BatchNorm: ``running_mean`` -> ``_mean``, ``running_var`` -> ``_variance``,
      ``num_batches_tracked`` dropped;
    * InstanceNorm (a ``*norm*`` module with a 1-D ``weight`` and ``bias`` but no running
      statistics, as in the discriminator's ``down_blocks.N.norm``): ``weight`` -> ``scale``.

    Key order is kept. Floating-point values become float32; other dtypes are kept.
    """
    if not isinstance(state, dict):
        raise CheckpointError(f"expected a state dict, found {type(state).__name__}")
    names = set(state)
    out = {}
    for name, value in state.items():
        if not isinstance(name, str):
            raise CheckpointError(f"a state dict key is not a string: {name!r}")
        prefix, leaf = _split(name)
        if leaf == "num_batches_tracked":
            continue
        if leaf == "running_mean":
            new = f"{prefix}._mean" if prefix else "_mean"
        elif leaf == "running_var":
            new = f"{prefix}._variance" if prefix else "_variance"
        elif (
            leaf == "weight"
            and prefix
            and _is_norm_module(prefix)
            and f"{prefix}.bias" in names
            and f"{prefix}.running_mean" not in names
            and f"{prefix}.running_var" not in names
            and np.ndim(_as_numpy(value)) == 1
        ):
            new = f"{prefix}.scale"
        else:
            new = name
        if new in out:
            raise CheckpointError(f"converting the state dict gives two entries named {new!r}")
        arr = _as_numpy(value)
        if np.issubdtype(arr.dtype, np.floating) and arr.dtype != np.float32:
            arr = arr.astype(np.float32)
        out[new] = arr
    return out


def original_to_paddlegan(ckpt):
    """The original FOMM checkpoint (``{'generator', 'kp_detector', 'discriminator', 'epoch',
    'optimizer_*'}``) -> PaddleGAN's layout, each network converted by :func:`torch_state_to_paddle`.

    ``discriminator`` is kept only when present and non-empty; epoch and optimizer states are dropped.
    """
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            f"the checkpoint holds a {type(ckpt).__name__}, not a dict with 'generator' and 'kp_detector'"
        )
    missing = [k for k in REQUIRED_SECTIONS if k not in ckpt]
    if missing:
        keys = list(ckpt)
        hint = ""
        if keys and all(isinstance(k, str) and "." in k for k in keys[:20]):
            hint = " (it looks like a single network's state dict, not a full FOMM checkpoint)"
        raise CheckpointError(
            f"the checkpoint has no {' or '.join(repr(m) for m in missing)}; "
            f"its top-level keys are: {_listing(keys)}{hint}"
        )
    layout = {}
    for section in REQUIRED_SECTIONS + OPTIONAL_SECTIONS:
        if section not in ckpt:
            continue
        value = ckpt[section]
        if not isinstance(value, dict):
            raise CheckpointError(f"the checkpoint's {section!r} is a {type(value).__name__}, not a state dict")
        if section in OPTIONAL_SECTIONS and not value:
            continue
        try:
            layout[section] = torch_state_to_paddle(value)
        except CheckpointError as e:
            raise CheckpointError(f"{section}: {e}") from None
    return layout


# --------------------------------------------------------------------------------------------
# Paddle .pdparams: checked with a restricted unpickler before paddle.load sees it


class _PdparamsScanner(pickle.Unpickler):
    """Loads a pickle admitting only what ``paddle.save`` writes for weights (numpy arrays,
    tuples, OrderedDict); used as a safety gate, since paddle.load unpickles without limits."""

    def __init__(self, file, path):
        super().__init__(file, encoding="latin1")
        self._path = path

    _ADMITTED = {
        ("collections", "OrderedDict"),
        ("builtins", "tuple"),
        ("builtins", "list"),
        ("builtins", "dict"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module, name):
        if _python3_name(module, name) == ("_codecs", "encode"):
            return _latin1_bytes  # how protocol 2 spells a bytes object
        if _python3_name(module, name) not in self._ADMITTED:
            module, name = _python3_name(module, name)
            raise CheckpointError(
                f"{self._path}: refused to load: the pickle asks for {module}.{name}, which a weights "
                "file never needs (loading it could run code)"
            )
        return super().find_class(module, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("unexpected persistent id")


def _latin1_bytes(text, encoding="latin1"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode used for something other than bytes")
    return text.encode("latin1")


def _check_pdparams_safe(path):
    try:
        with open(path, "rb") as f:
            _PdparamsScanner(f, path).load()
    except CheckpointError:
        raise
    except Exception as e:  # anything the bytes can cause
        detail = " ".join(str(e).split()) or type(e).__name__
        raise CheckpointError(f"{path}: truncated or corrupt Paddle weights file: {detail}") from None


def _to_numpy_tree(obj):
    if isinstance(obj, dict):
        return {k: _to_numpy_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_numpy_tree(v) for v in obj)
    if isinstance(obj, np.ndarray) or hasattr(obj, "numpy"):
        return _as_numpy(obj)
    return obj


def _load_pdparams(path):
    _check_pdparams_safe(path)
    import paddle  # imported here: reading torch files must not need paddle

    try:
        obj = paddle.load(path, return_numpy=True)
    except Exception as e:
        detail = " ".join(str(e).split()) or type(e).__name__
        raise CheckpointError(f"{path}: cannot be read as a Paddle weights file: {detail}") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a dict of weights")
    return _to_numpy_tree(obj)


def read_weights(path):
    """Read any weights file: ``(layout, origin)``.

    * a PyTorch checkpoint (zip or legacy format, recognised by content whatever its
      extension): read without torch, converted to PaddleGAN's layout; origin ``"torch"``;
    * a Paddle ``.pdparams``: read with ``paddle.load`` (after a safety check of its pickle),
      values as numpy arrays; origin ``"paddle"``. A nested PaddleGAN layout is returned as
      such, a flat state dict as-is (callers decide what it is).
    """
    path = os.fspath(path)
    head = read_file_head(path, "weights file")
    if sniff_torch_format(head) is not None:
        ckpt = read_torch_checkpoint(path)
        try:
            return original_to_paddlegan(ckpt), "torch"
        except CheckpointError as e:
            raise CheckpointError(f"{path}: {e}") from None
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return _load_pdparams(path), "paddle"
    if not head:
        raise CheckpointError(f"{path}: the file is empty")
    raise CheckpointError(
        f"{path}: neither a PyTorch checkpoint nor a Paddle .pdparams file (it starts with {head[:8]!r})"
    )


def count_tensors(layout):
    """``{section: number of arrays}`` of a PaddleGAN layout (or ``{'': n}`` for a flat dict)."""
    if all(isinstance(v, dict) for v in layout.values()):
        return {k: len(v) for k, v in layout.items()}
    return {"": len(layout)}


def save_pdparams(layout, dst, overwrite=False):
    """Write ``layout`` with ``paddle.save``, atomically.

    The file is written to a temporary name in the destination folder and moved into
    place with ``os.replace``; a failure leaves nothing behind. An existing ``dst`` is
    refused unless ``overwrite=True``.
    """
    dst = os.fspath(dst)
    folder = os.path.dirname(os.path.abspath(dst))
    if os.path.isdir(dst):
        raise CheckpointError(f"{dst}: is a folder; give a file name for the weights")
    if not os.path.isdir(folder):
        raise CheckpointError(f"{dst}: the folder {folder} does not exist")
    if os.path.exists(dst) and not overwrite:
        raise CheckpointError(f"{dst}: already exists (pass --overwrite / overwrite=True to replace it)")
    import paddle

    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dst)}.", suffix=".tmp", dir=folder)
    try:
        os.close(fd)
        obj = _to_numpy_tree(layout)
        buf = io.BytesIO()
        paddle.save(obj, buf)
        with open(tmp, "wb") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        if not overwrite and os.path.exists(dst):
            raise CheckpointError(f"{dst}: already exists (pass --overwrite / overwrite=True to replace it)")
        os.replace(tmp, dst)
    except CheckpointError:
        _remove_quietly(tmp)
        raise
    except BaseException as e:
        _remove_quietly(tmp)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        detail = " ".join(str(e).split()) or type(e).__name__
        raise CheckpointError(f"{dst}: could not be written: {detail}") from None
    return dst


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass
