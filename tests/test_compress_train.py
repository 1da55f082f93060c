"""Training a compressed student: each mode freezes what it should, and distillation runs."""
import copy

import numpy as np
import pytest
import yaml

pytest.importorskip("imageio.v2")

from helpers import randomize  # noqa: E402
from test_train import train_config  # noqa: E402

from ppfom.errors import ConfigError  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from ppfom.data.synthetic import make_dataset

    root = tmp_path_factory.mktemp("synthetic")
    make_dataset(root, n_train=2, n_test=1, size=64, frames=8, seed=5, progress=False)
    return root


@pytest.fixture(scope="module")
def teacher(data, tmp_path_factory):
    """A teacher config (the tiny one) and its random-but-fixed weights."""
    import paddle

    from ppfom.api import build_networks
    from ppfom.config import load_config

    folder = tmp_path_factory.mktemp("teacher")
    cfg = train_config(data)
    config_path = folder / "teacher.yaml"
    config_path.write_text(yaml.safe_dump(cfg))
    kp, gen = build_networks(load_config(config_path))
    randomize(kp, 1)
    randomize(gen, 2)
    weights = folder / "teacher.pdparams"
    paddle.save({"kp_detector": kp.state_dict(), "generator": gen.state_dict()}, str(weights))
    return config_path, weights


def student_config(data, teacher, mode, distillation=None, **model):
    """A narrower student (block_expansion 4) trained in ``mode`` against ``teacher``."""
    cfg = train_config(data)
    gen = cfg["model"]["generator"]
    gen["kp_detector_cfg"]["block_expansion"] = 4
    gen["generator_cfg"]["block_expansion"] = 4
    gen["generator_cfg"]["dense_motion_params"]["block_expansion"] = 4
    cfg["model"]["train_params"]["loss_weights"]["generator_gan"] = 0
    cfg["model"].update({"mode": mode, "teacher": {"config": str(teacher[0]), "weights": str(teacher[1])}, **model})
    if distillation:
        cfg["model"]["distillation"] = distillation
    return cfg


def make_trainer(cfg, tmp_path):
    from ppfom.config import load_config
    from ppfom.training.trainer import Trainer

    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "student.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return Trainer(load_config(path), output_dir=tmp_path / "runs", progress=False, num_workers=0)


def snapshot(net):
    return {k: np.array(v.numpy(), copy=True) for k, v in net.state_dict().items()}


def changed(before, net):
    after = snapshot(net)
    return [k for k in before if not np.array_equal(before[k], after[k])]


@pytest.mark.parametrize("mode, frozen, trained", [("kp_detector", "generator", "kp_detector"),
                                                    ("generator", "kp_detector", "generator")])
def test_mode_freezes_the_teacher_half_bit_identically(data, teacher, tmp_path, mode, frozen, trained):
    trainer = make_trainer(student_config(data, teacher, mode), tmp_path)
    frozen_net, trained_net = getattr(trainer, frozen), getattr(trainer, trained)
    frozen_before, trained_before = snapshot(frozen_net), snapshot(trained_net)
    # The frozen half is the teacher's network, with the teacher's weights.
    import paddle

    teacher_state = paddle.load(str(teacher[1]))[frozen]
    assert set(frozen_before) == set(teacher_state)
    assert all(np.array_equal(frozen_before[k], np.asarray(teacher_state[k])) for k in frozen_before)

    trainer.train(max_steps=2)
    assert changed(frozen_before, frozen_net) == []          # weights and BatchNorm statistics
    moved = changed(trained_before, trained_net)
    assert any(k.endswith("weight") for k in moved)
    assert any(k.endswith("_mean") for k in moved)           # the student's BatchNorm trains


def test_both_starts_from_the_given_halves_and_trains_both(data, teacher, tmp_path):
    import paddle

    first = make_trainer(student_config(data, teacher, "both"), tmp_path / "a")
    randomize(first.kp_detector, 7)
    randomize(first.generator, 8)
    halves = tmp_path / "halves.pdparams"
    paddle.save({"kp_detector": first.kp_detector.state_dict(), "generator": first.generator.state_dict()},
                str(halves))
    cfg = student_config(data, teacher, "both", kp_weight_path=str(halves), gen_weight_path=str(halves))
    trainer = make_trainer(cfg, tmp_path / "b")
    assert changed(snapshot(first.kp_detector), trainer.kp_detector) == []
    assert changed(snapshot(first.generator), trainer.generator) == []
    kp_before, gen_before = snapshot(trainer.kp_detector), snapshot(trainer.generator)
    trainer.train(max_steps=1)
    assert changed(kp_before, trainer.kp_detector) and changed(gen_before, trainer.generator)


def test_distillation_alone_pulls_the_student_to_the_teacher(data, teacher, tmp_path):
    cfg = student_config(data, teacher, "both",
                         distillation={"keypoints": 10, "jacobians": 1, "heatmaps": 1, "prediction": 10,
                                       "deformation": 10, "occlusion": 10})
    weights = cfg["model"]["train_params"]["loss_weights"]
    weights.update({"perceptual": [0, 0], "equivariance_value": 0, "equivariance_jacobian": 0})
    cfg["lr_scheduler"]["lr"] = 2e-3
    trainer = make_trainer(cfg, tmp_path)
    teacher_kp_before = snapshot(trainer.distillation.teacher_kp)
    trainer.train(max_steps=30)
    records = [yaml.safe_load(line) for line in (trainer.run_dir / "log.jsonl").read_text().splitlines()]
    assert {"distill_keypoints", "distill_jacobians", "distill_heatmaps", "distill_prediction",
            "distill_deformation", "distill_occlusion"} <= set(records[0])
    assert "perceptual" not in records[0]
    for key in ("distill_keypoints", "distill_heatmaps", "distill_prediction", "distill_deformation",
                "distill_occlusion"):
        start = np.mean([r[key] for r in records[:3]])
        end = np.mean([r[key] for r in records[-3:]])
        assert np.isfinite(end) and end < 0.8 * start, (key, start, end)
    assert changed(teacher_kp_before, trainer.distillation.teacher_kp) == []
    # The teacher is not part of the student's state.
    assert all(not k.startswith("teacher") for k in trainer.generator.state_dict())


def test_keypoints_mode_trains_the_detector_alone_on_keypoint_distillation(data, teacher, tmp_path):
    cfg = student_config(data, teacher, "keypoints",
                         distillation={"keypoints": 10, "jacobians": 1, "heatmaps": 1, "prediction": 10})
    cfg["lr_scheduler"]["lr"] = 2e-3
    trainer = make_trainer(cfg, tmp_path)
    gen_before, kp_before = snapshot(trainer.generator), snapshot(trainer.kp_detector)
    trainer.train(max_steps=30)
    records = [yaml.safe_load(line) for line in (trainer.run_dir / "log.jsonl").read_text().splitlines()]
    # Only the keypoint losses: no perceptual, equivariance or prediction term (no generator ran).
    assert set(records[0]) == {"step", "epoch", "distill_keypoints", "distill_jacobians", "distill_heatmaps", "total"}
    for key in ("distill_keypoints", "distill_heatmaps"):
        start, end = np.mean([r[key] for r in records[:3]]), np.mean([r[key] for r in records[-3:]])
        assert np.isfinite(end) and end < 0.8 * start, (key, start, end)
    # The student's generator is neither trained nor its BatchNorm statistics moved.
    assert changed(gen_before, trainer.generator) == []
    moved = changed(kp_before, trainer.kp_detector)
    assert any(k.endswith("weight") for k in moved) and any(k.endswith("_mean") for k in moved)
    # ... and the checkpoint carries it through.
    import paddle

    saved = paddle.load(str(trainer.run_dir / "checkpoints" / "latest.pdparams"))["generator"]
    assert all(np.array_equal(np.asarray(saved[k]), gen_before[k]) for k in gen_before)


def test_bad_compression_configs(data, teacher, tmp_path):
    cfg = student_config(data, teacher, "kp_detector")
    del cfg["model"]["teacher"]
    with pytest.raises(ConfigError, match="teacher"):
        make_trainer(cfg, tmp_path / "a")
    cfg = student_config(data, teacher, "sideways")
    with pytest.raises(ConfigError, match="model.mode"):
        make_trainer(cfg, tmp_path / "b")
    cfg = student_config(data, teacher, "both", distillation={"attention": 1})
    with pytest.raises(ConfigError, match="attention"):
        make_trainer(cfg, tmp_path / "c")
    # Heatmaps need a student keypoint detector that trains.
    cfg = student_config(data, teacher, "generator", distillation={"heatmaps": 1})
    with pytest.raises(ConfigError, match="heatmaps"):
        make_trainer(cfg, tmp_path / "e")
    # Keypoints mode with no keypoint distillation loss has nothing to train on.
    cfg = student_config(data, teacher, "keypoints", distillation={"prediction": 1})
    with pytest.raises(ConfigError, match="keypoint distillation"):
        make_trainer(cfg, tmp_path / "f")
    bad = copy.deepcopy(student_config(data, teacher, "full", distillation={"prediction": 1}))
    del bad["model"]["teacher"]
    with pytest.raises(ConfigError, match="teacher"):
        make_trainer(bad, tmp_path / "d")


def test_heatmap_distillation_is_a_kl_divergence(data, teacher):
    """Zero for a student that is the teacher, positive otherwise, with a gradient into the
    student's heatmap head; the keypoint detector returns heatmaps only when asked."""
    import paddle

    from ppfom.api import load_fomm
    from ppfom.training.distill import DistillationLoss

    teacher_fomm = load_fomm(str(teacher[0]), weights=str(teacher[1]))
    student_fomm = load_fomm(str(teacher[0]), weights=str(teacher[1]))
    frames = paddle.to_tensor(np.random.RandomState(0).rand(2, 3, 64, 64).astype("float32"))
    assert "heatmap" not in student_fomm.kp_detector(frames)
    loss = DistillationLoss(teacher_fomm.kp_detector, teacher_fomm.generator, {"heatmaps": 2.0},
                            student_kp=student_fomm.kp_detector)
    student_fomm.kp_detector.eval()

    def distill():
        kp = student_fomm.kp_detector(frames)
        assert kp["heatmap"].shape[:2] == [2, kp["value"].shape[1]]
        np.testing.assert_allclose(kp["heatmap"].sum(axis=-1).numpy(), 1.0, rtol=1e-5)
        return loss(frames, frames, {"kp_source": kp, "kp_driving": kp})["distill_heatmaps"]

    assert abs(float(distill())) < 1e-5
    randomize(student_fomm.kp_detector, 11)
    value = distill()
    assert float(value) > 0.01
    value.backward()
    grad = student_fomm.kp_detector.kp.weight.grad
    assert grad is not None and float(paddle.abs(grad).sum()) > 0
