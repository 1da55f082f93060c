"""Export tool and inference engine: exported models match dygraph; bad input is refused."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
import yaml

from ppfom import load_fomm
from ppfom.export import ExportError, export_models, nb_precisions, nb_target, paddle_can_export
from ppfom.infer import EngineError, LiteEngine, create_engine, load_lite_model

from helpers import randomize, tiny_config
from parity import assert_parity

REPO = Path(__file__).resolve().parents[1]
CAN_EXPORT = paddle_can_export()[0]
needs_export = pytest.mark.skipif(not CAN_EXPORT, reason="this paddlepaddle cannot export (see test_export_refused_on_new_paddle)")
try:
    import paddlelite.lite  # noqa: F401

    HAS_LITE = True
except ImportError:
    HAS_LITE = False
needs_lite = pytest.mark.skipif(not HAS_LITE, reason="paddlelite is installed in the pinned environment only")

SIZE = 256


@pytest.fixture(scope="module")
def tiny_fomm():
    fomm = load_fomm(tiny_config())
    randomize(fomm.kp_detector, 21), randomize(fomm.generator, 22)
    return fomm.eval()


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(3)
    return rng.uniform(0, 1, (1, 3, SIZE, SIZE)).astype("float32"), rng.uniform(0, 1, (4, 3, SIZE, SIZE)).astype("float32")


@pytest.fixture(scope="module")
def dygraph_reference(tiny_fomm, frames):
    source, driving = frames
    engine = create_engine(tiny_fomm, "dygraph", size=SIZE)
    kp_source, kp_driving = engine.keypoints(source), engine.keypoints(driving)
    with paddle.no_grad():
        prediction = tiny_fomm.generator(paddle.to_tensor(np.repeat(source, 4, 0)),
                                         kp_source={k: paddle.to_tensor(np.repeat(v, 4, 0)) for k, v in kp_source.items()},
                                         kp_driving={k: paddle.to_tensor(v) for k, v in kp_driving.items()})["prediction"].numpy()
    return kp_source, kp_driving, prediction


@pytest.fixture(scope="module")
def engine_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("engines")


def _check_engine(engine, frames, reference):
    source, driving = frames
    kp_source, kp_driving, prediction = reference
    got = engine.keypoints(driving)
    assert np.abs(got["value"] - kp_driving["value"]).max() <= 1e-4
    assert np.abs(got["jacobian"] - kp_driving["jacobian"]).max() <= 1e-4
    cache = engine.encode_source(source)
    assert np.abs(engine.generate(cache, kp_source, kp_driving) - prediction).max() <= 5e-4  # batch 4
    one = engine.generate(cache, kp_source, {k: v[2:3] for k, v in kp_driving.items()})  # batch 1
    assert np.abs(one[0] - prediction[2]).max() <= 5e-4
    assert np.abs(engine.generate_uncached(source, kp_source, kp_driving) - prediction).max() <= 5e-4


def test_dygraph_engine_cache_is_exact(tiny_fomm, frames, dygraph_reference):
    _check_engine(create_engine(tiny_fomm, "dygraph", size=SIZE), frames, dygraph_reference)


@needs_export
def test_paddle_inference_matches_dygraph(tiny_fomm, frames, dygraph_reference, engine_cache):
    engine = create_engine(tiny_fomm, "inference", size=SIZE, cache_dir=engine_cache, progress=False)
    _check_engine(engine, frames, dygraph_reference)


@needs_export
@needs_lite
def test_paddle_lite_x86_matches_dygraph(tiny_fomm, frames, dygraph_reference, engine_cache):
    engine = create_engine(tiny_fomm, "lite", size=SIZE, cache_dir=engine_cache, progress=False)
    _check_engine(engine, frames, dygraph_reference)


@needs_export
def test_engine_exports_once(tiny_fomm, engine_cache, monkeypatch):
    create_engine(tiny_fomm, "inference", size=SIZE, cache_dir=engine_cache, progress=False)
    import ppfom.export

    monkeypatch.setattr(ppfom.export, "export_models", lambda *a, **k: pytest.fail("exported again"))
    create_engine(tiny_fomm, "inference", size=SIZE, cache_dir=engine_cache, progress=False)
    assert len([p for p in engine_cache.iterdir() if not p.name.startswith(".")]) >= 1


@needs_export
def test_fixture_through_paddle_inference_matches_the_original(shared_fixtures, tmp_path):
    from parity import run_like_original_demo  # noqa: F401  (same protocol, engine flavour below)

    reference = dict(np.load(shared_fixtures / "fomm_small.npz"))
    config = yaml.safe_load(str(reference["config_yaml"]))
    fomm = load_fomm(config, weights=str(shared_fixtures / "fomm_small_zip.pth.tar"))
    engine = create_engine(fomm, "inference", size=128, cache_dir=tmp_path, progress=False)
    source, driving = reference["input/source"], reference["input/driving"]
    frames = np.stack(list(engine.animate(source, list(driving), relative=True, adapt_scale=True, batch_size=2)))
    ours = {"out/prediction": frames, "kp_source/value": engine.keypoints(source)["value"],
            "kp_driving/value": engine.keypoints(driving)["value"]}
    assert_parity(ours, {k: reference[k] for k in ours}, "Paddle Inference on the fixture")


def _export_cli(*args):
    return subprocess.run([sys.executable, str(REPO / "tools" / "export_model.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory, tiny_fomm):
    folder = tmp_path_factory.mktemp("cli")
    cfg = tiny_config()
    cfg["dataset"] = {"train": {"frame_shape": [64, 64, 3]}}
    (folder / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    paddle.save(tiny_fomm.state_dicts(), str(folder / "tiny.pdparams"))
    return folder


@needs_export
@needs_lite
def test_export_tool_writes_inference_and_lite_models(tiny_files):
    out = tiny_files / "out"
    result = _export_cli("--config-file", tiny_files / "tiny.yaml", "--load", tiny_files / "tiny.pdparams",
                         "--export_model", out, "--inputs_size", "1,3,64,64;1,3,64,64;1,5,2;1,5,2,2",
                         "--lite", "arm,x86")
    assert result.returncode == 0, result.stderr
    info = json.loads((out / "export_info.json").read_text())
    assert info["size"] == 64 and info["batch"] == 1 and info["num_kp"] == 5 and info["numerics"]["align_corners"]
    for model in ("kp_detector", "generator", "source_encoder", "frame_decoder"):
        assert (out / f"{model}.pdmodel").is_file() and (out / f"{model}.pdiparams").is_file()
        assert nb_target(out / f"{model}.x86.nb") == "x86"
        assert nb_target(out / f"{model}.arm.nb") == "arm"
        assert "fp16" in nb_precisions(out / f"{model}.arm_fp16.nb")
        assert "fp16" not in nb_precisions(out / f"{model}.arm.nb")
    report = (out / "lite_report.txt").read_text()
    assert report.count("supports this model") == 8  # every model, both targets
    assert not list(tiny_files.glob(".out.partial*"))


def _assert_one_line_error(result, fragment):
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert fragment in lines[0], lines[0]


@needs_export
def test_export_refuses_weights_that_do_not_fit(tiny_files):
    other = tiny_files / "other.pdparams"
    paddle.save(load_fomm(tiny_config(num_kp=7)).state_dicts(), str(other))
    result = _export_cli("--config-file", tiny_files / "tiny.yaml", "--load", other, "--export_model", tiny_files / "x")
    _assert_one_line_error(result, "another shape")
    assert not (tiny_files / "x").exists()


@needs_export
def test_export_refuses_an_unwritable_folder(tiny_files):
    blocker = tiny_files / "a_file"
    blocker.write_text("not a folder")
    result = _export_cli("--config-file", tiny_files / "tiny.yaml", "--export_model", blocker / "out")
    _assert_one_line_error(result, "cannot create the output folder")


@needs_export
def test_export_keeps_an_existing_folder_without_overwrite(tiny_files):
    existing = tiny_files / "existing"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep me")
    result = _export_cli("--config-file", tiny_files / "tiny.yaml", "--export_model", existing)
    _assert_one_line_error(result, "--overwrite")
    assert (existing / "mine.txt").read_text() == "keep me"


@needs_export
def test_export_inputs_size_must_fit_the_config(tiny_files):
    result = _export_cli("--config-file", tiny_files / "tiny.yaml", "--export_model", tiny_files / "y",
                         "--inputs_size", "1,3,64,64;1,3,64,64;1,10,2;1,10,2,2")
    _assert_one_line_error(result, "10 keypoints")


@needs_export
@needs_lite
def test_lite_refuses_a_model_for_another_target(tiny_files, tiny_fomm, tmp_path):
    out = export_models(tiny_fomm, tmp_path / "exp", size=64, models=("kp_detector",), lite=("arm",), progress=False)
    with pytest.raises(EngineError, match="for arm, not x86"):
        load_lite_model(out / "kp_detector.arm.nb")
    # A folder whose "x86" file is really an ARM model is refused before Lite loads it.
    info = json.loads((out / "export_info.json").read_text())
    info["lite"]["kp_detector"]["x86"] = "kp_detector.arm.nb"
    (out / "export_info.json").write_text(json.dumps(info))
    with pytest.raises(EngineError, match="for arm, not x86"):
        LiteEngine(out)


@pytest.mark.skipif(CAN_EXPORT, reason="this paddlepaddle can export")
def test_export_refused_on_new_paddle(tiny_files):
    result = _export_cli("--config-file", tiny_files / "tiny.yaml", "--export_model", tiny_files / "z")
    _assert_one_line_error(result, "2.6.2")
    with pytest.raises(ExportError, match="2.6.2"):
        export_models(load_fomm(tiny_config()), tiny_files / "z2")


@needs_export
def test_border_fix_exports_and_matches_dygraph(tmp_path):
    """PaddleGAN's edge fix (on in the demo for PaddleGAN weights) survives dy2static."""
    fomm = load_fomm(tiny_config(), border_fix=True)
    randomize(fomm.kp_detector, 41), randomize(fomm.generator, 42)
    rng = np.random.default_rng(4)
    source, driving = rng.uniform(0, 1, (1, 3, 64, 64)).astype("float32"), rng.uniform(0, 1, (2, 3, 64, 64)).astype("float32")
    reference = create_engine(fomm, "dygraph", size=64)
    kp_source, kp_driving = reference.keypoints(source), reference.keypoints(driving)
    want = reference.generate(reference.encode_source(source), kp_source, kp_driving)
    for backend in ("inference", "lite") if HAS_LITE else ("inference",):
        engine = create_engine(fomm, backend, size=64, cache_dir=tmp_path, progress=False)
        got = engine.generate(engine.encode_source(source), kp_source, kp_driving)
        assert np.abs(got - want).max() <= 5e-4, backend
