"""deploy/lite/run_lite.py animates a source with a driving video through Lite x86 .nb files."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("paddlelite.lite")
imageio = pytest.importorskip("imageio.v2")

from ppfom import load_fomm  # noqa: E402
from ppfom.export import export_models  # noqa: E402

from helpers import randomize, tiny_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lite_media")
    fomm = load_fomm(tiny_config())
    randomize(fomm.kp_detector, 5), randomize(fomm.generator, 6)
    export_models(fomm, folder / "export", size=64, batch=None, lite=("x86",), progress=False)
    rng = np.random.default_rng(0)
    imageio.imwrite(folder / "source.png", rng.integers(0, 255, (80, 90, 4), dtype=np.uint8))  # RGBA, not square
    frames = [np.roll(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), i, axis=1) for i in range(5)]
    imageio.mimwrite(folder / "driving.mp4", frames, fps=10, macro_block_size=1)
    return folder


def run(*args):
    return subprocess.run([sys.executable, str(REPO / "deploy" / "lite" / "run_lite.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_animates_every_driving_frame(media):
    out = media / "out.mp4"
    result = run("--model_dir", media / "export", "--source", media / "source.png", "--driving",
                 media / "driving.mp4", "--output", out, "--relative", "--adapt_scale", "--batch_size", "2")
    assert result.returncode == 0, result.stderr
    reader = imageio.get_reader(out)
    assert reader.count_frames() == 5 and reader.get_meta_data()["fps"] == pytest.approx(10)
    assert not list(media.glob(".out.partial*"))


def test_refuses_to_overwrite_and_reports_missing_input(media):
    (media / "taken.mp4").write_bytes(b"mine")
    result = run("--model_dir", media / "export", "--source", media / "source.png", "--driving",
                 media / "driving.mp4", "--output", media / "taken.mp4")
    assert result.returncode != 0 and "--overwrite" in result.stderr and "Traceback" not in result.stderr
    assert (media / "taken.mp4").read_bytes() == b"mine"
    result = run("--model_dir", media / "export", "--source", media / "nope.png", "--driving",
                 media / "driving.mp4", "--output", media / "o.mp4")
    assert result.returncode != 0 and "nope.png" in result.stderr and "Traceback" not in result.stderr
    assert not (media / "o.mp4").exists()
