"""int8 post-training quantization of an export folder (ppfom.quantize), kept only where it pays."""
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

from ppfom import load_fomm  # noqa: E402
from ppfom.export import export_models, paddle_can_export  # noqa: E402

from helpers import randomize, tiny_config  # noqa: E402

_CAN_EXPORT, _WHY = paddle_can_export()
pytestmark = pytest.mark.skipif(not _CAN_EXPORT, reason=f"int8 quantizes exported programs: {_WHY}")

SIZE = 64


def _clips():
    """Three short synthetic talking-head clips: real frames with real motion, rendered offline."""
    from ppfom.data.synthetic import render_video

    return [render_video(seed, seed + 100, size=SIZE, frames=7) for seed in (3, 5, 7)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    fomm = load_fomm(tiny_config())
    randomize(fomm.kp_detector, 31), randomize(fomm.generator, 32)
    out = tmp_path_factory.mktemp("q") / "export"
    export_models(fomm, out, size=SIZE, progress=False)
    return out


@pytest.fixture(scope="module")
def clips():
    return _clips()


def _snapshot(folder):
    folder = Path(folder)
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _copy(src, tmp_path, name="export"):
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


def _no_leftovers(folder):
    return [p.name for p in Path(folder).parent.iterdir() if p.name.startswith(".")]


def test_zero_tolerance_refuses_and_leaves_the_folder_untouched(exported, clips, tmp_path):
    from ppfom.quantize import quantize_export

    folder = _copy(exported, tmp_path)
    before = _snapshot(folder)
    # One clip is enough to see every candidate refused (and saves a minute of calibration).
    report = quantize_export(folder, clips[:1], max_change=0.0, time_runs=0, lite=())
    assert report["kept"] is False
    assert "not kept" in report["reason"] and "nothing written" in report["reason"]
    # every candidate set was measured and each changes the reconstruction (int8 is not exact)
    assert report["candidates"] and all(c["change"] > 0 for c in report["candidates"])
    assert _snapshot(folder) == before
    assert _no_leftovers(folder) == []


def test_real_run_follows_the_five_percent_rule(exported, clips, tmp_path):
    from ppfom.quantize import MAX_CHANGE, quantize_export

    folder = _copy(exported, tmp_path)
    before = _snapshot(folder)
    report = quantize_export(folder, clips, time_runs=0, lite=())
    changes = [c["change"] for c in report["candidates"]]
    assert report["kept"] == any(c <= MAX_CHANGE for c in changes)
    if report["kept"]:
        # the first set within the tolerance, largest first, is the one kept
        assert changes[-1] <= MAX_CHANGE and all(c > MAX_CHANGE for c in changes[:-1])
        info = json.loads((folder / "export_info.json").read_text())
        assert info["int8"]["change"] == pytest.approx(changes[-1])
        assert sorted(info["int8"]["models"]) == sorted(report["candidates"][-1]["models"])
    else:
        assert _snapshot(folder) == before
    # the metric is what the rule says: mean|int8 - fp32| relative to the fp32 model's L1 to the frames
    m = report["metrics"]
    assert m["change"] == pytest.approx(m["diff"] / m["l1_fp32"])
    assert _no_leftovers(folder) == []


@pytest.fixture(scope="module")
def kept(exported, clips, tmp_path_factory):
    """Quantized with a loose tolerance, so that the int8 models are written, into a new folder
    (a copy of the export plus the int8 models; the export itself is left as it was)."""
    from ppfom.quantize import quantize_export

    before = _snapshot(exported)
    folder = tmp_path_factory.mktemp("kept") / "export_int8"
    report = quantize_export(exported, clips, out_dir=folder, max_change=0.99, time_runs=2, lite=("arm",), threads=1)
    assert report["kept"], report["reason"]
    assert _snapshot(exported) == before
    assert set(before) < set(_snapshot(folder))
    return folder, report


def test_kept_int8_models_are_quantized_with_int8_weights(kept):
    from ppfom.quantize import program_op_types

    folder, report = kept
    info = json.loads((folder / "export_info.json").read_text())
    record = info["int8"]
    assert set(record["models"]) == {"kp_detector", "generator", "frame_decoder"}  # per-frame models, all kept
    assert "source_encoder" not in record["models"]  # runs once per source: int8 would not pay
    for model, entry in record["models"].items():
        for name in entry["files"]:
            assert (folder / name).is_file()
        ops = program_op_types(folder / f"{model}.int8")
        assert ops.get("quantize_linear", 0) > 0 and ops.get("dequantize_linear", 0) > 0
        assert ops.get("conv2d", 0) > 0
        # int8 weights: the parameters file shrinks (fp32 biases and BatchNorm stay)
        int8_bytes, fp32_bytes = ((folder / f"{model}{s}.pdiparams").stat().st_size for s in (".int8", ""))
        assert int8_bytes < 0.6 * fp32_bytes
        paddle.enable_static()
        try:
            scope = paddle.static.Scope()
            with paddle.static.scope_guard(scope):
                program, _, _ = paddle.static.load_inference_model(
                    str(folder / f"{model}.int8"), paddle.static.Executor(paddle.CPUPlace()))
            block = program.global_block()
            weights = [block.var(op.input("X")[0]) for op in block.ops if op.type == "dequantize_linear"]
            # the program still declares them float32; the tensors stored are int8
            int8_weights = [v.name for v in weights
                            if v.persistable and np.array(scope.find_var(v.name).get_tensor()).dtype == np.int8]
        finally:
            paddle.disable_static()
        assert int8_weights, f"{model}: no int8 weights"
    for key in ("l1_fp32", "l1_int8", "change", "kp_value_mean_abs_diff", "kp_jacobian_max_abs_diff"):
        assert key in record["metrics"]
    assert record["times"]["fp32"]["frame"] > 0 and record["times"]["int8"]["frame"] > 0
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".") or "partial" in p.name]


def test_int8_engine_is_close_to_fp32(kept, clips):
    from ppfom.infer import InferenceEngine
    from ppfom.quantize import _to_input

    folder, _ = kept
    frames = _to_input(clips[0], SIZE)
    fp32, int8 = InferenceEngine(folder, threads=1), InferenceEngine(folder, precision="int8", threads=1)
    assert int8.int8_models == {"kp_detector", "generator", "frame_decoder"}
    source, driving = frames[:1], frames[3:4]
    kp32, kp8 = fp32.keypoints(driving), int8.keypoints(driving)
    assert np.abs(kp8["value"] - kp32["value"]).max() < 0.1
    kp_source = fp32.keypoints(source)
    a = fp32.generate(fp32.encode_source(source), kp_source, kp32)
    b = int8.generate(int8.encode_source(source), kp_source, kp32)
    assert a.shape == b.shape and np.isfinite(b).all()
    assert np.abs(a - b).mean() < 0.05  # images in [0, 1]


def test_lite_arm_files_use_int8_kernels(kept):
    from ppfom.export import nb_target
    from ppfom.export import nb_precisions

    folder, report = kept
    lite = json.loads((folder / "export_info.json").read_text())["int8"]["lite"]
    assert set(lite) == {"kp_detector", "generator", "frame_decoder"}
    for model, files in lite.items():
        nb = folder / files["arm"]
        assert nb_target(nb) == "arm"
        assert "int8" in nb_precisions(nb)
        assert report["lite"][model]["arm"]["bytes"] == nb.stat().st_size


def test_int8_engine_needs_int8_models(exported):
    from ppfom.infer import EngineError, InferenceEngine

    with pytest.raises(EngineError, match="--int8"):
        InferenceEngine(exported, precision="int8")


def test_calibration_sources(tmp_path):
    import cv2

    from ppfom.quantize import QuantizeError, load_calibration, split_clips

    frames = _clips()[0]
    for i, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), frame[..., ::-1])
    (clip,) = load_calibration(tmp_path, 32)
    assert clip.shape == (len(frames), 3, 32, 32) and clip.dtype == np.float32 and 0 <= clip.min() <= clip.max() <= 1
    calibration, held = split_clips([clip])
    assert len(calibration[0]) + len(held[0]) - 1 == len(clip)  # the source frame is shared
    np.testing.assert_array_equal(held[0][0], clip[0])
    with pytest.raises(QuantizeError, match="no such file or folder"):
        load_calibration(tmp_path / "missing.mp4", 32)


def test_cli_missing_calibration_is_one_line(capsys, tmp_path):
    from ppfom.cli import _run_module, run_main
    from ppfom.commands import export as command

    argv = ["--config", "x.yaml", "--int8", "--calibration", str(tmp_path / "nope"), "--output", str(tmp_path / "o")]
    code = run_main(lambda a: _run_module(command, a, "export_model.py"), argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--calibration" in err[0] and "no such file" in err[0]
    assert not (tmp_path / "o").exists()
    code = run_main(lambda a: _run_module(command, a, "export_model.py"),
                    ["--config", "x.yaml", "--calibration", str(tmp_path)])
    assert code == 2 and "--int8" in capsys.readouterr().err
