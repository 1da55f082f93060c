"""Synthetic talking heads, make-dataset and FirstOrderDataset (layout, pairs, augmentation,
determinism, formats, bad videos), on a few tiny clips."""
import logging
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from ppfom.cli import _main, run_main
from ppfom.data import synthetic
from ppfom.data.frames_dataset import FirstOrderDataset, build_augmentation
from ppfom.data.synthetic import HeadRenderer, make_dataset, make_identity, make_motion, plan_dataset, render_video
from ppfom.errors import ConfigError, PpfomError
from ppfom.registry import DATASETS

SIZE = 32
JITTER = {"name": "PairedColorJitter", "brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.1,
          "keys": ["image", "image"]}
FLIP = {"name": "PairedRandomHorizontalFlip", "prob": 0.5, "keys": ["image", "image"]}


def tiny_dataset(root, fmt="png", n_train=3, n_test=2, frames=(6, 8), **kw):
    return make_dataset(root, n_train, n_test, size=SIZE, frames=frames, fmt=fmt, seed=1, progress=False,
                        workers=1, **kw)


@pytest.fixture(scope="module")
def png_root(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("png") / "synth")


def train_set(root, **kw):
    kw.setdefault("frame_shape", [SIZE, SIZE, 3])
    kw.setdefault("warn", lambda line: None)
    return FirstOrderDataset(dataroot=str(root), phase="train", **kw)


def still_video(root, image, frames=3):
    """A frame folder whose frames are all the same picture, in root/train and root/test."""
    for split in ("train", "test"):
        folder = Path(root) / split / "still"
        folder.mkdir(parents=True)
        for i in range(frames):
            cv2.imwrite(str(folder / f"{i:03d}.png"), image[..., ::-1])
    return root


# -- the synthetic renderer -----------------------------------------------------------------

def test_render_is_deterministic_and_well_formed():
    a = render_video(5, 7, size=SIZE, frames=6)
    b = render_video(5, 7, size=SIZE, frames=6)
    assert a.shape == (6, SIZE, SIZE, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert 20 < a.mean() < 235 and a.std() > 15


def test_identities_look_different():
    same_motion = [render_video(i, 3, size=SIZE, frames=1)[0].astype(int) for i in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.abs(same_motion[i] - same_motion[j]).mean() > 4     # same background and pose
    a, b = make_identity(1), make_identity(2)
    assert not np.allclose(a["skin"], b["skin"]) and not np.allclose(a["axes"], b["axes"])


def test_frames_move_smoothly_and_substantially():
    video = render_video(1, 2, size=64, frames=40).astype(int)
    steps = [np.abs(video[t + 1] - video[t]).mean() for t in range(39)]
    far = max(np.abs(video[t] - video[0]).mean() for t in range(40))
    assert min(steps) > 0.1 and max(steps) < 6        # always moving, never jumping
    assert far > 5                                    # well away from the first frame
    motion = make_motion(2, 100)
    span = {k: float(np.ptp(v)) for k, v in motion.items()}
    assert span["yaw"] > np.radians(15) and span["pitch"] > np.radians(5) and span["roll"] > np.radians(3)
    assert span["blink"] > 0.9 and span["mouth"] > 0.7
    assert np.abs(np.diff(motion["yaw"])).max() < np.radians(4)


def test_blink_and_mouth_are_local_changes():
    renderer = HeadRenderer(make_identity(4), 9, 64)
    pose = dict(yaw=0.1, pitch=0.0, roll=0.0, tx=0.0, ty=0.0, scale=1.0, blink=0.0, mouth=0.0)
    neutral = renderer.render(pose).astype(int)
    rows = {}
    for key in ("blink", "mouth"):
        changed = np.abs(renderer.render(dict(pose, **{key: 1.0})).astype(int) - neutral).max(-1) > 12
        assert 0.001 < changed.mean() < 0.05, key     # visible, and only a small part of the frame
        rows[key] = np.nonzero(changed)[0].mean()
    assert rows["blink"] < rows["mouth"] - 5          # the eyes are above the mouth


def test_yaw_moves_features_sideways():
    renderer = HeadRenderer(make_identity(6), 2, 64)
    pose = dict(yaw=0.0, pitch=0.0, roll=0.0, tx=0.0, ty=0.0, scale=1.0, blink=0.0, mouth=0.0)
    front = renderer.render(pose).astype(int)
    turned = renderer.render(dict(pose, yaw=np.radians(30))).astype(int)
    left = renderer.render(dict(pose, yaw=np.radians(-30))).astype(int)
    assert np.abs(turned - front).mean() > 4 and np.abs(turned - left).mean() > np.abs(turned - front).mean()
    assert not np.array_equal(turned, front[:, ::-1])


# -- make-dataset ------------------------------------------------------------------------

def test_make_dataset_layout(png_root):
    root = Path(png_root)
    assert sorted(os.listdir(root)) == ["synthetic.json", "test", "train"]
    train, test = sorted(os.listdir(root / "train")), sorted(os.listdir(root / "test"))
    assert train == ["id00000", "id00001", "id00002"] and test == ["id00000", "id00001"]
    for split, names in (("train", train), ("test", test)):
        for name in names:
            frames = sorted(os.listdir(root / split / name))
            assert 6 <= len(frames) <= 8 and all(f.endswith(".png") for f in frames)
    assert not [p for p in os.listdir(root.parent) if p.startswith(".")]     # no temporary left over
    # Different people in train and test: the plan's identity seeds are disjoint.
    jobs = plan_dataset(50, 50, seed=1)
    people = {split: {j["identity"] for j in jobs if j["split"] == split} for split in ("train", "test")}
    assert len(people["train"]) == 50 and not people["train"] & people["test"]
    first = lambda split, name: cv2.imread(str(root / split / name / "00000.png"))  # noqa: E731
    assert np.abs(first("train", "id00000").astype(int) - first("test", "id00000")).mean() > 5


def test_make_dataset_is_all_or_nothing(tmp_path, monkeypatch):
    real = synthetic.write_video
    calls = []

    def failing(frames, path, fmt, fps=25):
        calls.append(path)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        real(frames, path, fmt, fps)

    monkeypatch.setattr(synthetic, "write_video", failing)
    with pytest.raises(RuntimeError):
        tiny_dataset(tmp_path / "synth")
    assert os.listdir(tmp_path) == []                 # neither the root nor a temporary


def test_make_dataset_replaces_only_with_overwrite(tmp_path):
    root = tiny_dataset(tmp_path / "synth", n_train=1, n_test=1, frames=3)
    with pytest.raises(PpfomError, match="already exists"):
        tiny_dataset(root, n_train=1, n_test=1, frames=3)
    tiny_dataset(root, n_train=2, n_test=1, frames=3, overwrite=True)
    assert len(os.listdir(Path(root) / "train")) == 2
    assert sorted(os.listdir(tmp_path)) == ["synth"]


# -- the dataset -----------------------------------------------------------------------------

def test_pairs_are_well_formed(png_root):
    ds = train_set(png_root, num_repeats=4, time_flip=True, transforms=[FLIP, JITTER])
    assert len(ds) == 3 * 4 and len(train_set(png_root)) == 3
    item = ds[5]
    assert set(item) == {"source", "driving", "name"}
    for key in ("source", "driving"):
        assert item[key].shape == (3, SIZE, SIZE) and item[key].dtype == np.float32
        assert 0 <= item[key].min() and item[key].max() <= 1 and item[key].std() > 0.02
    assert item["name"] == "id00002"                  # idx 5 = the third video's second pass
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_items_are_pure_functions_of_seed_epoch_index(png_root):
    kw = dict(num_repeats=4, time_flip=True, transforms=[FLIP, JITTER], seed=7)
    a, b = train_set(png_root, **kw), train_set(png_root, **kw)
    a.set_epoch(3)
    b.set_epoch(3)
    for idx in (0, 7, 11, 7):                          # any order, any instance
        x, y = a[idx], b[idx]
        assert np.array_equal(x["source"], y["source"]) and np.array_equal(x["driving"], y["driving"])
    differs = 0
    for idx in range(len(a)):
        a.set_epoch(3)
        x = a[idx]
        a.set_epoch(4)
        differs += not np.array_equal(x["source"], a[idx]["source"])
    assert differs >= len(a) - 2
    other_seed = train_set(png_root, **dict(kw, seed=8))
    other_seed.set_epoch(3)
    a.set_epoch(3)
    assert any(not np.array_equal(a[i]["source"], other_seed[i]["source"]) for i in range(4))


def test_a_loader_worker_computes_the_same_items(png_root):
    paddle = pytest.importorskip("paddle")
    ds = train_set(png_root, num_repeats=2, time_flip=True, transforms=[FLIP, JITTER], seed=3)
    ds.set_epoch(5)
    loader = paddle.io.DataLoader(ds, batch_size=None, shuffle=False, num_workers=1, use_shared_memory=False)
    got = [np.asarray(item["driving"]) for item in loader]
    assert len(got) == len(ds)
    for idx, driving in enumerate(got):
        assert np.array_equal(driving, ds[idx]["driving"]), idx


def test_flip_and_jitter_apply_identically_to_both_frames(tmp_path):
    rng = np.random.default_rng(0)
    image = cv2.resize(rng.integers(0, 255, (4, 4, 3)).astype(np.uint8), (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    root = still_video(tmp_path / "still", image)
    plain = train_set(root, num_repeats=40)[0]["source"]
    assert np.allclose(plain, image.transpose(2, 0, 1) / 255.0)
    flipped = image[:, ::-1].transpose(2, 0, 1) / 255.0
    ds = train_set(root, num_repeats=40, time_flip=True, transforms=[FLIP])
    seen = set()
    for idx in range(len(ds)):
        item = ds[idx]
        assert np.array_equal(item["source"], item["driving"])
        seen.add("flip" if np.allclose(item["source"], flipped) else "plain" if np.allclose(item["source"], plain)
                 else "?")
    assert seen == {"flip", "plain"}
    ds = train_set(root, num_repeats=10, transforms=[JITTER])
    for idx in range(len(ds)):
        item = ds[idx]
        assert np.array_equal(item["source"], item["driving"])
        assert 1e-3 < np.abs(item["source"] - plain).mean() < 0.2


def test_time_flip_swaps_source_and_driving(png_root):
    forward = train_set(png_root, num_repeats=20)
    swapped = train_set(png_root, num_repeats=20, time_flip=True)
    flips = 0
    for idx in range(len(forward)):
        f, s = forward[idx], swapped[idx]
        if not np.array_equal(f["source"], s["source"]):
            assert np.array_equal(f["source"], s["driving"]) and np.array_equal(f["driving"], s["source"])
            flips += 1
    assert 0 < flips < len(forward)


def test_original_augmentation_params(png_root):
    aug = {"crop_param": {"size": [SIZE - 4, SIZE - 4]}, "resize_param": {"ratio": [0.9, 1.1]},
           "rotation_param": {"degrees": 10}, "flip_param": {"horizontal_flip": True, "time_flip": True}}
    ds = train_set(png_root, num_repeats=2, augmentation_params=aug)
    item = ds[1]
    assert item["source"].shape == item["driving"].shape == (3, SIZE - 4, SIZE - 4)
    with pytest.raises(ConfigError, match="given twice"):
        build_augmentation(True, [FLIP], {"flip_param": {"horizontal_flip": True}})
    with pytest.raises(ConfigError, match="unknown transform 'PairedBlur'"):
        train_set(png_root, transforms=[{"name": "PairedBlur"}])


def test_test_phase_gives_whole_videos(png_root):
    ds = FirstOrderDataset(dataroot=str(png_root), phase="test", frame_shape=[24, 24, 3], num_repeats=5)
    assert len(ds) == 2
    name, frames = ds.test_video(1)
    assert name == "id00001" and frames.dtype == np.uint8 and frames.shape[1:] == (24, 24, 3)
    item = ds[1]
    assert item["video"].shape == (3, len(frames), 24, 24) and item["video"].dtype == np.float32


@pytest.mark.parametrize("fmt", ["mp4", "gif"])
def test_video_files_load(png_root, tmp_path, fmt):
    root = tiny_dataset(tmp_path / fmt, fmt=fmt)
    assert sorted(os.listdir(Path(root) / "train")) == [f"id0000{i}.{fmt}" for i in range(3)]
    videos = FirstOrderDataset(dataroot=str(root), phase="test", frame_shape=[SIZE, SIZE, 3])
    pngs = FirstOrderDataset(dataroot=str(png_root), phase="test", frame_shape=[SIZE, SIZE, 3])
    for i in range(2):
        name, frames = videos.test_video(i)
        _, reference = pngs.test_video(i)
        assert name == f"id0000{i}.{fmt}" and frames.shape == reference.shape
        error = np.abs(frames.astype(int) - reference).mean()
        assert error < (1.0 if fmt == "mp4" else 12.0), error   # mp4: H.264 yuv444p at crf 0
    ds = train_set(root, num_repeats=2, transforms=[FLIP])
    assert ds[3]["source"].shape == (3, SIZE, SIZE) and ds[3]["name"] == f"id00000.{fmt}"
    if fmt == "mp4":                                  # .mov goes the same way
        os.rename(Path(root) / "train" / "id00002.mp4", Path(root) / "train" / "id00002.mov")
        ds = train_set(root, num_repeats=2)
        assert ds[2]["name"] == "id00002.mov" and ds[2]["source"].std() > 0.02


def test_frames_are_resized_to_frame_shape(png_root):
    ds = train_set(png_root, frame_shape=[48, 40, 3])
    assert ds[0]["source"].shape == (3, 48, 40)
    with pytest.raises(ConfigError, match="frame_shape"):
        train_set(png_root, frame_shape=[48, 48, 4])


def test_bad_videos_are_skipped_by_name(png_root, tmp_path):
    root = tmp_path / "mixed"
    (root / "train").mkdir(parents=True)
    for name in os.listdir(Path(png_root) / "train"):
        os.symlink(Path(png_root) / "train" / name, root / "train" / name)
    (root / "train" / "broken.mp4").write_bytes(b"\0" * 2000)
    (root / "train" / "notes.txt").write_text("hello")
    (root / "train" / "empty").mkdir()
    short = root / "train" / "short"
    short.mkdir()
    cv2.imwrite(str(short / "0.png"), np.zeros((8, 8, 3), np.uint8))
    (root / "train" / ".hidden.partial").mkdir()
    lines = []
    ds = train_set(root, warn=lines.append)
    assert [v.name for v in ds.videos] == ["id00000", "id00001", "id00002"]
    assert len(lines) == 4 and all(": skipped (" in line for line in lines)
    text = "\n".join(lines)
    for name, reason in (("broken.mp4", "cannot be opened"), ("notes.txt", "not a video"),
                         ("empty", "without frames"), ("short", "at least 2")):
        assert any(name in line and reason in line for line in lines), (name, text)
    # Through the logging module by default.
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("ppfom.data").addHandler(handler)
    try:
        train_set(root, warn=None)
    finally:
        logging.getLogger("ppfom.data").removeHandler(handler)
    assert len(records) == 4 and "broken.mp4" in "\n".join(r.getMessage() for r in records)


def test_a_video_that_fails_later_is_replaced_and_reported(png_root, tmp_path):
    root = tmp_path / "later"
    (root / "train").mkdir(parents=True)
    for name in ("id00000", "id00001"):
        target = root / "train" / name
        target.mkdir()
        for f in os.listdir(Path(png_root) / "train" / name):
            (target / f).write_bytes((Path(png_root) / "train" / name / f).read_bytes())
    for f in os.listdir(root / "train" / "id00000"):
        (root / "train" / "id00000" / f).write_bytes(b"garbage")     # probes fine, reads badly
    lines = []
    ds = train_set(root, num_repeats=2, warn=lines.append)
    assert ds[0]["name"] == "id00001" and ds[2]["name"] == "id00001"
    assert len(lines) == 1 and "id00000" in lines[0] and "cannot be read" in lines[0]


def test_empty_or_missing_folders_are_errors(tmp_path):
    (tmp_path / "empty" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "test").mkdir()
    with pytest.raises(PpfomError, match=f"{tmp_path / 'empty' / 'train'}: no videos"):
        train_set(tmp_path / "empty")
    with pytest.raises(PpfomError, match=f"{tmp_path / 'nowhere'}: dataset folder not found"):
        train_set(tmp_path / "nowhere")
    (tmp_path / "only_train" / "train").mkdir(parents=True)
    with pytest.raises(PpfomError, match=f"{tmp_path / 'only_train' / 'test'}: dataset folder not found"):
        FirstOrderDataset(dataroot=str(tmp_path / "only_train"), phase="test")
    with pytest.raises(ConfigError, match="dataroot"):
        FirstOrderDataset(phase="train")


def test_id_sampling_groups_clips_by_identity(tmp_path):
    root = tiny_dataset(tmp_path / "ids", n_train=2, n_test=1, frames=3, clips_per_identity=2)
    names = sorted(os.listdir(Path(root) / "train"))
    assert names == ["id00000#00", "id00000#01", "id00001#00", "id00001#01"]
    ds = train_set(root, id_sampling=True, num_repeats=30)
    assert len(ds) == 2 * 30 and ds.identities == ["id00000", "id00001"]
    picked = {ds[i]["name"] for i in range(0, len(ds), 2)}
    assert picked == {"id00000#00", "id00000#01"}


def test_built_from_the_configs_dataset_sections(png_root):
    from ppfom.config import load_config

    for config in ("firstorder_vox_256", "firstorder_mgif", "configs/original/vox-256.yaml"):
        cfg = load_config(config)
        for phase in ("train", "test"):
            section = dict(cfg["dataset"][phase])
            aug = section.get("augmentation_params")
            if aug and "crop_param" in aug:
                section["augmentation_params"] = dict(aug, crop_param={"size": [SIZE, SIZE]})
            ds = DATASETS.build(section, dataroot=str(png_root), frame_shape=[SIZE, SIZE, 3], seed=2,
                                warn=lambda line: None)
            item = ds[0]
            image = item["source"] if phase == "train" else item["video"][:, 0]
            assert image.shape == (3, SIZE, SIZE)


def test_animation_pairs(png_root, tmp_path):
    ds = FirstOrderDataset(dataroot=str(png_root), phase="test", frame_shape=[SIZE, SIZE, 3])
    pairs = ds.animation_pairs(3)
    assert len(pairs) == 3 and len(set(pairs)) == 3
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text("source,driving\nid00000,id00001\nid00009,id00000\nid00001,id00001\n")
    ds = FirstOrderDataset(dataroot=str(png_root), phase="test", pairs_list=str(csv_path))
    assert ds.animation_pairs(10) == [(1, 0), (1, 1)]


# -- the command ------------------------------------------------------------------------------

def cli(capsys, *args):
    code = run_main(_main, ["make-dataset", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, [line for line in out.err.splitlines() if line.strip()]


def test_make_dataset_command(tmp_path, capsys):
    code, out, err = cli(capsys, tmp_path / "cli", "--train", 2, "--test", 1, "--size", SIZE, "--frames", "3..4",
                         "--format", "mp4", "--workers", 1, "--quiet")
    assert code == 0 and not err, err
    assert "2 train and 1 test clips" in out
    assert sorted(os.listdir(tmp_path / "cli" / "train")) == ["id00000.mp4", "id00001.mp4"]
    code, _, err = cli(capsys, tmp_path / "cli", "--train", 1, "--test", 1, "--size", SIZE, "--quiet")
    assert code == 2 and len(err) == 1 and "already exists" in err[0]


@pytest.mark.parametrize("args, fragment", [
    (["--size", "abc"], "--size 'abc'"),
    (["--size", "33"], "even"),
    (["--format", "avi"], "--format 'avi'"),
    (["--frames", "1"], "at least 2 frames"),
    (["--frames", "9..3"], "low..high"),
    (["--train", "-1"], "--train -1"),
    (["--train", "0", "--test", "0"], "at least one clip"),
])
def test_make_dataset_command_bad_arguments(tmp_path, capsys, args, fragment):
    code, out, err = cli(capsys, tmp_path / "bad", "--quiet", *args)
    assert code == 2 and len(err) == 1 and fragment in err[0], err
    assert not os.path.exists(tmp_path / "bad")
    code, _, err = cli(capsys)
    assert code == 2 and len(err) == 1 and "ROOT" in err[0]
