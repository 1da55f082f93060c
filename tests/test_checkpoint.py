"""Reading original PyTorch checkpoints without torch, converting, writing .pdparams, the CLI."""
import io
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ppfom.checkpoint.convert import (
    original_to_paddlegan,
    read_weights,
    save_pdparams,
    torch_state_to_paddle,
)
from ppfom.checkpoint.torch_reader import read_torch_checkpoint
from ppfom.errors import CheckpointError

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "convert_weights.py"
SECTIONS = ("generator", "kp_detector")


def _fixture(shared_fixtures, name):
    path = shared_fixtures / name
    if not path.is_file():
        pytest.skip(f"fixture {name} not available")
    return path


@pytest.fixture(scope="module")
def npz(shared_fixtures):
    with np.load(_fixture(shared_fixtures, "fomm_small.npz")) as z:
        return {k: z[k] for k in z.files if k.split("/")[0] in SECTIONS}


@pytest.fixture(scope="module", params=["zip", "legacy"])
def fixture_ckpt(request, shared_fixtures):
    return _fixture(shared_fixtures, f"fomm_small_{request.param}.pth.tar")


@pytest.fixture(scope="module")
def zip_ckpt(shared_fixtures):
    return _fixture(shared_fixtures, "fomm_small_zip.pth.tar")


@pytest.fixture(scope="module")
def legacy_ckpt(shared_fixtures):
    return _fixture(shared_fixtures, "fomm_small_legacy.pth.tar")


# ---------------------------------------------------------------------------------------------
# Hand-built torch pickles (no torch needed): opcodes of protocol 2.


def _unicode(s):
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def _int(i):
    return b"J" + struct.pack("<i", i)


def _global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _int_tuple(values):
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def _tensor_ops(storage_class, key, numel, offset, size, stride, legacy):
    module, _, cls = ("torch." + storage_class).rpartition(".")  # "cuda.FloatStorage" -> torch.cuda
    location = "cuda:0" if module == "torch.cuda" else "cpu"
    pid = b"(" + _unicode("storage") + _global(module, cls) + _unicode(key) + _unicode(location) + _int(numel)
    pid += (b"N" if legacy else b"") + b"t"
    return (
        _global("torch._utils", "_rebuild_tensor_v2")
        + b"(" + pid + b"Q" + _int(offset) + _int_tuple(size) + _int_tuple(stride)
        + b"\x89" + _global("collections", "OrderedDict") + b")R" + b"tR"
    )


def _state_pickle(tensors, legacy=False, extra=b""):
    """Pickle of ``{'state': OrderedDict(name -> tensor)}`` + ``extra`` items (raw opcodes)."""
    ops = b"\x80\x02}(" + _unicode("state") + _global("collections", "OrderedDict") + b")R("
    for name, (storage_class, key, numel, offset, size, stride) in tensors.items():
        ops += _unicode(name) + _tensor_ops(storage_class, key, numel, offset, size, stride, legacy)
    ops += b"u" + extra + b"u."
    return ops


def _write_zip(path, data_pkl, storages, root="archive", byteorder="little"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{root}/data.pkl", data_pkl)
        zf.writestr(f"{root}/byteorder", byteorder)
        for key, raw in storages.items():
            zf.writestr(f"{root}/data/{key}", raw)
        zf.writestr(f"{root}/version", "3\n")
    return path


def _legacy_header(protocol=2):
    return (
        pickle.dumps(0x1950A86A20F9469CFC6C, protocol=protocol)
        + pickle.dumps(1001, protocol=protocol)
        + pickle.dumps({"protocol_version": 1001, "little_endian": True,
                        "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=protocol)
    )


def _write_legacy(path, obj_pickle, storages, keys_pickle=None, protocol=2):
    """``storages``: key -> (numel, raw bytes), written in this order."""
    body = _legacy_header(protocol) + obj_pickle
    body += keys_pickle if keys_pickle is not None else pickle.dumps(list(storages), protocol=2)
    for numel, raw in storages.values():
        body += struct.pack("<q", numel) + raw
    Path(path).write_bytes(body)
    return path


# Malicious payloads: each would create the marker file if unpickled by the standard pickle.
class _Exec:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


class _System:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _Subprocess:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (subprocess.call, (["touch", self.marker],))


def _eval_opcodes(marker):
    """builtins.eval via GLOBAL + REDUCE, written by hand."""
    return _global("builtins", "eval") + b"(" + _unicode(f"open({str(marker)!r}, 'w').write('x')") + b"tR"


PAYLOADS = {
    "exec": lambda m: pickle.dumps({"generator": _Exec(m)}, protocol=2),
    "os.system": lambda m: pickle.dumps({"generator": _System(m)}, protocol=2),
    "subprocess": lambda m: pickle.dumps({"generator": _Subprocess(m)}, protocol=2),
    # After a legitimate tensor, inside the state dict, so refusal also works mid-stream.
    "eval-in-state": lambda m: _state_pickle(
        {"w": ("FloatStorage", "0", 4, 0, (4,), (1,))}, extra=_unicode("evil") + _eval_opcodes(m)
    ),
}


# ---------------------------------------------------------------------------------------------
# The fixture checkpoints


def test_fixture_checkpoints_read_without_torch(fixture_ckpt, npz, monkeypatch):
    # None in sys.modules makes any `import torch` fail, whether or not torch is installed
    # or another test imported it already.
    monkeypatch.setitem(sys.modules, "torch", None)
    ckpt = read_torch_checkpoint(fixture_ckpt)
    assert set(ckpt) == {"generator", "kp_detector", "discriminator", "epoch"}
    assert ckpt["discriminator"] == {} and ckpt["epoch"] == 0
    for section in SECTIONS:
        state = ckpt[section]
        assert type(state) is dict
        expected = [k.split("/", 1)[1] for k in npz if k.startswith(section + "/")]
        assert list(state) == expected
        for name, value in state.items():
            ref = npz[f"{section}/{name}"]
            assert isinstance(value, np.ndarray) and value.flags.c_contiguous
            assert value.dtype == ref.dtype and value.shape == ref.shape, name
            assert np.array_equal(value, ref), name


def test_fixture_converts_to_paddlegan_layout(fixture_ckpt, npz):
    layout, origin = read_weights(fixture_ckpt)
    assert origin == "torch"
    assert list(layout) == list(SECTIONS)  # the empty discriminator is left out
    for section in SECTIONS:
        expected = {}
        for key, ref in npz.items():
            sec, name = key.split("/", 1)
            if sec != section or name.endswith(".num_batches_tracked"):
                continue
            name = name.replace(".running_mean", "._mean").replace(".running_var", "._variance")
            expected[name] = ref
        assert list(layout[section]) == list(expected)
        for name, ref in expected.items():
            got = layout[section][name]
            assert got.dtype == np.float32 and got.shape == ref.shape
            assert np.array_equal(got, ref), name
    assert "kp_detector.down.weight" not in layout["kp_detector"]
    assert "down.weight" in layout["kp_detector"]  # the anti-alias kernel buffer is no norm


def test_zip_and_legacy_identical(zip_ckpt, legacy_ckpt):
    a, b = read_torch_checkpoint(zip_ckpt), read_torch_checkpoint(legacy_ckpt)
    assert list(a) == list(b)
    assert a["epoch"] == b["epoch"] and a["discriminator"] == b["discriminator"]
    for section in SECTIONS:
        assert list(a[section]) == list(b[section])
        for name in a[section]:
            x, y = a[section][name], b[section][name]
            assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), name


def test_torch_file_detected_by_content(zip_ckpt, legacy_ckpt, tmp_path):
    for src in (zip_ckpt, legacy_ckpt):
        disguised = tmp_path / f"{src.stem}.pdparams"
        disguised.write_bytes(src.read_bytes())
        layout, origin = read_weights(disguised)
        assert origin == "torch" and set(layout) == set(SECTIONS)


# ---------------------------------------------------------------------------------------------
# Hand-built checkpoints: offsets, strides, dtypes, byte order, root folder name


def _storage(values, dtype, order="<"):
    return np.asarray(values).astype(np.dtype(dtype).newbyteorder(order)).tobytes()


def _bf16(values):
    bits = (np.asarray(values, np.float32).view(np.uint32) >> 16).astype("<u2")
    return bits.tobytes()


DTYPE_CASES = [
    # storage class, numpy dtype, values
    ("DoubleStorage", "f8", [1.5, -2.25, 3.0e-300, 7.0]),
    ("HalfStorage", "f2", [1.5, -2.25, 0.099975586, 65504.0]),
    ("LongStorage", "i8", [1, -2, 2 ** 40, -(2 ** 62)]),
    ("IntStorage", "i4", [1, -2, 2 ** 30, -7]),
    ("ShortStorage", "i2", [1, -2, 300, -7]),
    ("CharStorage", "i1", [1, -2, 127, -128]),
    ("ByteStorage", "u1", [0, 1, 200, 255]),
    ("BoolStorage", "?", [True, False, False, True]),
]


def _strided_spec():
    storage = np.arange(24, dtype=np.float32) * 0.5 - 3.0
    tensors = {
        "contig": ("FloatStorage", "0", 24, 0, (2, 3, 4), (12, 4, 1)),
        "transposed": ("FloatStorage", "0", 24, 2, (3, 4), (1, 3)),  # shares storage 0, offset 2
        "scalar": ("FloatStorage", "0", 24, 5, (), ()),
        "expanded": ("FloatStorage", "0", 24, 7, (2, 3), (0, 2)),
        "empty": ("FloatStorage", "0", 24, 0, (0, 5), (5, 1)),
    }
    expected = {
        "contig": storage.reshape(2, 3, 4),
        "transposed": np.array([[storage[2 + i + 3 * j] for j in range(4)] for i in range(3)], np.float32),
        "scalar": np.array(storage[5], np.float32),
        "expanded": np.array([[storage[7 + 2 * j] for j in range(3)]] * 2, np.float32),
        "empty": np.zeros((0, 5), np.float32),
    }
    return storage, tensors, expected


@pytest.mark.parametrize("fmt", ["zip", "legacy", "zip-big-endian"])
def test_offsets_strides_and_dtypes(tmp_path, fmt):
    storage, tensors, expected = _strided_spec()
    order = ">" if fmt == "zip-big-endian" else "<"
    raw = {"0": (24, _storage(storage, "f4", order))}
    for i, (cls, dt, values) in enumerate(DTYPE_CASES):
        key = f"d{i}"
        tensors[cls] = (cls, key, 4, 1, (3,), (1,))
        raw[key] = (4, _storage(values, dt, order))
        expected[cls] = np.asarray(values, dtype=dt)[1:]
    bf_values = [1.5, -2.0, 0.15625, 2.0 ** 100]
    tensors["bf16"] = ("BFloat16Storage", "bf", 4, 0, (2, 2), (2, 1))
    raw["bf"] = (4, _bf16(bf_values) if order == "<" else (np.asarray(bf_values, np.float32).view(np.uint32) >> 16)
                 .astype(">u2").tobytes())
    expected["bf16"] = np.asarray(bf_values, np.float32).reshape(2, 2)

    if fmt == "legacy":
        path = _write_legacy(tmp_path / "t.pth", _state_pickle(tensors, legacy=True), raw)
    else:
        path = _write_zip(tmp_path / "t.pth", _state_pickle(tensors), {k: v[1] for k, v in raw.items()},
                          root="some_other_root", byteorder="big" if order == ">" else "little")
    state = read_torch_checkpoint(path)["state"]
    assert list(state) == list(tensors)
    for name, ref in expected.items():
        got = state[name]
        assert got.dtype == ref.dtype, name
        assert got.shape == ref.shape, name
        assert np.array_equal(got, ref), name
        assert got.flags.c_contiguous and got.flags.owndata or got.size == 0
    # Tensors are copies: changing one leaves the other views of the storage alone.
    state["contig"][0, 0, 2] = 99.0
    assert state["transposed"][0, 0] == storage[2]


def test_legacy_with_protocol_4_pickles(tmp_path):
    """torch.save(..., pickle_protocol=4) puts a FRAME before the magic number."""
    tensors = {"w": ("FloatStorage", "k", 3, 0, (3,), (1,))}
    path = _write_legacy(tmp_path / "p4.pth", _state_pickle(tensors, legacy=True),
                         {"k": (3, _storage([1.0, 2.0, 3.0], "f4"))}, protocol=4)
    assert np.array_equal(read_torch_checkpoint(path)["state"]["w"], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_cuda_storages_read_to_cpu(tmp_path, fmt):
    """GPU-trained checkpoints (like the released vox-cpk.pth.tar) name torch.cuda storages."""
    tensors = {"w": ("cuda.FloatStorage", "k", 3, 0, (3,), (1,)), "n": ("cuda.LongStorage", "n", 1, 0, (), ())}
    raw = {"k": (3, _storage([1.0, 2.0, 3.0], "f4")), "n": (1, _storage([7], "i8"))}
    if fmt == "zip":
        path = _write_zip(tmp_path / "gpu.pth", _state_pickle(tensors), {k: v[1] for k, v in raw.items()})
    else:
        path = _write_legacy(tmp_path / "gpu.pth", _state_pickle(tensors, legacy=True), raw)
    state = read_torch_checkpoint(path)["state"]
    assert np.array_equal(state["w"], [1.0, 2.0, 3.0]) and state["n"].dtype == np.int64 and state["n"] == 7


def test_tensor_outside_its_storage_is_corrupt(tmp_path):
    tensors = {"w": ("FloatStorage", "0", 4, 2, (3,), (1,))}
    path = _write_zip(tmp_path / "bad.pth", _state_pickle(tensors), {"0": np.zeros(4, "<f4").tobytes()})
    with pytest.raises(CheckpointError, match="bad.pth"):
        read_torch_checkpoint(path)


def test_missing_storage_entry_is_corrupt(tmp_path):
    tensors = {"w": ("FloatStorage", "7", 4, 0, (4,), (1,))}
    path = _write_zip(tmp_path / "nodata.pth", _state_pickle(tensors), {})
    with pytest.raises(CheckpointError, match=r"nodata\.pth.*(corrupt|missing)"):
        read_torch_checkpoint(path)


def test_unknown_byteorder_refused(tmp_path):
    tensors = {"w": ("FloatStorage", "0", 4, 0, (4,), (1,))}
    path = _write_zip(tmp_path / "odd.pth", _state_pickle(tensors), {"0": bytes(16)}, byteorder="middle")
    with pytest.raises(CheckpointError, match="odd.pth"):
        read_torch_checkpoint(path)


# ---------------------------------------------------------------------------------------------
# Malicious pickles: refused, nothing runs


def test_payloads_are_real(tmp_path):
    """Sanity check of the test itself: the standard unpickler would run the payload."""
    marker = tmp_path / "marker_exec"
    pickle.loads(PAYLOADS["exec"](marker))
    assert marker.exists()


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_malicious_pickle_refused(tmp_path, payload, fmt):
    marker = tmp_path / "marker"
    data = PAYLOADS[payload](marker)
    path = tmp_path / f"evil_{fmt}.pth.tar"
    if fmt == "zip":
        _write_zip(path, data, {"0": bytes(16)}, root="evil")
    else:
        _write_legacy(path, data, {})
    with pytest.raises(CheckpointError) as info:
        read_torch_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"{path}: refused to load: the pickle asks for ")
    assert any(name in message for name in ("builtins.exec", "builtins.eval", "posix.system", "subprocess.call"))
    assert "\n" not in message
    assert not marker.exists()
    # read_weights goes the same way.
    with pytest.raises(CheckpointError, match="refused to load"):
        read_weights(path)
    assert not marker.exists()


def test_malicious_storage_key_list_refused(tmp_path):
    """Every pickle of a legacy file is restricted, not just the object."""
    marker = tmp_path / "marker"
    tensors = {"w": ("FloatStorage", "k", 4, 0, (4,), (1,))}
    path = _write_legacy(tmp_path / "evil_keys.pth", _state_pickle(tensors, legacy=True),
                         {"k": (4, bytes(16))}, keys_pickle=pickle.dumps(_Exec(marker), protocol=2))
    with pytest.raises(CheckpointError, match="refused to load.*builtins.exec"):
        read_torch_checkpoint(path)
    assert not marker.exists()


def test_malicious_pdparams_refused(tmp_path):
    """paddle.load unpickles without limits; read_weights checks the pickle first."""
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pdparams"
    path.write_bytes(pickle.dumps({"generator": _System(marker)}, protocol=4))
    with pytest.raises(CheckpointError, match="evil.pdparams: refused to load"):
        read_weights(path)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# Files that are not (whole) checkpoints


@pytest.fixture(scope="module")
def truncated(tmp_path_factory, zip_ckpt, legacy_ckpt):
    folder = tmp_path_factory.mktemp("truncated")
    out = {}
    for fmt, src in (("zip", zip_ckpt), ("legacy", legacy_ckpt)):
        data = src.read_bytes()
        out[fmt] = folder / f"half_{fmt}.pth.tar"
        out[fmt].write_bytes(data[: len(data) // 2])
    # Legacy cut inside the object pickle, not only inside the storages.
    data = legacy_ckpt.read_bytes()
    out["legacy-pickle"] = folder / "cut_pickle.pth.tar"
    out["legacy-pickle"].write_bytes(data[:20000])
    return out


@pytest.mark.parametrize("which", ["zip", "legacy", "legacy-pickle"])
def test_truncated_file(truncated, which):
    path = truncated[which]
    with pytest.raises(CheckpointError) as info:
        read_torch_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert "truncated" in message
    with pytest.raises(CheckpointError, match=path.name):
        read_weights(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.pth.tar"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError, match="noise.pth.tar: not a PyTorch checkpoint"):
        read_torch_checkpoint(path)
    with pytest.raises(CheckpointError, match="noise.pth.tar: neither"):
        read_weights(path)


def test_empty_and_foreign_zip(tmp_path):
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.pth"):
        read_torch_checkpoint(empty)
    with pytest.raises(CheckpointError, match="empty.pth"):
        read_weights(empty)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="other.zip: not a PyTorch checkpoint"):
        read_torch_checkpoint(other)


def test_pdparams_is_not_a_torch_checkpoint(tmp_path):
    path = tmp_path / "w.pdparams"
    path.write_bytes(pickle.dumps({"weight": np.zeros(3, np.float32)}, protocol=4))
    with pytest.raises(CheckpointError, match="w.pdparams: not a PyTorch checkpoint"):
        read_torch_checkpoint(path)


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.pth.tar"
    with pytest.raises(CheckpointError, match="nowhere.pth.tar: no such file"):
        read_torch_checkpoint(path)
    with pytest.raises(CheckpointError, match="nowhere.pth.tar: no such file"):
        read_weights(path)


# ---------------------------------------------------------------------------------------------
# Conversion of names


def test_torch_state_to_paddle_names():
    f64 = np.arange(3, dtype=np.float64)
    state = {
        "conv.weight": np.ones((3, 2, 1, 1), np.float32),
        "bn.weight": np.ones(3, np.float32),
        "bn.bias": np.zeros(3, np.float32),
        "bn.running_mean": f64,
        "bn.running_var": np.ones(3, np.float16),
        "bn.num_batches_tracked": np.array(5, np.int64),
        "down_blocks.1.norm.weight": np.full(3, 2.0, np.float32),  # InstanceNorm(affine)
        "down_blocks.1.norm.bias": np.zeros(3, np.float32),
        "down.weight": np.ones((3, 1, 13, 13), np.float32),  # a buffer named weight, not a norm
        "steps": np.array([1, 2], np.int32),
    }
    out = torch_state_to_paddle(state)
    assert list(out) == [
        "conv.weight", "bn.weight", "bn.bias", "bn._mean", "bn._variance",
        "down_blocks.1.norm.scale", "down_blocks.1.norm.bias", "down.weight", "steps",
    ]
    assert out["bn._mean"].dtype == np.float32 and np.array_equal(out["bn._mean"], f64)
    assert out["bn._variance"].dtype == np.float32
    assert out["steps"].dtype == np.int32
    assert np.array_equal(out["down_blocks.1.norm.scale"], np.full(3, 2.0))


def test_original_to_paddlegan_sections():
    w = {"a.weight": np.ones(2, np.float32)}
    ckpt = {"generator": w, "kp_detector": w, "discriminator": {"discs.1.conv.weight": np.ones((1, 2, 1, 1))},
            "epoch": 3, "optimizer_generator": {"state": {}, "param_groups": []}}
    layout = original_to_paddlegan(ckpt)
    assert list(layout) == ["generator", "kp_detector", "discriminator"]
    assert layout["discriminator"]["discs.1.conv.weight"].dtype == np.float32
    assert list(original_to_paddlegan({**ckpt, "discriminator": {}})) == ["generator", "kp_detector"]
    with pytest.raises(CheckpointError, match=r"no 'kp_detector'.*generator, discriminator, epoch"):
        original_to_paddlegan({"generator": w, "discriminator": {}, "epoch": 1})
    with pytest.raises(CheckpointError, match="single network"):
        original_to_paddlegan({"conv.weight": w["a.weight"], "conv.bias": w["a.weight"]})


# ---------------------------------------------------------------------------------------------
# Writing .pdparams


def _small_layout():
    return {
        "generator": {"conv.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2),
                      "bn._mean": np.array([0.5, -1.0], np.float32)},
        "kp_detector": {"down.weight": np.full((3, 1, 2, 2), 0.25, np.float32)},
    }


def test_save_pdparams_round_trip(tmp_path):
    import paddle

    layout = _small_layout()
    dst = tmp_path / "out.pdparams"
    save_pdparams(layout, dst)
    assert os.listdir(tmp_path) == ["out.pdparams"]
    loaded = paddle.load(str(dst))
    assert set(loaded) == set(layout)
    for section, state in layout.items():
        assert list(loaded[section]) == list(state)
        for name, value in state.items():
            got = loaded[section][name]
            got = got.numpy() if hasattr(got, "numpy") else got
            assert got.dtype == value.dtype and np.array_equal(got, value)
    back, origin = read_weights(dst)
    assert origin == "paddle" and all(np.array_equal(back[s][k], layout[s][k]) for s in layout for k in layout[s])

    # Refuses to overwrite; the file is untouched and no temporary file is left.
    before = dst.read_bytes()
    with pytest.raises(CheckpointError, match="out.pdparams: already exists"):
        save_pdparams({"generator": {}, "kp_detector": {}}, dst)
    assert dst.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.pdparams"]
    save_pdparams({"generator": {"x": np.zeros(1, np.float32)}, "kp_detector": {}}, dst, overwrite=True)
    assert os.listdir(tmp_path) == ["out.pdparams"]
    assert list(paddle.load(str(dst))["generator"]) == ["x"]


def test_save_pdparams_failure_leaves_nothing(tmp_path):
    dst = tmp_path / "broken.pdparams"
    with pytest.raises(CheckpointError, match="broken.pdparams"):
        save_pdparams({"generator": {"bad": lambda: None}}, dst)  # cannot be pickled
    assert os.listdir(tmp_path) == []
    with pytest.raises(CheckpointError, match="does not exist"):
        save_pdparams(_small_layout(), tmp_path / "no_folder" / "x.pdparams")


def test_pdparams_of_paddle_tensors_protocol_2(tmp_path):
    import paddle

    dst = tmp_path / "p2.pdparams"
    layer = paddle.nn.BatchNorm2D(3)
    paddle.save({"generator": layer.state_dict(), "kp_detector": {}}, str(dst), protocol=2)
    got, origin = read_weights(dst)
    assert origin == "paddle"
    assert list(got["generator"]) == ["weight", "bias", "_mean", "_variance"]
    assert all(isinstance(v, np.ndarray) for v in got["generator"].values())


def test_flat_pdparams_returned_as_is(tmp_path):
    flat = {"conv.weight": np.ones((2, 2), np.float32), "bn._mean": np.zeros(2, np.float32)}
    dst = tmp_path / "flat.pdparams"
    save_pdparams(flat, dst)
    got, origin = read_weights(dst)
    assert origin == "paddle" and list(got) == list(flat)
    assert all(isinstance(v, np.ndarray) and np.array_equal(v, flat[k]) for k, v in got.items())


# ---------------------------------------------------------------------------------------------
# The command line


def _run_tool(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_cli_converts_fixture(zip_ckpt, legacy_ckpt, tmp_path):
    dst = tmp_path / "converted.pdparams"
    proc = _run_tool(legacy_ckpt, dst)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = proc.stdout.strip().splitlines()
    assert len(summary) == 1 and "generator 169 tensors" in summary[0] and "kp_detector 65 tensors" in summary[0]
    written, origin = read_weights(dst)
    expected, _ = read_weights(zip_ckpt)
    assert origin == "paddle" and list(written) == list(expected)
    for section in expected:
        assert list(written[section]) == list(expected[section])
        for name, value in expected[section].items():
            assert np.array_equal(written[section][name], value), name
    assert sorted(os.listdir(tmp_path)) == ["converted.pdparams"]

    # Again without --overwrite: one line, non-zero, file untouched.
    before = dst.read_bytes()
    proc = _run_tool(legacy_ckpt, dst)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and "already exists" in proc.stderr
    assert dst.read_bytes() == before


def test_cli_errors_are_one_line(truncated, tmp_path):
    for src, needle in ((tmp_path / "missing.pth.tar", "no such file"), (truncated["legacy"], "truncated"),
                        (truncated["zip"], "truncated")):
        proc = _run_tool(src, tmp_path / "out.pdparams")
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, proc.stderr
        assert src.name in lines[0] and needle in lines[0]
        assert not (tmp_path / "out.pdparams").exists()
    assert os.listdir(tmp_path) == []


def test_ppfom_convert_subcommand(zip_ckpt, tmp_path, capsys):
    from ppfom.cli import _main, run_main

    dst = tmp_path / "sub.pdparams"
    assert run_main(_main, ["convert", str(zip_ckpt), str(dst)]) == 0
    assert "generator 169 tensors" in capsys.readouterr().out
    assert dst.is_file()
    assert run_main(_main, ["convert", str(tmp_path / "nope.pth"), str(tmp_path / "x.pdparams")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.pth: no such file" in err
