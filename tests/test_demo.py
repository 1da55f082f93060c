"""The photo demo end to end, on tiny random-weight models and small generated media.

Pixel-exact checks record the pipeline's frames before encoding (H.264 is lossy); the
command-line runs check frame count, fps, audio and the bad-input contract.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
import yaml

imageio = pytest.importorskip("imageio.v2")
pytest.importorskip("cv2")

from ppfom import load_fomm  # noqa: E402
from ppfom.data.sample import ensure_sample  # noqa: E402
from ppfom.pipeline import animate as pipeline  # noqa: E402
from ppfom.pipeline.media import ffmpeg_exe, probe  # noqa: E402

from helpers import randomize, tiny_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FRAMES = 6


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """The built-in sample's photo, a 6-frame driving clip with sound, a tiny model."""
    folder = tmp_path_factory.mktemp("demo")
    sample = ensure_sample(folder / "sample")
    clip = folder / "drive.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(sample["driving"]),
                    "-frames:v", str(FRAMES), "-t", str(FRAMES / 25), "-c:v", "libx264", "-c:a", "aac", str(clip)],
                   check=True)
    fomm = load_fomm(tiny_config())
    randomize(fomm.kp_detector, 31), randomize(fomm.generator, 32)
    (folder / "tiny.yaml").write_text(yaml.safe_dump(tiny_config()))
    paddle.save(fomm.state_dicts(), str(folder / "tiny.pdparams"))
    return {"photo": sample["source"], "driving": clip, "config": folder / "tiny.yaml",
            "weights": folder / "tiny.pdparams", "folder": folder}


class RecordingWriter:
    """Stands in for VideoWriter to keep the exact frames."""

    frames = []

    def __init__(self, path, fps, audio_from=None, overwrite=False):
        RecordingWriter.frames = []
        self.frames, self.audio_from = 0, audio_from

    def write(self, frame):
        RecordingWriter.frames.append(frame.copy())
        self.frames += 1

    def finish(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def run_recorded(media, monkeypatch, **options):
    monkeypatch.setattr(pipeline, "VideoWriter", RecordingWriter)
    opts = pipeline.AnimateOptions(source_image=str(media["photo"]), driving_video=str(media["driving"]),
                                   output=str(media["folder"] / "unused.mp4"), config=str(media["config"]),
                                   weight_path=str(media["weights"]), relative=True, adapt_scale=True,
                                   detector="opencv", engine="dygraph", **options)
    summary = pipeline.animate_photo(opts, progress=False, say=lambda m: None)
    return summary, RecordingWriter.frames


def changed_mask(frames, photo):
    return np.any(np.stack([np.any(f != photo, axis=-1) for f in frames]), axis=0)


def test_multi_person_changes_every_face_and_nothing_else(media, monkeypatch):
    from ppfom.faces.detector import build_face_detector
    from ppfom.pipeline.regions import face_regions

    photo = imageio.imread(media["photo"])[..., :3]
    summary, frames = run_recorded(media, monkeypatch, multi_person=True, batch_size=4)
    boxes = build_face_detector("opencv").detect(photo)
    assert summary["faces"] == len(boxes) == 3 and len(frames) == FRAMES
    changed = changed_mask(frames, photo)
    allowed = np.zeros(photo.shape[:2], bool)
    for region in face_regions(boxes, 0.4):
        x0, y0, x1, y1 = region.visible
        allowed[max(y0, 0):y1, max(x0, 0):x1] = True
    assert not changed[~allowed].any(), "a pixel outside every paste region changed"
    for x1, y1, x2, y2 in boxes[:, :4].astype(int):
        assert changed[y1:y2, x1:x2].mean() > 0.5, "a face did not change"


def test_single_person_changes_only_the_largest_face(media, monkeypatch):
    from ppfom.faces.detector import build_face_detector

    photo = imageio.imread(media["photo"])[..., :3]
    summary, frames = run_recorded(media, monkeypatch, multi_person=False)
    boxes = build_face_detector("opencv").detect(photo)
    changed = changed_mask(frames, photo)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    largest = int(np.argmax(areas))
    for i, (x1, y1, x2, y2) in enumerate(boxes[:, :4].astype(int)):
        fraction = changed[y1:y2, x1:x2].mean()
        assert (fraction > 0.5) if i == largest else (fraction == 0), (i, fraction)


def test_image_size_512_and_best_frame(media, monkeypatch):
    summary, frames = run_recorded(media, monkeypatch, image_size=512, find_best_frame=True, smooth=True)
    assert len(frames) == FRAMES and 0 <= summary["reference_frames"][0] < FRAMES


def demo(*args, env=None, cwd=REPO, script="tools/first-order-demo.py"):
    environment = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, script, *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=environment)


def test_command_line_keeps_frames_fps_and_audio(media):
    out = media["folder"] / "cli" / "result.mp4"
    result = demo("--source_image", media["photo"], "--driving_video", media["driving"], "--output", out,
                  "--config", media["config"], "--weight_path", media["weights"], "--relative", "--adapt_scale",
                  "--multi_person", "--detector", "opencv", "--engine", "dygraph", "--batch_size", "2")
    assert result.returncode == 0, result.stderr
    info, source_info = probe(out), probe(media["driving"])
    assert info["audio"] and info["fps"] == pytest.approx(source_info["fps"])
    assert sum(1 for _ in imageio.get_reader(out)) == FRAMES
    no_audio = media["folder"] / "cli" / "silent.mp4"
    result = demo("--source_image", media["photo"], "--driving_video", media["driving"], "--output", no_audio,
                  "--config", media["config"], "--weight_path", media["weights"], "--detector", "opencv",
                  "--engine", "dygraph", "--no-audio")
    assert result.returncode == 0, result.stderr
    assert not probe(no_audio)["audio"]


def test_applications_entry_point_is_the_same_program(media, tmp_path):
    result = demo("--help", cwd=REPO / "applications", script="tools/first-order-demo.py")
    assert result.returncode == 0 and "--multi_person" in result.stdout and "--face_enhancement" in result.stdout


def assert_clean_failure(result, folder, fragment):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, result.stdout
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert fragment.lower() in lines[0].lower(), lines[0]
    assert not [p for p in Path(folder).rglob("*") if p.suffix in (".mp4", ".gif")], "an output was left behind"


@pytest.fixture
def bad(media, tmp_path):
    """Run the demo with one input replaced; outputs go to a fresh folder."""
    def run(fragment, source=None, driving=None, extra=(), env=None):
        args = ["--source_image", source or media["photo"], "--driving_video", driving or media["driving"],
                "--output", tmp_path / "out", "--config", media["config"], "--weight_path", media["weights"],
                "--detector", "opencv", "--engine", "dygraph", *extra]
        assert_clean_failure(demo(*args, env=env), tmp_path / "out", fragment)
    return run


def test_bad_source_files(bad, tmp_path):
    bad("no such file", source=tmp_path / "none.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    bad("cannot be read", source=tmp_path / "broken.jpg")
    imageio.imwrite(tmp_path / "tiny.png", np.zeros((12, 12, 3), np.uint8))
    bad("too small", source=tmp_path / "tiny.png")
    imageio.imwrite(tmp_path / "noface.png", np.full((200, 200, 3), 128, np.uint8))
    bad("no face", source=tmp_path / "noface.png")


def test_bad_driving_files(bad, tmp_path):
    bad("no such file", driving=tmp_path / "none.mp4")
    (tmp_path / "corrupt.mp4").write_bytes(os.urandom(4000))
    bad("corrupt.mp4", driving=tmp_path / "corrupt.mp4")
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1",
                    str(tmp_path / "sound_only.mp4")], check=True)
    bad("sound_only.mp4", driving=tmp_path / "sound_only.mp4")


def test_unwritable_output_and_existing_output(bad, media, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    bad("cannot", extra=["--output", blocker / "out.mp4"])
    existing = tmp_path / "out" / "result.mp4"
    existing.parent.mkdir()
    existing.write_bytes(b"mine")
    result = demo("--source_image", media["photo"], "--driving_video", media["driving"], "--output", tmp_path / "out",
                  "--config", media["config"], "--weight_path", media["weights"], "--detector", "opencv")
    assert result.returncode != 0 and "--overwrite" in result.stderr and existing.read_bytes() == b"mine"


def test_unusual_pixel_formats_work(media, tmp_path):
    """Grayscale, RGBA and 16-bit photos are converted (one note each), not refused."""
    photo = imageio.imread(media["photo"])[..., :3]
    variants = {
        "gray.png": photo.mean(axis=2).astype(np.uint8),
        "rgba.png": np.concatenate([photo, np.full(photo.shape[:2] + (1,), 255, np.uint8)], axis=2),
        "deep.png": photo.astype(np.uint16) * 257,
    }
    import cv2

    for name, image in variants.items():
        if image.dtype == np.uint16:  # PIL cannot write 16-bit RGB; OpenCV can (BGR order)
            cv2.imwrite(str(tmp_path / name), image[..., ::-1])
        else:
            imageio.imwrite(tmp_path / name, image)
        out = tmp_path / f"{name}.mp4"
        result = demo("--source_image", tmp_path / name, "--driving_video", media["driving"], "--output", out,
                      "--config", media["config"], "--weight_path", media["weights"], "--detector", "opencv",
                      "--engine", "dygraph", "--quiet")
        assert result.returncode == 0, (name, result.stderr)
        assert "note:" in result.stderr and out.is_file()


def test_missing_weights_offline_stops_before_work(tmp_path, media):
    env = {"PPFOM_HOME": str(tmp_path / "home"), "PPFOM_OFFLINE": "1"}
    result = demo("--source_image", media["photo"], "--driving_video", media["driving"], "--output", tmp_path / "o",
                  env=env)
    assert_clean_failure(result, tmp_path / "o", "vox-cpk.pdparams")
    result = demo("--source_image", media["photo"], "--driving_video", media["driving"], "--output", tmp_path / "o",
                  "--config", media["config"], "--weight_path", media["weights"], "--face_enhancement", env=env)
    assert_clean_failure(result, tmp_path / "o", "GPEN-512.pdparams")


def test_no_arguments_run_animates_the_sample_offline(tmp_path):
    """The built-in sample with the shipped model: no network, no weights to fetch."""
    env = {"PPFOM_HOME": str(tmp_path / "home"), "PPFOM_OFFLINE": "1"}
    result = demo("--quiet", env=env, cwd=tmp_path, script=str(REPO / "tools" / "first-order-demo.py"))
    assert result.returncode == 0, result.stderr
    assert "built-in sample" in result.stdout and "3 face(s)" in result.stdout
    assert re.search(r"built-in sample: .*, model (\S+)", result.stdout).group(1) == "ppfom-synthetic-64"
    out = tmp_path / "output" / "sample.mp4"
    info = probe(out)
    assert info["audio"] and sum(1 for _ in imageio.get_reader(out)) == 75


@pytest.mark.parametrize("flags, config, weights", [
    ([], "firstorder_synthetic_64", "ppfom-synthetic-64"),
    (["--mobile_net"], "firstorder_synthetic_64_mobile_pruned", "ppfom-synthetic-64-mobile"),
    (["--mobile_net", "--config", "mine.yaml", "--weight_path", "mine.pdparams"], "mine.yaml", "mine.pdparams"),
])
def test_no_arguments_run_picks_the_shipped_model_or_its_student(monkeypatch, capsys, flags, config, weights):
    """Which model the built-in sample runs with (the run itself is the test above; the
    student's own checks are in test_shipped_student.py)."""
    from ppfom.cli import _run_module
    from ppfom.commands import animate as command

    seen = {}

    def fake_animate(options, progress=True):
        seen["options"] = options
        return {"output": "x.mp4", "frames": 0, "fps": 25, "faces": 0, "engine": "none", "audio": False,
                "seconds": 0.0}

    monkeypatch.setattr(pipeline, "animate_photo", fake_animate)
    assert _run_module(command, ["--quiet", *flags], "ppfom animate") == 0
    options = seen["options"]
    assert (options.config, options.weight_path) == (config, weights)
    assert options.relative and options.adapt_scale and options.multi_person
    assert f"model {weights}" in capsys.readouterr().out
