"""The weight store: named published weight files, cached, downloaded and verified.

Every file ppfom needs (the FOMM checkpoints PaddleGAN publishes, the face detector, the
face enhancer, the VGG19 of the perceptual loss) is an entry of :data:`ENTRIES`, a plain
dict of :class:`WeightsEntry` keyed by name. :func:`get_weights` returns a local path:

* the cached file ``<home>/weights/<file name>`` when it is there; it is verified once and
  a small ``<file name>.verified`` marker (size and mtime) spares big files a new check on
  every run;
* otherwise the file is downloaded (urllib, with a timeout and a tqdm progress bar) into a
  temporary file in the cache folder, its checksum checked when one is known, loaded with
  ``paddle.load`` and checked by the entry's verification, then renamed into place with
  ``os.replace``. Any failure removes the temporary file and raises
  :class:`~ppfom.errors.WeightsUnavailable` with one line naming the file, the URL and the
  path where the file can be put by hand (or imported with ``ppfom weights import FILE``).

Entries whose file ships inside the repository set ``bundled`` (a path relative to the
repository root) instead of ``url``; :func:`register_entry` adds entries at run time.

Environment
-----------
``PPFOM_HOME``
    the cache home; default ``$XDG_CACHE_HOME/ppfom`` or ``~/.cache/ppfom``. Weights live
    in ``<home>/weights/``.
``PPFOM_OFFLINE=1``
    never touch the network: a missing file raises at once.
``PPFOM_WEIGHTS_URL_<NAME>``
    replaces the download URL of entry ``<NAME>`` (upper case, every character other than
    a letter or digit written ``_``: ``PPFOM_WEIGHTS_URL_VOX_CPK`` for ``vox-cpk``). Mirrors
    and tests use it; tests may equally replace ``ENTRIES[name]`` with monkeypatch, e.g.
    ``monkeypatch.setitem(ENTRIES, "vox-cpk", dataclasses.replace(ENTRIES["vox-cpk"], url=...))``.
``PPFOM_DOWNLOAD_TIMEOUT``
    seconds a connection may stay silent before a download fails (default 30).

Verification
------------
The generic check: ``paddle.load`` gives a dict holding arrays, and every section the entry
names in ``sections`` (``generator`` and ``kp_detector`` for the FOMM files) is a dict of
arrays. When the entry has ``expected_shapes`` (a callable returning
``{section: {key: shape}}``, or ``{key: shape}`` for a flat file, or None for "unknown") the
shapes are compared key by key with :func:`ppfom.checkpoint.state.compare_state` and any
difference fails naming the keys. ``strict=False`` entries only require the listed keys and
accept others. Further checks plug in with :func:`register_verifier`.
"""
import dataclasses
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional, Tuple

from .checkpoint.state import compare_state, describe_differences
from .errors import CheckpointError, PpfomError, WeightsUnavailable

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 20
_USER_AGENT = "ppfom-weights/0.1 (+urllib)"


class WeightsError(PpfomError):
    """A weights request the store cannot serve: an unknown name, an import refused."""


# --------------------------------------------------------------------------- entries
@dataclass
class WeightsEntry:
    """One named weights file.

    ``expected_shapes`` is called lazily (building a model may be slow) and returns
    ``{section: {key: shape}}`` (``{key: shape}`` when ``sections`` is empty), or None when
    the shapes are unknown. ``verify`` is an extra hook ``fn(state)`` that raises (any
    exception; :class:`~ppfom.errors.CheckpointError` preferred) when the loaded state is
    wrong. ``aliases`` are other file names the same weights go by (for
    :func:`import_weights` to recognise); ``mirrors`` are further URLs tried in order when
    ``url`` fails.
    """

    name: str
    filename: str
    url: Optional[str] = None
    description: str = ""
    sha256: Optional[str] = None
    md5: Optional[str] = None
    sections: Tuple[str, ...] = ()
    expected_shapes: Optional[Callable[[], Optional[Mapping]]] = None
    strict: bool = True
    verify: Optional[Callable[[Mapping], None]] = None
    bundled: Optional[str] = None
    aliases: Tuple[str, ...] = ()
    mirrors: Tuple[str, ...] = ()
    source: str = ""  # where the URL was learnt, for the curious

    @property
    def env_var(self) -> str:
        return "PPFOM_WEIGHTS_URL_" + re.sub(r"[^A-Za-z0-9]", "_", self.name).upper()

    def urls(self) -> Tuple[str, ...]:
        """URLs to try, in order: the environment override alone, or url then mirrors."""
        override = os.environ.get(self.env_var)
        if override:
            return (override,)
        return tuple(u for u in (self.url, *self.mirrors) if u)


def _fomm_shapes(config_name: str) -> Callable[[], Optional[Mapping]]:
    """Expected shapes of a FOMM checkpoint from the model code, once that code exists."""

    def expected():
        try:
            from . import api
        except ImportError:  # the model code is not there (yet): the generic check only
            return None
        fn = getattr(api, "expected_weight_shapes", None)
        if fn is None:
            return None
        return fn(config_name)

    expected.config_name = config_name
    return expected


def _required(shapes: Mapping[str, Tuple[int, ...]]) -> Callable[[], Mapping]:
    return lambda: dict(shapes)


def _vgg19_features() -> Dict[str, Tuple[int, ...]]:
    """Shapes of the 16 convolutions of ``paddle.vision.models.vgg19().features``."""
    channels = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
    shapes, index, c_in = {}, 0, 3
    for c in channels:
        if c == "M":
            index += 1
            continue
        shapes[f"features.{index}.weight"] = (c, c_in, 3, 3)
        shapes[f"features.{index}.bias"] = (c,)
        index += 2  # the convolution and its ReLU
        c_in = c
    return shapes


_FOMM_SECTIONS = ("generator", "kp_detector")
_PADDLEGAN_FOMM = "PaddlePaddle/PaddleGAN ppgan/apps/first_order_predictor.py"


def _shipped_fomm(name: str, filename: str, config_name: str, made: str, description: str) -> WeightsEntry:
    """A FOMM that ppfom trains and bundles in ppfom/assets/: its shapes and source follow its config."""
    return WeightsEntry(name=name, filename=filename, bundled=f"ppfom/assets/{filename}",
                        description=description, sections=_FOMM_SECTIONS,
                        expected_shapes=_fomm_shapes(config_name),
                        source=f"{made} by ppfom with configs/{config_name}.yaml")


ENTRIES: Dict[str, WeightsEntry] = {}


def register_entry(entry: WeightsEntry, replace: bool = False) -> WeightsEntry:
    """Add ``entry`` to :data:`ENTRIES`; an existing name needs ``replace=True``."""
    if entry.name in ENTRIES and not replace:
        raise WeightsError(f"a weights entry named {entry.name!r} already exists")
    ENTRIES[entry.name] = entry
    return entry


def register_verifier(entry_name: str, fn: Callable[[Mapping], None]) -> None:
    """Attach an extra check ``fn(state)`` to an entry; it raises when ``state`` is wrong."""
    entry = get_entry(entry_name)
    ENTRIES[entry_name] = dataclasses.replace(entry, verify=fn)


for _e in (
    WeightsEntry(
        name="vox-cpk",
        filename="vox-cpk.pdparams",
        url="https://paddlegan.bj.bcebos.com/applications/first_order_model/vox-cpk.pdparams",
        description="FOMM VoxCeleb 256x256: generator + kp_detector",
        sections=_FOMM_SECTIONS,
        expected_shapes=_fomm_shapes("firstorder_vox_256"),
        source=_PADDLEGAN_FOMM,
    ),
    WeightsEntry(
        name="vox-cpk-512",
        filename="vox-cpk-512.pdparams",
        url="https://paddlegan.bj.bcebos.com/applications/first_order_model/vox-cpk-512.pdparams",
        description="FOMM VoxCeleb 512x512: generator + kp_detector",
        sections=_FOMM_SECTIONS,
        expected_shapes=_fomm_shapes("firstorder_vox_512"),
        source=_PADDLEGAN_FOMM,
    ),
    WeightsEntry(
        name="vox-mobile",
        filename="vox-mobile.pdparams",
        url="https://paddlegan.bj.bcebos.com/applications/first_order_model/vox-mobile.pdparams",
        # PaddleGAN forks and its export docs spell the file with an underscore
        mirrors=("https://paddlegan.bj.bcebos.com/applications/first_order_model/vox_mobile.pdparams",),
        aliases=("vox_mobile.pdparams",),
        description="FOMM VoxCeleb 256x256, compressed mobile networks: generator + kp_detector",
        sections=_FOMM_SECTIONS,
        expected_shapes=_fomm_shapes("firstorder_vox_mobile_256"),
        source=_PADDLEGAN_FOMM + "; docs/en_US/tutorials/motion_driving.md",
    ),
    WeightsEntry(
        name="s3fd_paddle",
        filename="s3fd_paddle.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/s3fd_paddle.pdparams",
        description="S3FD face detector (used to crop faces)",
        # every key and shape of our S3FD network, from its layer table (imported lazily)
        expected_shapes=lambda: __import__("ppfom.faces.s3fd", fromlist=["expected_shapes"]).expected_shapes(),
        source="PaddlePaddle/PaddleGAN ppgan/faceutils/face_detection/detection/sfd/sfd_detector.py",
    ),
    WeightsEntry(
        name="GPEN-512",
        filename="GPEN-512.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/GPEN-512.pdparams",
        description="GPEN 512x512 face enhancer (optional post-processing)",
        # every learned parameter by name and shape (ppfom.enhance.gpen, PaddleGAN's names);
        # the rest is checked by the verify hook: only known buffers (FIR kernels, equal to
        # the fixed kernel; the unused noise maps), in PaddleGAN's or the original's layout
        expected_shapes=lambda: __import__(
            f"{__package__}.enhance.gpen", fromlist=["gpen"]).gpen_512_parameter_shapes(),
        strict=False,
        verify=lambda state: __import__(
            f"{__package__}.enhance.gpen", fromlist=["gpen"]).check_gpen_512_state(state),
        source="PaddlePaddle/PaddleGAN ppgan/faceutils/face_enhancement/face_enhance.py",
    ),
    WeightsEntry(
        name="vgg19",
        filename="vgg19.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/vgg19.pdparams",
        description="VGG19 ImageNet features for the perceptual loss (training only)",
        expected_shapes=_required(_vgg19_features()),
        strict=False,
        source="PaddlePaddle/PaddleGAN ppgan/models/generators/generator_firstorder.py",
    ),
    _shipped_fomm("ppfom-synthetic-64", "fomm_synthetic_64.pdparams", "firstorder_synthetic_64", "trained",
                  "ppfom's own small FOMM (64x64), trained on synthetic talking heads; the offline "
                  "default of the demo's no-argument run (MODEL_CARD.md)"),
    _shipped_fomm("ppfom-synthetic-64-mobile", "fomm_synthetic_64_mobile.pdparams",
                  "firstorder_synthetic_64_mobile_pruned", "distilled and pruned",
                  "the compressed student of ppfom-synthetic-64 (mobile blocks, distilled, pruned); "
                  "the demo's --mobile_net on the built-in sample (README, Compressing a model)"),
):
    register_entry(_e)
del _e


def get_entry(name: str) -> WeightsEntry:
    if name not in ENTRIES:
        raise WeightsError(f"unknown weights {name!r} (known: {', '.join(sorted(ENTRIES))})")
    return ENTRIES[name]


# --------------------------------------------------------------------------- places
def ppfom_home() -> Path:
    """``$PPFOM_HOME``, else ``$XDG_CACHE_HOME/ppfom``, else ``~/.cache/ppfom``."""
    home = os.environ.get("PPFOM_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ppfom"


def weights_dir() -> Path:
    return ppfom_home() / "weights"


def weights_path(name: str) -> Path:
    """Where entry ``name`` lives: its bundled path, or its place in the cache."""
    entry = get_entry(name)
    if entry.bundled:
        return REPO_ROOT / entry.bundled
    return weights_dir() / entry.filename


def is_present(name: str) -> bool:
    return weights_path(name).is_file()


def offline() -> bool:
    return os.environ.get("PPFOM_OFFLINE", "").strip().lower() not in ("", "0", "false", "no", "off")


def _timeout() -> float:
    value = os.environ.get("PPFOM_DOWNLOAD_TIMEOUT")
    try:
        return float(value) if value else DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT


def _marker(path: Path) -> Path:
    if path.parent == weights_dir():
        return path.with_name(path.name + ".verified")
    # bundled files: the repository may be read-only, keep the marker in the cache
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    return weights_dir() / f".bundled-{path.name}-{digest}.verified"


def _stat_key(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _marker_ok(path: Path) -> bool:
    try:
        with open(_marker(path)) as f:
            recorded = json.load(f)
        return {k: recorded.get(k) for k in ("size", "mtime_ns")} == _stat_key(path)
    except (OSError, ValueError, AttributeError):
        return False


def _write_marker(path: Path, sha256: Optional[str] = None) -> None:
    data = _stat_key(path)
    if sha256:
        data["sha256"] = sha256
    try:
        marker = _marker(path)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(data))
    except OSError:
        pass  # a read-only cache only costs a new check next time


def _drop_marker(path: Path) -> None:
    try:
        _marker(path).unlink()
    except OSError:
        pass


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _reason(e: BaseException) -> str:
    """One line for an exception: its message, with the type unless it is a PpfomError."""
    text = _one_line(e)
    if isinstance(e, PpfomError):
        return text
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _hashes(path: Path) -> Tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


# --------------------------------------------------------------------------- verification
def _is_array(value) -> bool:
    return not isinstance(value, (dict, str, bytes)) and hasattr(value, "shape")


def _arrays(state: Mapping) -> Dict[str, object]:
    """The array entries of a state dict, leaving out paddle's ``...@@`` bookkeeping keys."""
    return {k: v for k, v in state.items() if _is_array(v) and "@@" not in str(k)}


def check_checksum(entry: WeightsEntry, path: Path) -> str:
    """Compare the file with the entry's sha256/md5 when known; return its sha256."""
    sha, md5 = _hashes(path)
    if entry.sha256 and sha != entry.sha256.lower():
        raise CheckpointError(f"sha256 {sha} of {path.name} is not the expected {entry.sha256}")
    if entry.md5 and md5 != entry.md5.lower():
        raise CheckpointError(f"md5 {md5} of {path.name} is not the expected {entry.md5}")
    return sha


def _compare(expected: Mapping, state: Mapping, strict: bool, what: str) -> None:
    missing, unexpected, mismatched = compare_state(expected, _arrays(state))
    if not strict:
        unexpected = []
    if missing or unexpected or mismatched:
        raise CheckpointError(f"{what} does not fit the model: {describe_differences(missing, unexpected, mismatched)}")


def verify_state(entry: WeightsEntry, state, label: Optional[str] = None) -> None:
    """Check a loaded state against ``entry``; raises CheckpointError naming what is wrong."""
    label = label or entry.filename
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{label} holds a {type(state).__name__}, not a dict of weights")
    for section in entry.sections:
        if section not in state:
            found = ", ".join(sorted(map(str, state))[:8]) or "nothing"
            raise CheckpointError(f"{label} has no {section!r} section (found: {found})")
        part = state[section]
        if not isinstance(part, Mapping) or not _arrays(part):
            raise CheckpointError(f"{label} section {section!r} is not a dict of arrays")
        odd = [k for k, v in part.items() if not _is_array(v) and "@@" not in str(k)]
        if odd:
            raise CheckpointError(f"{label} section {section!r} holds non-arrays: {', '.join(map(str, odd[:6]))}")
    if not entry.sections and not _arrays(state):
        raise CheckpointError(f"{label} holds no arrays at its top level")

    try:
        expected = entry.expected_shapes() if entry.expected_shapes else None
    except Exception as e:  # the model code failed, not the file: say so
        raise CheckpointError(f"cannot compute the shapes {label} should have: {_reason(e)}")
    if expected:
        nested = all(isinstance(v, Mapping) for v in expected.values())
        if nested:
            for section, shapes in expected.items():
                part = state.get(section)
                if not isinstance(part, Mapping):
                    raise CheckpointError(f"{label} has no {section!r} section")
                _compare(shapes, part, entry.strict, f"{label} section {section!r}")
        else:
            _compare(expected, state, entry.strict, label)
    if entry.verify is not None:
        try:
            entry.verify(state)
        except PpfomError:
            raise
        except Exception as e:  # a hook's own error still reads as one line
            raise CheckpointError(f"{label} fails the {entry.name} check: {_reason(e)}")


def load_state(path: Path):
    """``paddle.load`` with arrays as numpy (no device memory); CheckpointError if unreadable."""
    import paddle

    try:
        return paddle.load(str(path), return_numpy=True)
    except Exception as e:
        raise CheckpointError(f"{Path(path).name} cannot be read by paddle.load: {_reason(e)}")


def verify_file(entry: WeightsEntry, path: Path, label: Optional[str] = None) -> str:
    """Checksum (when known), load and structure check; returns the file's sha256."""
    sha = check_checksum(entry, path)
    verify_state(entry, load_state(path), label or entry.filename)
    return sha


# --------------------------------------------------------------------------- download
def _unavailable(entry: WeightsEntry, reason: str, urls: Tuple[str, ...] = ()) -> WeightsUnavailable:
    dest = weights_path(entry.name)
    urls = urls or entry.urls()
    if entry.bundled:
        return WeightsUnavailable(
            f"bundled weights {entry.filename} ({entry.name}) are missing at {dest}: {reason}; "
            f"restore the file from the repository"
        )
    where = f"from {urls[0]}" if urls else "(no download URL is known)"
    return WeightsUnavailable(
        f"cannot get weights {entry.filename} ({entry.name}) {where}: {_one_line(reason)}; "
        f"download it by hand and put it at {dest}, or run `ppfom weights import FILE --name {entry.name}`"
    )


def _fetch(url: str, tmp_file, label: str, timeout: float, progress: bool) -> None:
    """Stream ``url`` into the open ``tmp_file``; raises OSError/ValueError on failure."""
    import urllib.request

    from tqdm import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                  disable=not progress, file=sys.stderr, leave=False) as bar:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                tmp_file.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise ValueError(f"incomplete download: {received} of {total} bytes")


def _describe(e: BaseException) -> str:
    import socket
    import urllib.error

    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        reason = e.reason
        if isinstance(reason, socket.timeout):
            return "timed out"
        if isinstance(reason, socket.gaierror):
            return f"host not found ({_one_line(reason)}); offline?"
        return _one_line(reason) or "URL error"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timed out"
    return _one_line(e) or type(e).__name__


def download_weights(name: str, force: bool = False, progress: bool = True, timeout: Optional[float] = None) -> Path:
    """Download entry ``name`` into the cache (again, when ``force``) and return its path."""
    entry = get_entry(name)
    dest = weights_path(name)
    if entry.bundled:
        return get_weights(name)
    if dest.is_file() and not force:
        return get_weights(name)
    urls = entry.urls()
    if offline():
        raise _unavailable(entry, "PPFOM_OFFLINE is set", urls)
    if not urls:
        raise _unavailable(entry, "nothing to download from", urls)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _unavailable(entry, f"cannot create the cache folder: {_describe(e)}", urls)
    timeout = _timeout() if timeout is None else timeout

    failures = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(prefix=f".{entry.filename}.", suffix=".part", dir=str(dest.parent))
        tmp = Path(tmp)
        try:
            try:
                with os.fdopen(fd, "wb") as f:
                    _fetch(url, f, entry.filename, timeout, progress)
            except Exception as e:  # network, HTTP, timeouts, truncation
                failures.append(f"{_describe(e)}" if url == urls[0] else f"{url}: {_describe(e)}")
                continue
            try:
                sha = verify_file(entry, tmp)
            except Exception as e:  # checksum, unreadable file, wrong keys or shapes
                failures.append(_reason(e) if url == urls[0] else f"{url}: {_reason(e)}")
                continue
            _drop_marker(dest)
            os.replace(tmp, dest)
            _write_marker(dest, sha)
            return dest
        finally:
            if tmp.exists():
                try:
                    tmp.unlink()
                except OSError:
                    pass
    reason = failures[0] + (f" (also tried {'; '.join(failures[1:])})" if len(failures) > 1 else "")
    raise _unavailable(entry, reason, urls)


def get_weights(name: str, download: bool = True, progress: bool = True) -> Path:
    """Path of a verified local copy of entry ``name``, downloading it when allowed."""
    entry = get_entry(name)
    path = weights_path(name)
    if path.is_file():
        if not _marker_ok(path):
            try:
                sha = verify_file(entry, path)
            except Exception as e:
                reason = _reason(e)
                if entry.bundled:
                    raise WeightsUnavailable(f"bundled weights {path} fail verification: {reason}")
                raise WeightsUnavailable(
                    f"cached weights {path} fail verification: {reason}; fetch it again with "
                    f"`ppfom weights download {name} --force`, or replace it with "
                    f"`ppfom weights import FILE --name {name} --overwrite`"
                )
            _write_marker(path, sha)
        return path
    if entry.bundled:
        raise _unavailable(entry, "the file is not there")
    if not download:
        raise _unavailable(entry, "it is not in the cache and downloading is turned off")
    return download_weights(name, progress=progress)


# --------------------------------------------------------------------------- import
def _normalised(filename: str) -> str:
    stem = filename
    for suffix in (".pdparams", ".pdparams.tar", ".tar"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return re.sub(r"[^a-z0-9]", "", stem.lower())


def guess_entry(filename: str) -> Optional[str]:
    """The entry whose file name (or alias, or name) matches ``filename``; None if unsure."""
    base = Path(filename).name
    for entry in ENTRIES.values():
        if base == entry.filename or base in entry.aliases:
            return entry.name
    key = _normalised(base)
    hits = [
        e.name for e in ENTRIES.values()
        if key in {_normalised(e.filename), _normalised(e.name), *map(_normalised, e.aliases)}
    ]
    return hits[0] if len(hits) == 1 else None


def import_weights(path, name: Optional[str] = None, overwrite: bool = False) -> Path:
    """Copy a user's file into the cache under the entry's file name, verified first."""
    src = Path(path).expanduser()
    if not src.is_file():
        raise WeightsError(f"no such file: {src}")
    if name is None:
        name = guess_entry(src.name)
        if name is None:
            raise WeightsError(
                f"cannot tell which weights {src.name} are; pass --name, one of: {', '.join(sorted(ENTRIES))}"
            )
    entry = get_entry(name)
    if entry.bundled:
        raise WeightsError(f"{name} is bundled with ppfom at {weights_path(name)}; it is not imported")
    try:
        sha = verify_file(entry, src, label=src.name)
    except Exception as e:
        raise WeightsError(f"will not import {src} as {name}: {_reason(e)}")
    dest = weights_path(name)
    if dest.exists():
        if dest.is_file() and dest.stat().st_size == src.stat().st_size and _hashes(dest)[0] == sha:
            if not _marker_ok(dest):
                _write_marker(dest, sha)
            return dest
        if not overwrite:
            raise WeightsError(
                f"the cache already holds a different {dest}; pass --overwrite (overwrite=True) to replace it"
            )
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{entry.filename}.", suffix=".part", dir=str(dest.parent))
    os.close(fd)
    tmp = Path(tmp)
    try:
        shutil.copyfile(src, tmp)
        if _hashes(tmp)[0] != sha:
            raise WeightsError(f"{src} changed while it was copied; try again")
        _drop_marker(dest)
        os.replace(tmp, dest)
        _write_marker(dest, sha)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def describe_entries():
    """Rows for ``ppfom weights list``: (name, file, present, size in bytes or None, description)."""
    rows = []
    for name in ENTRIES:
        entry = ENTRIES[name]
        path = weights_path(name)
        present = path.is_file()
        rows.append((name, entry.filename, present, path.stat().st_size if present else None, entry.description))
    return rows


__all__ = [
    "ENTRIES", "WeightsEntry", "WeightsError", "register_entry", "register_verifier", "get_entry",
    "ppfom_home", "weights_dir", "weights_path", "is_present", "offline", "get_weights",
    "download_weights", "import_weights", "guess_entry", "verify_file", "verify_state",
    "load_state", "check_checksum", "describe_entries",
]
