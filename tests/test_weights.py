"""The weight store against a local HTTP server on 127.0.0.1 (no other network)."""
import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

import ppfom
from ppfom import weights
from ppfom.cli import _main, run_main
from ppfom.errors import WeightsUnavailable
from ppfom.weights import WeightsEntry, WeightsError

REPO = Path(__file__).resolve().parent.parent

FOMM_STATE = {
    "generator": {"first.conv.weight": np.ones((8, 3, 7, 7), "float32"), "first.conv.bias": np.zeros(8, "float32")},
    "kp_detector": {"kp.weight": np.full((10, 32, 7, 7), 0.5, "float32")},
}
FLAT_STATE = {"conv1_1.weight": np.ones((4, 3, 3, 3), "float32"), "conv1_1.bias": np.zeros(4, "float32")}


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hung up on purpose (timeouts, aborted downloads) is not news


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path == "/truncated.pdparams":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.close_connection = True
            return
        if self.path == "/slow.pdparams":
            time.sleep(2)
        return super().do_GET()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import paddle

    root = tmp_path_factory.mktemp("served")
    paddle.save(FOMM_STATE, str(root / "fomm.pdparams"))
    paddle.save(FLAT_STATE, str(root / "flat.pdparams"))
    other = {k: {n: v + 1 for n, v in part.items()} for k, part in FOMM_STATE.items()}
    paddle.save(other, str(root / "fomm-other.pdparams"))
    (root / "garbage.pdparams").write_bytes(b"not a pickle at all" * 10)

    def handler(*args, **kwargs):
        return _Handler(*args, directory=str(root), **kwargs)

    httpd = _QuietServer(("127.0.0.1", 0), handler)
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield types.SimpleNamespace(base=base, root=root, requests=httpd.requests)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PPFOM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PPFOM_OFFLINE", raising=False)
    monkeypatch.setenv("PPFOM_DOWNLOAD_TIMEOUT", "5")
    for key in list(os.environ):
        if key.startswith("PPFOM_WEIGHTS_URL_"):
            monkeypatch.delenv(key)
    return tmp_path / "home"


def add_entry(monkeypatch, name="test-fomm", filename="test-fomm.pdparams", **kw):
    kw.setdefault("sections", ("generator", "kp_detector"))
    entry = WeightsEntry(name=name, filename=filename, description="test entry", **kw)
    monkeypatch.setitem(weights.ENTRIES, name, entry)
    return entry


def cache_files(home):
    d = home / "weights"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------- download
def test_download_places_verified_file_and_no_temp(home, server, monkeypatch):
    add_entry(monkeypatch, url=f"{server.base}/fomm.pdparams")
    path = weights.get_weights("test-fomm", progress=False)
    assert path == home / "weights" / "test-fomm.pdparams"
    assert path.read_bytes() == (server.root / "fomm.pdparams").read_bytes()
    assert cache_files(home) == ["test-fomm.pdparams", "test-fomm.pdparams.verified"]


def test_known_checksum_is_checked(home, server, monkeypatch):
    good = sha256(server.root / "fomm.pdparams")
    add_entry(monkeypatch, url=f"{server.base}/fomm.pdparams", sha256=good)
    assert weights.get_weights("test-fomm", progress=False).is_file()


def test_checksum_mismatch_leaves_nothing(home, server, monkeypatch):
    add_entry(monkeypatch, url=f"{server.base}/fomm.pdparams", sha256="0" * 64)
    with pytest.raises(WeightsUnavailable, match="sha256") as err:
        weights.get_weights("test-fomm", progress=False)
    assert "\n" not in str(err.value)
    assert cache_files(home) == []


def test_md5_mismatch_leaves_nothing(home, server, monkeypatch):
    add_entry(monkeypatch, url=f"{server.base}/fomm.pdparams", md5="0" * 32)
    with pytest.raises(WeightsUnavailable, match="md5"):
        weights.get_weights("test-fomm", progress=False)
    assert cache_files(home) == []


def test_http_404_names_file_url_and_destination(home, server, monkeypatch):
    url = f"{server.base}/missing.pdparams"
    add_entry(monkeypatch, url=url)
    with pytest.raises(WeightsUnavailable) as err:
        weights.get_weights("test-fomm", progress=False)
    msg = str(err.value)
    assert "\n" not in msg
    assert "test-fomm.pdparams" in msg and url in msg and "404" in msg
    assert str(home / "weights" / "test-fomm.pdparams") in msg
    assert "ppfom weights import FILE" in msg
    assert cache_files(home) == []


def test_unreachable_server(home, monkeypatch):
    url = f"http://127.0.0.1:{closed_port()}/fomm.pdparams"
    add_entry(monkeypatch, url=url)
    with pytest.raises(WeightsUnavailable) as err:
        weights.get_weights("test-fomm", progress=False)
    msg = str(err.value)
    assert "\n" not in msg and url in msg and str(home / "weights" / "test-fomm.pdparams") in msg
    assert cache_files(home) == []


def test_truncated_download_is_removed(home, server, monkeypatch):
    add_entry(monkeypatch, url=f"{server.base}/truncated.pdparams")
    with pytest.raises(WeightsUnavailable, match="truncated.pdparams"):
        weights.get_weights("test-fomm", progress=False)
    assert cache_files(home) == []


def test_timeout(home, server, monkeypatch):
    monkeypatch.setenv("PPFOM_DOWNLOAD_TIMEOUT", "0.3")
    add_entry(monkeypatch, url=f"{server.base}/slow.pdparams")
    with pytest.raises(WeightsUnavailable, match="timed out"):
        weights.get_weights("test-fomm", progress=False)
    assert cache_files(home) == []


def test_unreadable_download_is_removed(home, server, monkeypatch):
    add_entry(monkeypatch, url=f"{server.base}/garbage.pdparams")
    with pytest.raises(WeightsUnavailable, match="paddle.load"):
        weights.get_weights("test-fomm", progress=False)
    assert cache_files(home) == []


def test_offline_makes_no_request(home, server, monkeypatch):
    monkeypatch.setenv("PPFOM_OFFLINE", "1")
    url = f"{server.base}/fomm.pdparams"
    add_entry(monkeypatch, url=url)
    before = len(server.requests)
    with pytest.raises(WeightsUnavailable, match="PPFOM_OFFLINE") as err:
        weights.get_weights("test-fomm")
    assert url in str(err.value) and str(home / "weights" / "test-fomm.pdparams") in str(err.value)
    assert len(server.requests) == before
    assert cache_files(home) == []


def test_download_false_makes_no_request(home, server, monkeypatch):
    add_entry(monkeypatch, url=f"{server.base}/fomm.pdparams")
    before = len(server.requests)
    with pytest.raises(WeightsUnavailable, match="turned off"):
        weights.get_weights("test-fomm", download=False)
    assert len(server.requests) == before


def test_env_override_and_mirrors(home, server, monkeypatch):
    add_entry(monkeypatch, url=f"{server.base}/missing.pdparams")
    monkeypatch.setenv("PPFOM_WEIGHTS_URL_TEST_FOMM", f"{server.base}/fomm.pdparams")
    assert weights.get_weights("test-fomm", progress=False).is_file()

    add_entry(monkeypatch, name="test-mirror", filename="mirror.pdparams",
              url=f"{server.base}/missing.pdparams", mirrors=(f"{server.base}/fomm.pdparams",))
    assert weights.get_weights("test-mirror", progress=False).is_file()
    assert "mirror.pdparams" in cache_files(home)


# --------------------------------------------------------------------------- verification
def test_wrong_shapes_name_the_key_and_leave_nothing(home, server, monkeypatch):
    expected = {
        "generator": {"first.conv.weight": (16, 3, 7, 7), "first.conv.bias": (8,)},
        "kp_detector": {"kp.weight": (10, 32, 7, 7)},
    }
    add_entry(monkeypatch, url=f"{server.base}/fomm.pdparams", expected_shapes=lambda: expected)
    with pytest.raises(WeightsUnavailable, match=r"first\.conv\.weight") as err:
        weights.get_weights("test-fomm", progress=False)
    assert "\n" not in str(err.value)
    assert cache_files(home) == []


def test_missing_and_unexpected_keys_named(home, server, monkeypatch):
    expected = {"generator": {"first.conv.weight": (8, 3, 7, 7), "other.weight": (1,)},
                "kp_detector": {"kp.weight": (10, 32, 7, 7)}}
    add_entry(monkeypatch, url=f"{server.base}/fomm.pdparams", expected_shapes=lambda: expected)
    with pytest.raises(WeightsUnavailable) as err:
        weights.get_weights("test-fomm", progress=False)
    assert "other.weight" in str(err.value) and "first.conv.bias" in str(err.value)
    assert cache_files(home) == []


def test_matching_shapes_pass(home, server, monkeypatch):
    expected = {part: {k: v.shape for k, v in d.items()} for part, d in FOMM_STATE.items()}
    add_entry(monkeypatch, url=f"{server.base}/fomm.pdparams", expected_shapes=lambda: expected)
    assert weights.get_weights("test-fomm", progress=False).is_file()


def test_missing_section_fails(home, server, monkeypatch):
    add_entry(monkeypatch, url=f"{server.base}/flat.pdparams")
    with pytest.raises(WeightsUnavailable, match="'generator'"):
        weights.get_weights("test-fomm", progress=False)
    assert cache_files(home) == []


def test_flat_entry_required_keys(home, server, monkeypatch):
    add_entry(monkeypatch, name="test-flat", filename="flat.pdparams", sections=(),
              url=f"{server.base}/flat.pdparams",
              expected_shapes=lambda: {"conv1_1.weight": (4, 3, 3, 3)}, strict=False)
    assert weights.get_weights("test-flat", progress=False).is_file()


def test_registered_verifier(home, server, monkeypatch):
    add_entry(monkeypatch, url=f"{server.base}/fomm.pdparams")

    def reject(state):
        raise ValueError("kp_detector has too few keypoints")

    weights.register_verifier("test-fomm", reject)
    with pytest.raises(WeightsUnavailable, match="too few keypoints"):
        weights.get_weights("test-fomm", progress=False)
    assert cache_files(home) == []


def test_fomm_entries_use_model_shapes_when_available(monkeypatch):
    hook = weights.ENTRIES["vox-cpk"].expected_shapes
    calls = []
    fake = types.ModuleType("ppfom.api")
    fake.expected_weight_shapes = lambda config: calls.append(config) or {"generator": {}, "kp_detector": {}}
    monkeypatch.setitem(sys.modules, "ppfom.api", fake)
    monkeypatch.setattr(ppfom, "api", fake, raising=False)
    assert hook() == {"generator": {}, "kp_detector": {}}
    assert calls == ["firstorder_vox_256"]
    assert weights.ENTRIES["vox-cpk-512"].expected_shapes.config_name == "firstorder_vox_512"
    assert weights.ENTRIES["vox-mobile"].expected_shapes.config_name == "firstorder_vox_mobile_256"

    without = types.ModuleType("ppfom.api")  # the function is not written yet
    monkeypatch.setitem(sys.modules, "ppfom.api", without)
    monkeypatch.setattr(ppfom, "api", without, raising=False)
    assert hook() is None


# --------------------------------------------------------------------------- cache reuse
def test_cached_file_is_reused_without_request_or_reload(home, server, monkeypatch):
    add_entry(monkeypatch, url=f"{server.base}/fomm.pdparams")
    path = weights.get_weights("test-fomm", progress=False)
    before = len(server.requests)

    def no_load(path):
        raise AssertionError("verified file loaded again")

    monkeypatch.setattr(weights, "load_state", no_load)
    assert weights.get_weights("test-fomm") == path
    assert len(server.requests) == before

    # a changed file (new mtime) is verified again
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(WeightsUnavailable, match="verified file loaded again"):
        weights.get_weights("test-fomm")
    assert len(server.requests) == before


def test_hand_placed_file_is_verified_once(home, server, monkeypatch):
    add_entry(monkeypatch, url=f"{server.base}/fomm.pdparams")
    d = home / "weights"
    d.mkdir(parents=True)
    (d / "test-fomm.pdparams").write_bytes((server.root / "flat.pdparams").read_bytes())
    with pytest.raises(WeightsUnavailable, match="fail verification.*--force"):
        weights.get_weights("test-fomm")
    (d / "test-fomm.pdparams").write_bytes((server.root / "fomm.pdparams").read_bytes())
    assert weights.get_weights("test-fomm", download=False) == d / "test-fomm.pdparams"
    assert (d / "test-fomm.pdparams.verified").is_file()


def test_force_download_replaces(home, server, monkeypatch):
    add_entry(monkeypatch, url=f"{server.base}/fomm.pdparams")
    path = weights.get_weights("test-fomm", progress=False)
    monkeypatch.setenv("PPFOM_WEIGHTS_URL_TEST_FOMM", f"{server.base}/fomm-other.pdparams")
    assert weights.download_weights("test-fomm", progress=False) == path  # cached: kept
    assert sha256(path) == sha256(server.root / "fomm.pdparams")
    weights.download_weights("test-fomm", force=True, progress=False)
    assert sha256(path) == sha256(server.root / "fomm-other.pdparams")
    assert cache_files(home) == ["test-fomm.pdparams", "test-fomm.pdparams.verified"]


def test_bundled_entry(home, tmp_path, monkeypatch):
    import paddle

    monkeypatch.setattr(weights, "REPO_ROOT", tmp_path / "repo")
    bundled = tmp_path / "repo" / "ppfom" / "data" / "mine.pdparams"
    add_entry(monkeypatch, name="test-bundled", filename="mine.pdparams", bundled="ppfom/data/mine.pdparams")
    with pytest.raises(WeightsUnavailable, match="bundled"):
        weights.get_weights("test-bundled")
    bundled.parent.mkdir(parents=True)
    paddle.save(FOMM_STATE, str(bundled))
    assert weights.get_weights("test-bundled") == bundled
    assert weights.weights_path("test-bundled") == bundled


# --------------------------------------------------------------------------- import
def test_import_guesses_name_and_refuses_overwrite(home, server, tmp_path, monkeypatch):
    add_entry(monkeypatch)
    src = tmp_path / "test-fomm.pdparams"
    src.write_bytes((server.root / "fomm.pdparams").read_bytes())
    dest = weights.import_weights(src)
    assert dest == home / "weights" / "test-fomm.pdparams"
    assert dest.read_bytes() == src.read_bytes()
    assert cache_files(home) == ["test-fomm.pdparams", "test-fomm.pdparams.verified"]
    assert weights.import_weights(src) == dest  # the same file again: fine

    other = tmp_path / "renamed.pdparams"
    other.write_bytes((server.root / "fomm-other.pdparams").read_bytes())
    with pytest.raises(WeightsError, match="--overwrite"):
        weights.import_weights(other, name="test-fomm")
    assert sha256(dest) == sha256(src)
    weights.import_weights(other, name="test-fomm", overwrite=True)
    assert sha256(dest) == sha256(other)
    assert cache_files(home) == ["test-fomm.pdparams", "test-fomm.pdparams.verified"]


def test_import_rejects_unknown_and_bad_files(home, server, tmp_path, monkeypatch):
    add_entry(monkeypatch)
    odd = tmp_path / "whatever.pdparams"
    odd.write_bytes((server.root / "fomm.pdparams").read_bytes())
    with pytest.raises(WeightsError, match="vox-cpk") as err:
        weights.import_weights(odd)
    assert "test-fomm" in str(err.value)
    flat = tmp_path / "flat.pdparams"
    flat.write_bytes((server.root / "flat.pdparams").read_bytes())
    with pytest.raises(WeightsError, match="'generator'"):
        weights.import_weights(flat, name="test-fomm")
    with pytest.raises(WeightsError, match="no such file"):
        weights.import_weights(tmp_path / "absent.pdparams", name="test-fomm")
    assert cache_files(home) == []


def test_guess_entry():
    assert weights.guess_entry("/x/vox-cpk.pdparams") == "vox-cpk"
    assert weights.guess_entry("vox_mobile.pdparams") == "vox-mobile"
    assert weights.guess_entry("vox-mobile.pdparams") == "vox-mobile"
    assert weights.guess_entry("VOX_CPK_512.pdparams") == "vox-cpk-512"
    assert weights.guess_entry("s3fd_paddle.pdparams") == "s3fd_paddle"
    assert weights.guess_entry("gpen-512.pdparams") == "GPEN-512"
    assert weights.guess_entry("model.pdparams") is None


def test_home_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("PPFOM_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.weights_dir() == tmp_path / "xdg" / "ppfom" / "weights"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert weights.weights_dir() == tmp_path / "h" / ".cache" / "ppfom" / "weights"
    monkeypatch.setenv("PPFOM_HOME", str(tmp_path / "p"))
    assert weights.ppfom_home() == tmp_path / "p"


def test_published_entries_are_complete():
    for name in ("vox-cpk", "vox-cpk-512", "vox-mobile", "s3fd_paddle", "GPEN-512", "vgg19"):
        e = weights.ENTRIES[name]
        assert e.url.startswith("https://paddlegan.bj.bcebos.com/") and e.url.endswith(e.filename)
        assert e.description
    for name in ("vox-cpk", "vox-cpk-512", "vox-mobile"):
        assert weights.ENTRIES[name].sections == ("generator", "kp_detector")


# --------------------------------------------------------------------------- command line
def _cli(args, home, **env):
    full = dict(os.environ, PPFOM_HOME=str(home), PYTHONPATH=str(REPO), **env)
    full.pop("PPFOM_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "ppfom.cli", *args], cwd=str(REPO), env=full,
                          capture_output=True, text=True, timeout=120)


def test_cli_list_and_offline_download(home):
    done = _cli(["weights", "list"], home)
    assert done.returncode == 0, done.stderr
    for name in ("vox-cpk", "vox-cpk-512", "vox-mobile", "s3fd_paddle", "GPEN-512", "vgg19"):
        assert name in done.stdout
    assert "absent" in done.stdout and str(home / "weights") in done.stdout

    done = _cli(["weights", "download", "vox-cpk"], home, PPFOM_OFFLINE="1")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "vox-cpk.pdparams" in lines[0] and str(home / "weights" / "vox-cpk.pdparams") in lines[0]
    assert "https://paddlegan.bj.bcebos.com/applications/first_order_model/vox-cpk.pdparams" in lines[0]


def test_cli_in_process(home, server, tmp_path, monkeypatch, capsys):
    add_entry(monkeypatch, url=f"{server.base}/fomm.pdparams")
    assert run_main(_main, ["weights", "path", "test-fomm"]) == 0
    assert capsys.readouterr().out.strip() == str(home / "weights" / "test-fomm.pdparams")

    assert run_main(_main, ["weights", "download", "test-fomm", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "test-fomm:" in out and "test-fomm.pdparams" in out

    assert run_main(_main, ["weights", "list"]) == 0
    row = [l for l in capsys.readouterr().out.splitlines() if l.startswith("test-fomm ")][0]
    assert "present" in row and "KiB" in row

    src = tmp_path / "mine.pdparams"
    src.write_bytes((server.root / "fomm-other.pdparams").read_bytes())
    assert run_main(_main, ["weights", "import", str(src), "--name", "test-fomm"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--overwrite" in err[0]
    assert run_main(_main, ["weights", "import", str(src), "--name", "test-fomm", "--overwrite"]) == 0
    assert sha256(home / "weights" / "test-fomm.pdparams") == sha256(src)

    assert run_main(_main, ["weights", "download", "no-such"]) == 2
    assert "unknown weights" in capsys.readouterr().err


def test_failing_shape_hook_is_reported_as_such(home, server, monkeypatch):
    def broken():
        raise RuntimeError("no config called firstorder_test")

    add_entry(monkeypatch, url=f"{server.base}/fomm.pdparams", expected_shapes=broken)
    with pytest.raises(WeightsUnavailable, match="cannot compute the shapes.*firstorder_test"):
        weights.get_weights("test-fomm", progress=False)
    assert cache_files(home) == []
