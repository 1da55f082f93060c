"""The C++ deployment code in deploy/lite: build it with cmake + g++, run its unit tests, check its
keypoint normalization against ppfom.kp_norm, run fomm_lite_demo end to end against a fake Paddle
Lite (the real one is not available here), and cross-build for aarch64 and run the tests under
qemu when the cross compiler and qemu-user are installed."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
LITE = REPO / "deploy" / "lite"
CMAKE = shutil.which("cmake")
CXX = shutil.which("g++") or shutil.which("c++")
CROSS_CXX = shutil.which("aarch64-linux-gnu-g++")
QEMU = shutil.which("qemu-aarch64")
SYSROOT = "/usr/aarch64-linux-gnu"
EM_AARCH64 = 183


def _run(cmd, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=240, **kw)
    return proc


def _check(cmd, what, **kw):
    proc = _run(cmd, **kw)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")
    return proc


def _build(build_dir, *extra):
    _check([CMAKE, "-S", LITE, "-B", build_dir, "-DFOMM_LITE_STUB=ON", *extra], "cmake configure")
    _check([CMAKE, "--build", build_dir, "-j2"], "cmake build")
    return Path(build_dir)


@pytest.fixture(scope="session")
def native_build(tmp_path_factory):
    if CMAKE is None or CXX is None:
        pytest.skip("cmake or a C++ compiler (g++) is not installed")
    return _build(tmp_path_factory.mktemp("deploy_cpp_x86"))


@pytest.fixture(scope="session")
def aarch64_build(tmp_path_factory):
    if CMAKE is None:
        pytest.skip("cmake is not installed")
    if CROSS_CXX is None:
        pytest.skip("aarch64-linux-gnu-g++ not installed (apt-get install g++-aarch64-linux-gnu)")
    toolchain = LITE / "cmake" / "aarch64-linux-gnu.cmake"
    return _build(tmp_path_factory.mktemp("deploy_cpp_aarch64"), f"-DCMAKE_TOOLCHAIN_FILE={toolchain}")


def _last_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def test_core_tests_pass(native_build):
    proc = _run([native_build / "fomm_core_tests"])
    summary = _last_line(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary.startswith("fomm_core_tests: ") and summary.endswith(" passed, 0 failed"), summary
    assert int(summary.split()[1]) >= 30


# ---- keypoint normalization: C++ fomm_norm_tool against Python's ppfom.kp_norm ----------------

def _random_kp(rng, K):
    value = rng.uniform(-0.9, 0.9, size=(K, 2)).astype(np.float32)
    jacobian = (np.eye(2, dtype=np.float32) + rng.uniform(-0.3, 0.3, size=(K, 2, 2))).astype(np.float32)
    return value, jacobian


def _cases():
    """(name, K, source, driving, initial, adapt_scale, relative_movement, relative_jacobian)."""
    cases = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        K = 10 if seed < 4 else (3 if seed == 4 else 15)
        s, d, d0 = (_random_kp(rng, K) for _ in range(3))
        for adapt in (False, True):
            for rel_jac in (False, True):
                cases.append((f"seed{seed}-adapt{int(adapt)}-reljac{int(rel_jac)}", K, s, d, d0, adapt, True, rel_jac))
        cases.append((f"seed{seed}-absolute", K, s, d, d0, True, False, True))
    rng = np.random.default_rng(100)
    s, d, d0 = (_random_kp(rng, 10) for _ in range(3))
    # Exactly collinear points (representable in float32): no hull, scale falls back to 1.
    x = (np.arange(10, dtype=np.float32) / 8 - 0.5).astype(np.float32)
    line = (np.stack([x, x / 2 + 0.25], 1).astype(np.float32), d0[1])
    cases.append(("collinear-initial", 10, s, d, line, True, True, True))
    cases.append(("collinear-source", 10, line, d, d0, True, True, True))
    # One keypoint: no hull either.
    one = tuple(_random_kp(np.random.default_rng(7), 1) for _ in range(3))
    cases.append(("single-keypoint", 1, *one, True, True, True))
    return cases


def _format_case(case):
    _, K, s, d, d0, adapt, rel, rel_jac = case
    lines = [f"K {K}", f"adapt_scale {int(adapt)}", f"relative_movement {int(rel)}",
             f"relative_jacobian {int(rel_jac)}"]
    for who, (value, jac) in (("source", s), ("driving", d), ("initial", d0)):
        lines.append(f"{who}_value " + " ".join(repr(float(v)) for v in value.ravel()))
        lines.append(f"{who}_jacobian " + " ".join(repr(float(v)) for v in jac.ravel()))
    return "\n".join(lines + ["end", ""])


def _parse_tool_output(text):
    results, current = [], None
    for line in text.splitlines():
        key, *rest = line.split()
        if key == "case":
            current = {}
        elif key == "end":
            results.append(current)
        else:
            current[key] = np.array([float(v) for v in rest])
    return results


def test_norm_tool_matches_python(native_build):
    kp_norm = pytest.importorskip("ppfom.kp_norm", reason="ppfom (with paddle and scipy) is not importable here")
    cases = _cases()
    proc = _run([native_build / "fomm_norm_tool"], input="".join(_format_case(c) for c in cases))
    assert proc.returncode == 0, proc.stderr
    results = _parse_tool_output(proc.stdout)
    assert len(results) == len(cases)
    for case, got in zip(cases, results):
        name, K, s, d, d0, adapt, rel, rel_jac = case
        as_kp = lambda kp: {"value": kp[0][None], "jacobian": kp[1][None]}  # noqa: E731
        expected = kp_norm.normalize_kp(as_kp(s), as_kp(d), as_kp(d0), adapt_movement_scale=adapt,
                                        use_relative_movement=rel, use_relative_jacobian=rel_jac)
        scale = kp_norm.movement_scale(s[0][None], d0[0][None]) if adapt else 1.0
        assert abs(got["scale"][0] - scale) <= 1e-5, (name, got["scale"][0], scale)
        assert abs(got["source_area"][0] - kp_norm.hull_area(s[0])) <= 1e-7, name
        assert abs(got["initial_area"][0] - kp_norm.hull_area(d0[0])) <= 1e-7, name
        for key in ("value", "jacobian"):
            want = expected[key].numpy() if hasattr(expected[key], "numpy") else np.asarray(expected[key])
            np.testing.assert_allclose(got[key], want.ravel(), rtol=0, atol=1e-5, err_msg=f"{name} {key}")
        if name.startswith("collinear") or name == "single-keypoint":
            assert got["scale"][0] == 1.0, name
    # the cases do exercise the scale
    assert any(abs(r["scale"][0] - 1.0) > 0.05 for r in results)


def test_norm_tool_reports_bad_input(native_build):
    proc = _run([native_build / "fomm_norm_tool"], input="K 2\nsource_value 1 2 3\n")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == ["fomm_norm_tool: error: source_value: expected 4 numbers, input ended"]


# ---- fomm_lite_demo against the fake Paddle Lite (tests/paddle_lite_stub) ----------------------

def _write_ppm(path, array):
    h, w, _ = array.shape
    Path(path).write_bytes(b"P6\n%d %d\n255\n" % (w, h) + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def _read_ppm(path):
    data = Path(path).read_bytes()
    magic, size, maxval, pixels = data.split(b"\n", 3)  # the header as fomm::encode_ppm writes it
    assert magic == b"P6" and maxval == b"255"
    w, h = (int(v) for v in size.split())
    return np.frombuffer(pixels, dtype=np.uint8).reshape(h, w, 3)


def _resize_half_pixel(img, size):
    """Bilinear resize with half-pixel centers and edge clamping (OpenCV INTER_LINEAR's mapping)."""
    def taps(n_in):
        pos = (np.arange(size) + 0.5) * (n_in / size) - 0.5
        i0 = np.floor(pos).astype(int)
        frac = pos - i0
        frac[i0 < 0] = 0
        i0 = np.clip(i0, 0, n_in - 1)
        frac[i0 >= n_in - 1] = 0
        return i0, np.minimum(i0 + 1, n_in - 1), frac
    y0, y1, fy = taps(img.shape[0])
    x0, x1, fx = taps(img.shape[1])
    f = img.astype(np.float64)
    rows = f[y0] * (1 - fy)[:, None, None] + f[y1] * fy[:, None, None]
    out = rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


@pytest.fixture
def demo_scene(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:90, 0:130]
    source = np.stack([(xx * 2) % 256, (yy * 3) % 256, rng.integers(0, 256, size=(90, 130))], -1).astype(np.uint8)
    _write_ppm(tmp_path / "source.ppm", source)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(4):
        _write_ppm(frames / f"frame_{i + 1:06d}.ppm", np.full((72, 96, 3), 40 * i, np.uint8))
    (tmp_path / "kp.nb").write_text("fomm-stub-kp 10\n")
    (tmp_path / "gen.nb").write_text("fomm-stub-generator\n")
    (tmp_path / "enc.nb").write_text("fomm-stub-encoder\n")
    (tmp_path / "dec.nb").write_text("fomm-stub-decoder\n")
    return tmp_path, source


def _demo_args(root, out="out", *extra):
    return ["--kp_model", root / "kp.nb", "--gen_model", root / "gen.nb", "--source", root / "source.ppm",
            "--driving_dir", root / "frames", "--output_dir", root / out, *extra]


def test_demo_end_to_end_with_fake_lite(native_build, demo_scene):
    root, source = demo_scene
    demo = native_build / "fomm_lite_demo_stub"
    proc = _run([demo, *_demo_args(root, "out", "--size", "64", "--relative", "--adapt_scale", "--threads", "2")])
    assert proc.returncode == 0, proc.stderr
    assert "wrote 4 frames" in proc.stdout
    assert sorted(p.name for p in (root / "out").iterdir()) == [f"frame_{i:06d}.ppm" for i in range(1, 5)]
    # the fake generator returns its source input: the center-cropped, resized source picture
    side = min(source.shape[:2])
    y0, x0 = (source.shape[0] - side) // 2, (source.shape[1] - side) // 2
    crop = source[y0:y0 + side, x0:x0 + side]
    expected = _resize_half_pixel(crop, 64)
    out = _read_ppm(root / "out" / "frame_000004.ppm")
    assert out.shape == (64, 64, 3)
    assert np.abs(out.astype(int) - expected).max() <= 1
    try:
        import cv2
    except ImportError:
        cv2 = None
    if cv2 is not None:
        ref = cv2.resize(crop, (64, 64), interpolation=cv2.INTER_LINEAR)
        assert np.abs(out.astype(int) - ref).max() <= 1
    # the cached variant: source encoder once, frame decoder per frame
    args = _demo_args(root, "out_cached", "--size", "64", "--relative", "--adapt_scale")
    gen = args.index("--gen_model")
    args[gen:gen + 2] = ["--encoder_model", root / "enc.nb", "--decoder_model", root / "dec.nb"]
    proc = _run([demo, *args])
    assert proc.returncode == 0, proc.stderr
    assert "source encoder" in proc.stdout
    for i in range(1, 5):
        name = f"frame_{i:06d}.ppm"
        assert (root / "out_cached" / name).read_bytes() == (root / "out" / name).read_bytes()


def test_demo_errors_are_one_line(native_build, demo_scene):
    root, _ = demo_scene
    demo = native_build / "fomm_lite_demo_stub"

    def fails(args, code, text):
        proc = _run([demo, *args])
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == code, proc.stdout + proc.stderr
        assert len(lines) == 1 and lines[0].startswith("fomm_lite_demo: error: ") and text in lines[0], lines

    fails(_demo_args(root)[:-2], 2, "missing --output_dir")
    fails([*_demo_args(root), "--size", "big"], 2, "--size expects an integer")
    fails([*_demo_args(root), "--wat"], 2, "unknown flag --wat")
    missing = _demo_args(root)
    missing[1] = root / "missing.nb"
    fails(missing, 1, f"model file not found: {root / 'missing.nb'}")
    (root / "source.ppm").rename(root / "moved.ppm")
    fails(_demo_args(root), 1, f"file not found: {root / 'source.ppm'}")
    (root / "moved.ppm").rename(root / "source.ppm")

    assert _run([demo, *_demo_args(root, "out", "--size", "32", "--quiet")]).returncode == 0
    before = (root / "out" / "frame_000001.ppm").read_bytes()
    fails([*_demo_args(root), "--size", "48"], 1, "output frame already exists")
    assert (root / "out" / "frame_000001.ppm").read_bytes() == before

    (root / "frames" / "frame_000003.ppm").write_bytes(b"P6\n96 72\n255\n" + bytes(100))
    fails([*_demo_args(root, "out2"), "--size", "32"], 1, "frame_000003.ppm: truncated PPM data")
    # the frames before the bad one are complete; nothing half-written or temporary is left
    assert sorted(p.name for p in (root / "out2").iterdir()) == ["frame_000001.ppm", "frame_000002.ppm"]
    assert _read_ppm(root / "out2" / "frame_000002.ppm").shape == (32, 32, 3)


# ---- the -DPADDLE_LITE_DIR build of fomm_lite_demo, against a fake Paddle Lite library -----------

def _fake_lite_dir(root, compiler):
    """A folder laid out like Paddle Lite's prebuilt library (cxx/include/paddle_api.h,
    cxx/lib/libpaddle_light_api_shared.so) holding the stub instead of Paddle Lite."""
    stub = LITE / "tests" / "paddle_lite_stub"
    (root / "cxx" / "include").mkdir(parents=True)
    (root / "cxx" / "lib").mkdir(parents=True)
    shutil.copy(stub / "paddle_api.h", root / "cxx" / "include")
    _check([compiler, "-std=c++14", "-O1", "-shared", "-fPIC", "-Wl,-soname,libpaddle_light_api_shared.so",
            "-I", stub, stub / "paddle_lite_stub.cc", "-o", root / "cxx" / "lib" / "libpaddle_light_api_shared.so"],
           "building the fake Paddle Lite library")
    return root


def _build_lite_demo(build_dir, lite_dir):
    _check([CMAKE, "-S", LITE, "-B", build_dir, f"-DPADDLE_LITE_DIR={lite_dir}"],
           "cmake configure with PADDLE_LITE_DIR")
    _check([CMAKE, "--build", build_dir, "-j2", "--target", "fomm_lite_demo"], "building fomm_lite_demo")
    return build_dir / "fomm_lite_demo"


def test_lite_demo_build_with_paddle_lite_dir(native_build, demo_scene, tmp_path):
    root, _ = demo_scene
    lite_dir = _fake_lite_dir(tmp_path / "fake_lite", CXX)
    demo = _build_lite_demo(native_build, lite_dir)
    proc = _run([demo, *_demo_args(root, "out", "--size", "32", "--relative")])
    assert proc.returncode == 0, proc.stderr
    assert len(list((root / "out").glob("frame_*.ppm"))) == 4
    # a folder that is not a Paddle Lite library is refused at configure time, with the reason
    proc = _run([CMAKE, "-S", LITE, "-B", tmp_path / "bad_build", f"-DPADDLE_LITE_DIR={tmp_path}"])
    assert proc.returncode != 0
    assert "no cxx/include/paddle_api.h there" in proc.stderr


# ---- aarch64: cross build, and the tests under qemu-user ---------------------------------------

def _elf_machine(path):
    header = Path(path).read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    return int.from_bytes(header[18:20], "little")


def test_aarch64_cross_build(aarch64_build):
    for name in ("fomm_core_tests", "fomm_norm_tool", "fomm_lite_demo_stub"):
        assert _elf_machine(aarch64_build / name) == EM_AARCH64, name


def test_aarch64_under_qemu(aarch64_build, native_build, demo_scene):
    if QEMU is None:
        pytest.skip("qemu-aarch64 not installed (apt-get install qemu-user)")
    if not os.path.isdir(SYSROOT):
        pytest.skip(f"no aarch64 sysroot at {SYSROOT}")
    qemu = [QEMU, "-L", SYSROOT]
    proc = _run([*qemu, aarch64_build / "fomm_core_tests"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _last_line(proc.stdout).endswith(" passed, 0 failed")
    # the aarch64 demo (fake Lite) writes the same frames as the x86 one
    root, _ = demo_scene
    args = ["--size", "64", "--relative", "--adapt_scale", "--quiet"]
    arm = _run([*qemu, aarch64_build / "fomm_lite_demo_stub", *_demo_args(root, "out_arm", *args)])
    x86 = _run([native_build / "fomm_lite_demo_stub", *_demo_args(root, "out_x86", *args)])
    assert arm.returncode == 0 and x86.returncode == 0, arm.stderr + x86.stderr
    scale = [re.search(r"movement scale ([0-9.]+)", p.stdout).group(1) for p in (arm, x86)]
    assert scale[0] == scale[1] != "1.0000"
    for i in range(1, 5):
        a = _read_ppm(root / "out_arm" / f"frame_{i:06d}.ppm").astype(int)
        b = _read_ppm(root / "out_x86" / f"frame_{i:06d}.ppm").astype(int)
        assert np.abs(a - b).max() <= 1


def test_aarch64_lite_demo_build_under_qemu(aarch64_build, demo_scene, tmp_path):
    """The user's cross build (-DPADDLE_LITE_DIR with the toolchain file), with the fake library."""
    lite_dir = _fake_lite_dir(tmp_path / "fake_lite_arm", CROSS_CXX)
    demo = _build_lite_demo(aarch64_build, lite_dir)
    assert _elf_machine(demo) == EM_AARCH64
    if QEMU is None:
        pytest.skip("qemu-aarch64 not installed (apt-get install qemu-user)")
    root, _ = demo_scene
    proc = _run([QEMU, "-L", SYSROOT, demo, *_demo_args(root, "out_arm_lite", "--size", "32", "--quiet")])
    assert proc.returncode == 0, proc.stderr
    assert len(list((root / "out_arm_lite").glob("frame_*.ppm"))) == 4
