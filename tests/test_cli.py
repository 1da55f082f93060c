"""Bad input at the command line: one line on stderr, a non-zero exit, no traceback."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
import yaml

from ppfom import load_fomm

from helpers import tiny_config

REPO = Path(__file__).resolve().parents[1]


def ppfom(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "ppfom.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny config file and weights that fit it."""
    folder = tmp_path_factory.mktemp("tiny")
    cfg = tiny_config()
    (folder / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    paddle.save(load_fomm(cfg).state_dicts(), str(folder / "tiny.pdparams"))
    return folder


def test_check_runs_on_fitting_weights(tiny):
    result = ppfom("check", "--config", tiny / "tiny.yaml", "--weights", tiny / "tiny.pdparams", "--size", 64)
    assert result.returncode == 0, result.stderr
    assert "finite=True" in result.stdout and "align_corners=True" in result.stdout


def test_missing_weights_file(tiny):
    assert_one_line_error(ppfom("check", "--config", tiny / "tiny.yaml", "--weights", tiny / "nope.pdparams"), "nope.pdparams")


def test_missing_config_file(tiny):
    assert_one_line_error(ppfom("check", "--config", tiny / "nope.yaml"), "nope")


def test_truncated_checkpoint(tiny, tmp_path):
    data = (tiny / "tiny.pdparams").read_bytes()
    cut = tmp_path / "cut.pdparams"
    cut.write_bytes(data[: len(data) // 2])
    assert_one_line_error(ppfom("check", "--config", tiny / "tiny.yaml", "--weights", cut), "cut.pdparams")


def test_truncated_torch_checkpoint(tiny, shared_fixtures, tmp_path):
    data = (shared_fixtures / "fomm_small_legacy.pth.tar").read_bytes()
    cut = tmp_path / "cut.pth.tar"
    cut.write_bytes(data[: len(data) // 3])
    assert_one_line_error(ppfom("check", "--config", tiny / "tiny.yaml", "--weights", cut), "cut.pth.tar")


def test_wrong_config_key_in_file(tiny, tmp_path):
    cfg = tiny_config()
    cfg["model"]["generator"]["kp_detector_cfg"]["num_kps"] = 10
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert_one_line_error(ppfom("check", "--config", path), "num_kps")


def test_wrong_config_key_in_override(tiny):
    assert_one_line_error(ppfom("check", "--config", tiny / "tiny.yaml", "-o", "model.common_params.num_kpt=3"), "num_kpt")


def test_weights_for_another_architecture(tiny, tmp_path):
    other = tmp_path / "other.pdparams"
    paddle.save(load_fomm(tiny_config(num_kp=7)).state_dicts(), str(other))
    assert_one_line_error(ppfom("check", "--config", tiny / "tiny.yaml", "--weights", other), "another shape", "other.pdparams")


def test_not_a_checkpoint(tiny, tmp_path):
    junk = tmp_path / "junk.pth.tar"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    assert_one_line_error(ppfom("check", "--config", tiny / "tiny.yaml", "--weights", junk), "junk.pth.tar")


def test_original_checkpoint_with_the_original_config(shared_fixtures, tmp_path):
    config = tmp_path / "original.yaml"
    config.write_text(str(np.load(shared_fixtures / "fomm_small.npz")["config_yaml"]))
    result = ppfom("check", "--config", config, "--weights", shared_fixtures / "fomm_small_zip.pth.tar")
    assert result.returncode == 0, result.stderr
    assert "1,072,984 parameters" in result.stdout and "1,569,423 parameters" in result.stdout
    assert "align_corners=False" in result.stdout


def test_unknown_command():
    result = ppfom("animat")
    assert result.returncode != 0 and "Traceback" not in result.stderr
