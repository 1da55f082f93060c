"""Read original PyTorch checkpoints (``.pth``, ``.pth.tar``) without torch.

Both of torch's on-disk formats are supported:

* the zip format (torch >= 1.6): a zip whose entries live under one root folder of any
  name, holding ``data.pkl`` (the object), ``data/<key>`` (one raw storage per key) and
  ``byteorder`` (``little`` or ``big``);
* the legacy format (torch < 1.6, e.g. the released 2019 FOMM checkpoints): pickles of
  the magic number, the protocol version and a sys-info dict, then the object pickle,
  then the pickled list of storage keys, then every storage in that order as an int64
  element count followed by its raw data.

Tensors come back as numpy arrays (a copy, C-contiguous), containers as plain dicts,
lists and tuples. The pickle is read by a restricted unpickler that admits only the
few globals a state dict needs, all of which are replaced by harmless stand-ins here;
anything else is refused with a :class:`~ppfom.errors.CheckpointError`, so a checkpoint
can never run code.
"""
import _compat_pickle
import io
import os
import pickle
import struct
import tarfile
import zipfile

import numpy as np

from ..errors import CheckpointError

__all__ = ["read_torch_checkpoint", "sniff_torch_format"]

# The legacy format starts with this number, pickled.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
# How the magic number looks once pickled: LONG1 with 10 little-endian bytes.
_LEGACY_MAGIC_OPS = b"\x8a\x0a" + _LEGACY_MAGIC.to_bytes(10, "little")

# Storage classes (``torch.<name>`` and ``torch.cuda.<name>``) -> numpy dtype of their elements.
# bfloat16 has no numpy dtype: its raw 16-bit patterns are read as uint16 and widened to float32.
_STORAGE_DTYPES = {
    "FloatStorage": "f4",
    "DoubleStorage": "f8",
    "HalfStorage": "f2",
    "BFloat16Storage": "bf16",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
    "ComplexFloatStorage": "c8",
    "ComplexDoubleStorage": "c16",
    "UntypedStorage": "u1",
}

# torch dtypes as they appear pickled (``torch.float32`` ...), for _rebuild_tensor_v3.
_TORCH_DTYPES = {
    "float32": "f4", "float": "f4", "float64": "f8", "double": "f8", "float16": "f2", "half": "f2",
    "bfloat16": "bf16", "int64": "i8", "long": "i8", "int32": "i4", "int": "i4", "int16": "i2",
    "short": "i2", "int8": "i1", "uint8": "u1", "bool": "?", "complex64": "c8", "complex128": "c16",
    "uint16": "u2", "uint32": "u4", "uint64": "u8",
}

_NO_SUCH = object()


class CorruptCheckpoint(Exception):
    """Internal: the bytes do not make a valid checkpoint (reported as a CheckpointError)."""


def _one_line(text):
    return " ".join(str(text).split())


# --------------------------------------------------------------------------------------------
# Stand-ins for the admitted globals. None of them can be modified by the pickle (no __dict__,
# attribute setting refused), so BUILD cannot patch them, and none of them runs anything.


class _Frozen:
    __slots__ = ()

    def __setattr__(self, name, value):
        raise CorruptCheckpoint(f"the pickle tries to set attribute {name!r} on {self!r}")

    def __setstate__(self, state):
        raise CorruptCheckpoint(f"the pickle tries to set the state of {self!r}")


class _Marker(_Frozen):
    """Stand-in for a class or constant that only names something: a storage class
    (``torch.FloatStorage``; kind ``storage``), a dtype (``torch.float32``; kind ``dtype``) or
    a tensor class (``torch.Tensor``; kind ``tensor-type``). Calling it is refused."""

    __slots__ = ("kind", "qualname", "dtype")

    def __init__(self, kind, qualname, dtype=None):
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "qualname", qualname)
        object.__setattr__(self, "dtype", dtype)

    def __call__(self, *args, **kwargs):
        raise CorruptCheckpoint(f"the pickle calls {self.qualname}")

    def __repr__(self):
        return self.qualname


def _is_marker(obj, kind):
    return isinstance(obj, _Marker) and obj.kind == kind


class _Function(_Frozen):
    """An admitted callable: calls our own harmless implementation."""

    __slots__ = ("qualname", "fn")

    def __init__(self, qualname, fn):
        object.__setattr__(self, "qualname", qualname)
        object.__setattr__(self, "fn", fn)

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __repr__(self):
        return self.qualname


class _StateDict(dict):
    """What ``collections.OrderedDict`` becomes; absorbs the ``_metadata`` torch attaches."""

    def __setstate__(self, state):
        # torch pickles module state dicts with {'_metadata': {...}} as BUILD state: versions
        # of the modules, nothing the numbers depend on. Dropped.
        if not isinstance(state, (dict, tuple, type(None))):
            raise CorruptCheckpoint("unexpected state for an OrderedDict")


class _StorageRef(_Frozen):
    """A storage named by persistent id; its data is fetched after unpickling."""

    __slots__ = ("key", "dtype", "numel", "view")

    def __init__(self, key, dtype, numel, view=None):
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "numel", numel)
        object.__setattr__(self, "view", view)

    def __repr__(self):
        return f"storage {self.key}"


class _TensorRef(_Frozen):
    """A tensor to build from a storage once storages are read."""

    __slots__ = ("storage", "offset", "size", "stride", "dtype")

    def __init__(self, storage, offset, size, stride, dtype=None):
        object.__setattr__(self, "storage", storage)
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "stride", stride)
        object.__setattr__(self, "dtype", dtype)

    def __repr__(self):
        return "tensor"


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _int_tuple(x, what):
    if isinstance(x, (tuple, list)) and all(_is_int(v) for v in x):
        return tuple(x)
    raise CorruptCheckpoint(f"tensor {what} is not a tuple of integers")


def _make_tensor(storage, storage_offset, size, stride, dtype=None):
    if not isinstance(storage, _StorageRef):
        raise CorruptCheckpoint("a tensor is built from something that is not a storage")
    if not _is_int(storage_offset) or storage_offset < 0:
        raise CorruptCheckpoint("a tensor has an invalid storage offset")
    size = _int_tuple(size, "size")
    stride = _int_tuple(stride, "stride")
    if len(size) != len(stride) or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise CorruptCheckpoint("a tensor has an invalid size or stride")
    return _TensorRef(storage, storage_offset, size, stride, dtype)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _make_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return _make_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                       metadata=None):
    if not _is_marker(dtype, "dtype"):
        raise CorruptCheckpoint("a tensor names an unknown dtype")
    return _make_tensor(storage, storage_offset, size, stride, dtype.dtype)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *rest):
    if not isinstance(data, _TensorRef):
        raise CorruptCheckpoint("a parameter wraps something that is not a tensor")
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    # torch uses this for tensor subclasses; only plain tensors and parameters are admitted.
    if not (isinstance(func, _Function) and func.fn in (_rebuild_tensor_v2, _rebuild_tensor_v3,
                                                          _rebuild_tensor, _rebuild_parameter)):
        raise CorruptCheckpoint("_rebuild_from_type_v2 with an unexpected function")
    if not _is_marker(new_type, "tensor-type"):
        raise CorruptCheckpoint("_rebuild_from_type_v2 with an unexpected type")
    if not isinstance(args, tuple):
        raise CorruptCheckpoint("_rebuild_from_type_v2 with unexpected arguments")
    return func(*args)


def _ordered_dict(*args):
    if args:
        # OrderedDict is pickled with empty arguments and filled with SETITEMS afterwards.
        raise CorruptCheckpoint("OrderedDict built with arguments")
    return _StateDict()


def _size(*args):
    if len(args) > 1 or (args and not isinstance(args[0], (tuple, list))):
        raise CorruptCheckpoint("torch.Size built from something that is not a sequence")
    return _int_tuple(args[0] if args else (), "Size")


def _admitted_globals():
    table = {
        ("collections", "OrderedDict"): _Function("collections.OrderedDict", _ordered_dict),
        ("torch._utils", "_rebuild_tensor"): _Function("torch._utils._rebuild_tensor", _rebuild_tensor),
        ("torch._utils", "_rebuild_tensor_v2"): _Function("torch._utils._rebuild_tensor_v2", _rebuild_tensor_v2),
        ("torch._utils", "_rebuild_tensor_v3"): _Function("torch._utils._rebuild_tensor_v3", _rebuild_tensor_v3),
        ("torch._utils", "_rebuild_parameter"): _Function("torch._utils._rebuild_parameter", _rebuild_parameter),
        ("torch._utils", "_rebuild_parameter_with_state"): _Function(
            "torch._utils._rebuild_parameter_with_state", _rebuild_parameter),
        ("torch._tensor", "_rebuild_from_type_v2"): _Function(
            "torch._tensor._rebuild_from_type_v2", _rebuild_from_type_v2),
        ("torch", "Size"): _Function("torch.Size", _size),
        # Tensor classes, only as the type argument of _rebuild_from_type_v2.
        ("torch", "Tensor"): _Marker("tensor-type", "torch.Tensor"),
        ("torch.nn.parameter", "Parameter"): _Marker("tensor-type", "torch.nn.parameter.Parameter"),
    }
    for name, dtype in _STORAGE_DTYPES.items():
        table[("torch", name)] = _Marker("storage", f"torch.{name}", dtype)
        if name != "UntypedStorage":
            # GPU-trained checkpoints (e.g. the released vox-cpk.pth.tar) name CUDA storages.
            table[("torch.cuda", name)] = _Marker("storage", f"torch.cuda.{name}", dtype)
    for name, dtype in _TORCH_DTYPES.items():
        table[("torch", name)] = _Marker("dtype", f"torch.{name}", dtype)
    return table


_ADMITTED = _admitted_globals()


def _python3_name(module, name):
    """The Python 3 name of a global as protocol-2 pickles spell it (``__builtin__.exec``
    -> ``builtins.exec``, ``commands.call`` -> ``subprocess.call``), for messages."""
    module, name = str(module), str(name)
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits only the stand-ins above; storages are resolved through ``persistent_load``."""

    def __init__(self, file, path, storage_for_pid):
        super().__init__(file, encoding="latin1")
        self._path = path
        self._storage_for_pid = storage_for_pid

    def find_class(self, module, name):
        found = _ADMITTED.get((module, name), _NO_SUCH)
        if found is _NO_SUCH:
            module, name = _python3_name(module, name)
            raise CheckpointError(
                f"{self._path}: refused to load: the pickle asks for {_one_line(module)}.{_one_line(name)}, "
                "which a checkpoint never needs (loading it could run code); only tensors and plain "
                "containers are read"
            )
        return found

    def persistent_load(self, pid):
        if self._storage_for_pid is None:
            raise CorruptCheckpoint("unexpected persistent id")
        return self._storage_for_pid(pid)


def _parse_storage_pid(pid, legacy):
    """Validate ``('storage', <type>, key, location, numel[, view_metadata])``."""
    if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
        raise CorruptCheckpoint("unexpected persistent id (not a storage)")
    if len(pid) not in ((5, 6) if legacy else (5,)):
        raise CorruptCheckpoint("storage persistent id of unexpected length")
    _, storage_type, key, location, numel = pid[:5]
    view = pid[5] if len(pid) == 6 else None
    if not _is_marker(storage_type, "storage"):
        raise CorruptCheckpoint("a storage of unknown type")
    if not isinstance(key, str) or not isinstance(location, str) or not _is_int(numel) or numel < 0:
        raise CorruptCheckpoint("a storage with invalid key, location or size")
    if view is not None:
        if not (isinstance(view, tuple) and len(view) == 3 and isinstance(view[0], str)
                and _is_int(view[1]) and _is_int(view[2]) and view[1] >= 0 and view[2] >= 0):
            raise CorruptCheckpoint("a storage view with invalid metadata")
    return storage_type.dtype, key, numel, view


# --------------------------------------------------------------------------------------------
# From raw bytes and references to numpy arrays


def _storage_array(raw, dtype, numel, big_endian, key):
    """Raw bytes of one storage -> 1-D numpy array of ``numel`` elements (native byte order)."""
    code = "u2" if dtype == "bf16" else dtype
    np_dtype = np.dtype(code).newbyteorder(">" if big_endian else "<")
    need = numel * np_dtype.itemsize
    if len(raw) < need:
        raise CorruptCheckpoint(f"storage {key} holds {len(raw)} bytes, {need} expected")
    arr = np.frombuffer(raw, dtype=np_dtype, count=numel)
    if dtype == "bf16":
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    elif np_dtype.byteorder not in ("=", "|") and np_dtype != np_dtype.newbyteorder("="):
        arr = arr.astype(np_dtype.newbyteorder("="))
    return arr


def _tensor_array(ref, storages):
    store = storages.get(ref.storage.key)
    if store is None:
        raise CorruptCheckpoint(f"storage {ref.storage.key} is missing")
    if ref.dtype is not None:
        # _rebuild_tensor_v3: the storage is untyped bytes, the dtype comes with the tensor.
        code = "u2" if ref.dtype == "bf16" else ref.dtype
        itemsize = np.dtype(code).itemsize
        usable = (store.size // itemsize) * itemsize
        store = store[:usable].view(np.dtype(code))
        if ref.dtype == "bf16":
            store = (store.astype(np.uint32) << 16).view(np.float32)
    size, stride, offset = ref.size, ref.stride, ref.offset
    if any(s == 0 for s in size):
        return np.empty(size, dtype=store.dtype)
    last = offset + sum((n - 1) * st for n, st in zip(size, stride))
    if last >= store.size:
        raise CorruptCheckpoint(
            f"a tensor of size {list(size)} reaches element {last} of storage {ref.storage.key}, "
            f"which has {store.size}"
        )
    item = store.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        store[offset:], shape=size, strides=tuple(st * item for st in stride), writeable=False
    )
    return np.array(view, order="C", copy=True)


def _resolve(obj, storages, memo):
    """Replace tensor references by arrays, stand-in dicts by plain dicts."""
    key = id(obj)
    if key in memo:
        return memo[key]
    if isinstance(obj, _TensorRef):
        out = memo[key] = _tensor_array(obj, storages)
    elif isinstance(obj, dict):
        out = memo[key] = {}
        for k, v in obj.items():
            out[_resolve(k, storages, memo)] = _resolve(v, storages, memo)
    elif isinstance(obj, list):
        out = memo[key] = []
        out.extend(_resolve(v, storages, memo) for v in obj)
    elif isinstance(obj, tuple):
        out = memo[key] = tuple(_resolve(v, storages, memo) for v in obj)
    elif isinstance(obj, (set, frozenset)):
        out = memo[key] = type(obj)(_resolve(v, storages, memo) for v in obj)
    elif isinstance(obj, _StorageRef):
        out = memo[key] = storages[obj.key].copy()
    elif isinstance(obj, _Frozen):
        raise CorruptCheckpoint(f"{obj!r} appears as a value")
    else:
        out = obj  # str, bytes, numbers, None, bool
    return out


# --------------------------------------------------------------------------------------------
# The two container formats


def _zip_root(names):
    pkls = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pkls) != 1:
        return None
    return pkls[0][: -len("/data.pkl")]


def _read_zip(path, zf):
    names = zf.namelist()
    root = _zip_root(names)
    if root is None:
        if "data.pkl" in names:
            root = ""
        else:
            raise CheckpointError(
                f"{path}: not a PyTorch checkpoint: a zip file without <folder>/data.pkl"
            )
    prefix = f"{root}/" if root else ""
    if any(n.startswith(prefix + "code/") or n == prefix + "constants.pkl" for n in names):
        raise CheckpointError(
            f"{path}: a TorchScript archive (torch.jit.save), not a checkpoint; save the model's "
            "state_dict with torch.save instead"
        )
    big_endian = False
    if prefix + "byteorder" in names:
        order = zf.read(prefix + "byteorder").decode("ascii", "replace").strip()
        if order not in ("little", "big"):
            raise CorruptCheckpoint(f"unknown byteorder {order!r}")
        big_endian = order == "big"

    wanted = {}  # key -> (dtype, numel)

    def storage_for_pid(pid):
        dtype, key, numel, _view = _parse_storage_pid(pid, legacy=False)
        seen = wanted.get(key)
        if seen is not None and seen != (dtype, numel):
            raise CorruptCheckpoint(f"storage {key} is named with two different types or sizes")
        wanted[key] = (dtype, numel)
        return _StorageRef(key, dtype, numel)

    with zf.open(prefix + "data.pkl") as f:
        obj = _RestrictedUnpickler(io.BytesIO(f.read()), path, storage_for_pid).load()

    storages = {}
    for key, (dtype, numel) in wanted.items():
        entry = f"{prefix}data/{key}"
        try:
            info = zf.getinfo(entry)
        except KeyError:
            raise CorruptCheckpoint(f"entry {entry} is missing") from None
        need = numel * (2 if dtype == "bf16" else np.dtype(dtype).itemsize)
        if info.file_size < need:
            raise CorruptCheckpoint(f"storage {key} holds {info.file_size} bytes, {need} expected")
        with zf.open(info) as entry_file:
            raw = entry_file.read(need)  # never more than the tensors need (no zip bombs)
        storages[key] = _storage_array(raw, dtype, numel, big_endian, key)
    return _resolve(obj, storages, {})


def _read_exact(f, n, what):
    here = f.tell()
    left = f.seek(0, os.SEEK_END) - here
    f.seek(here)
    if left < n:
        raise CorruptCheckpoint(f"the file ends inside {what} ({left} of {n} bytes)")
    data = f.read(n)
    if len(data) != n:
        raise CorruptCheckpoint(f"the file ends inside {what} ({len(data)} of {n} bytes)")
    return data


def _read_legacy(path, f):
    header = _RestrictedUnpickler(f, path, None)
    magic = header.load()
    if magic != _LEGACY_MAGIC:
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (wrong magic number)")
    protocol = _RestrictedUnpickler(f, path, None).load()
    if protocol != _LEGACY_PROTOCOL:
        raise CheckpointError(f"{path}: legacy torch checkpoint of unsupported protocol version {protocol!r}")
    sys_info = _RestrictedUnpickler(f, path, None).load()
    if not isinstance(sys_info, dict):
        raise CorruptCheckpoint("the sys info record is not a dict")
    big_endian = sys_info.get("little_endian", True) is False

    wanted = {}  # root key -> (dtype, numel)
    views = {}  # view key -> (root key, offset, size)

    def storage_for_pid(pid):
        dtype, key, numel, view = _parse_storage_pid(pid, legacy=True)
        seen = wanted.get(key)
        if seen is not None and seen[0] != dtype:
            raise CorruptCheckpoint(f"storage {key} is named with two different types")
        if seen is None or seen[1] < numel:
            wanted[key] = (dtype, numel)
        if view is not None:
            view_key, offset, size = view
            views[view_key] = (key, offset, size)
            return _StorageRef(view_key, dtype, size)
        return _StorageRef(key, dtype, numel)

    obj = _RestrictedUnpickler(f, path, storage_for_pid).load()
    keys = _RestrictedUnpickler(f, path, None).load()
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise CorruptCheckpoint("the list of storage keys is not a list of strings")
    order = ">" if big_endian else "<"
    storages = {}
    for key in keys:
        if key not in wanted:
            raise CorruptCheckpoint(f"storage {key} is listed but never used")
        dtype, numel = wanted[key]
        (count,) = struct.unpack(order + "q", _read_exact(f, 8, f"the size of storage {key}"))
        if count < numel:
            raise CorruptCheckpoint(f"storage {key} holds {count} elements, {numel} expected")
        itemsize = 2 if dtype == "bf16" else np.dtype(dtype).itemsize
        raw = _read_exact(f, count * itemsize, f"storage {key}")
        storages[key] = _storage_array(raw, dtype, count, big_endian, key)
    missing = [k for k in wanted if k not in storages]
    if missing:
        raise CorruptCheckpoint(f"{len(missing)} storages used by tensors are not in the file")
    for view_key, (root, offset, size) in views.items():
        base = storages[root]
        if offset + size > base.size:
            raise CorruptCheckpoint(f"storage view {view_key} reaches past its storage")
        storages[view_key] = base[offset: offset + size]
    return _resolve(obj, storages, {})


# --------------------------------------------------------------------------------------------


def sniff_torch_format(head):
    """``'zip'``, ``'legacy'`` or None, from the first bytes of a file (32 are plenty)."""
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:1] == b"\x80":  # PROTO, then for protocol 4+ a FRAME of 8 bytes, then the magic number
        start = 11 if head[2:3] == b"\x95" else 2
        if head[start: start + len(_LEGACY_MAGIC_OPS)] == _LEGACY_MAGIC_OPS:
            return "legacy"
    return None


def _describe_unknown(head):
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return "it is a Python pickle but not one written by torch.save (a Paddle .pdparams?)"
    if not head:
        return "the file is empty"
    return f"it starts with {head[:8]!r}"


def read_file_head(path, what="checkpoint file", size=32):
    """The first ``size`` bytes of ``path``; CheckpointError for a missing, folder or unreadable path."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such file")
    if os.path.isdir(path):
        raise CheckpointError(f"{path}: is a folder, not a {what}")
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be read: {e.strerror or e}") from None


def read_torch_checkpoint(path):
    """Read a PyTorch checkpoint file without torch.

    Returns the saved object with tensors as numpy arrays and containers as plain
    dicts/lists/tuples. Raises :class:`CheckpointError` (one line, naming the file) for a
    missing, truncated, corrupt, unsafe or foreign file.
    """
    path_str = os.fspath(path)
    read_file_head(path_str)
    try:
        with open(path_str, "rb") as f:
            head = f.read(32)
            kind = sniff_torch_format(head)
            if kind is None:
                is_tar = False
                try:
                    if tarfile.is_tarfile(path_str):
                        with tarfile.open(path_str) as tf:
                            is_tar = "pickle" in tf.getnames()
                except Exception:
                    pass
                if is_tar:
                    raise CheckpointError(
                        f"{path_str}: a tar-format torch checkpoint (torch < 0.1.10), which is not supported"
                    )
                raise CheckpointError(f"{path_str}: not a PyTorch checkpoint: {_describe_unknown(head)}")
            f.seek(0)
            if kind == "zip":
                try:
                    zf = zipfile.ZipFile(f)
                except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as e:
                    raise CheckpointError(
                        f"{path_str}: truncated or corrupt: it starts like a zip-format PyTorch "
                        f"checkpoint but its zip directory cannot be read ({_one_line(e)})"
                    ) from None
                with zf:
                    return _read_zip(path_str, zf)
            return _read_legacy(path_str, f)
    except CheckpointError:
        raise
    except PermissionError:
        raise CheckpointError(f"{path_str}: permission denied") from None
    except RecursionError:
        raise CheckpointError(f"{path_str}: corrupt: the object is nested too deeply") from None
    except MemoryError:
        raise CheckpointError(f"{path_str}: corrupt: reading it needs more memory than there is") from None
    except (EOFError, CorruptCheckpoint, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, TypeError,
            KeyError, IndexError, AttributeError, struct.error, UnicodeDecodeError, OverflowError,
            OSError) as e:
        detail = _one_line(e) or type(e).__name__
        if isinstance(e, EOFError):
            msg = f"truncated: the file ends inside a pickle ({detail})"
        elif "ends inside" in str(e):
            msg = f"truncated: {detail}"
        else:
            msg = f"truncated or corrupt: {detail}"
        raise CheckpointError(f"{path_str}: {msg}") from None
