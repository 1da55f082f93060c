"""load_fomm on the original's checkpoints reproduces the original PyTorch FOMM's outputs.

The fixture (shared/fixtures) was made by the original code; tests/test_parity_torch.py
repeats this on other configs and seeds through an independent PyTorch reference.
"""
import numpy as np
import pytest
import yaml

from ppfom import load_fomm

from parity import LOOSE, assert_parity, parity_errors, run_like_original_demo


@pytest.fixture(scope="module")
def reference(shared_fixtures):
    return dict(np.load(shared_fixtures / "fomm_small.npz"))


@pytest.mark.parametrize("checkpoint", ["fomm_small_zip.pth.tar", "fomm_small_legacy.pth.tar"])
def test_original_checkpoint_reproduces_original_outputs(shared_fixtures, reference, checkpoint):
    config = yaml.safe_load(str(reference["config_yaml"]))  # the original's own YAML layout
    fomm = load_fomm(config, weights=str(shared_fixtures / checkpoint))
    assert fomm.numerics.align_corners is False, "a .pth.tar runs as upstream runs it today"
    ours = run_like_original_demo(fomm, reference["input/source"], reference["input/driving"])
    errors = assert_parity(ours, reference, checkpoint)
    assert len(errors) == 13, sorted(errors)


def test_wrong_convention_is_detected(shared_fixtures, reference):
    """The comparison has teeth: PaddleGAN's align_corners=True moves the prediction far out."""
    config = yaml.safe_load(str(reference["config_yaml"]))
    fomm = load_fomm(config, weights=str(shared_fixtures / "fomm_small_zip.pth.tar"),
                     overrides=["model.numerics.align_corners=true"])
    ours = run_like_original_demo(fomm, reference["input/source"], reference["input/driving"])
    assert parity_errors(ours, reference)["out/prediction"] > 1e-2


def test_converted_pdparams_gives_the_same_pictures(shared_fixtures, reference, tmp_path):
    """convert_weights writes PaddleGAN's layout; loading it (with the original's numerics) is equal."""
    from ppfom.checkpoint.convert import original_to_paddlegan, save_pdparams
    from ppfom.checkpoint.torch_reader import read_torch_checkpoint

    dst = tmp_path / "small.pdparams"
    save_pdparams(original_to_paddlegan(read_torch_checkpoint(shared_fixtures / "fomm_small_zip.pth.tar")), dst)
    config = yaml.safe_load(str(reference["config_yaml"]))
    fomm = load_fomm(config, weights=str(dst), overrides=["model.numerics.align_corners=false"])
    ours = run_like_original_demo(fomm, reference["input/source"], reference["input/driving"])
    assert parity_errors(ours, reference)["out/prediction"] <= LOOSE
    # Without the override a .pdparams is taken to be PaddleGAN's, which runs align_corners=True.
    assert load_fomm(config, weights=str(dst)).numerics.align_corners is True
