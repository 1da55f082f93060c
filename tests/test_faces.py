"""Face detection: S3FD's names and shapes, strict loading, priors, NMS, the Haar fallback,
largest-first order and the choice of detector (no network, no S3FD weights needed)."""
import numpy as np
import pytest
from skimage.data import astronaut

from ppfom import weights as store
from ppfom.checkpoint.convert import save_pdparams
from ppfom.errors import CheckpointError, ConfigError, WeightsUnavailable
from ppfom.faces import FaceDetector, OpenCVHaar, S3FD, S3FDNet, build_face_detector, nms, sort_by_area
from ppfom.faces.s3fd import STRIDES, decode_boxes, decode_detections, expected_shapes, prior_boxes
from ppfom.registry import FACE_DETECTORS

# PaddleGAN's S3FD, written out by hand from ppgan/faceutils/face_detection/detection/sfd/net_s3fd.py
# (PaddlePaddle/PaddleGAN): class s3fd's layers in definition order (nn.Conv2D weight
# [out, in, k, k] and bias [out]; L2Norm's one parameter "weight" [channels], created with
# paddle.create_parameter and assigned to self.weight), i.e. the keys of s3fd_paddle.pdparams.
PADDLEGAN_S3FD = [
    ("conv1_1.weight", (64, 3, 3, 3)), ("conv1_1.bias", (64,)),
    ("conv1_2.weight", (64, 64, 3, 3)), ("conv1_2.bias", (64,)),
    ("conv2_1.weight", (128, 64, 3, 3)), ("conv2_1.bias", (128,)),
    ("conv2_2.weight", (128, 128, 3, 3)), ("conv2_2.bias", (128,)),
    ("conv3_1.weight", (256, 128, 3, 3)), ("conv3_1.bias", (256,)),
    ("conv3_2.weight", (256, 256, 3, 3)), ("conv3_2.bias", (256,)),
    ("conv3_3.weight", (256, 256, 3, 3)), ("conv3_3.bias", (256,)),
    ("conv4_1.weight", (512, 256, 3, 3)), ("conv4_1.bias", (512,)),
    ("conv4_2.weight", (512, 512, 3, 3)), ("conv4_2.bias", (512,)),
    ("conv4_3.weight", (512, 512, 3, 3)), ("conv4_3.bias", (512,)),
    ("conv5_1.weight", (512, 512, 3, 3)), ("conv5_1.bias", (512,)),
    ("conv5_2.weight", (512, 512, 3, 3)), ("conv5_2.bias", (512,)),
    ("conv5_3.weight", (512, 512, 3, 3)), ("conv5_3.bias", (512,)),
    ("fc6.weight", (1024, 512, 3, 3)), ("fc6.bias", (1024,)),
    ("fc7.weight", (1024, 1024, 1, 1)), ("fc7.bias", (1024,)),
    ("conv6_1.weight", (256, 1024, 1, 1)), ("conv6_1.bias", (256,)),
    ("conv6_2.weight", (512, 256, 3, 3)), ("conv6_2.bias", (512,)),
    ("conv7_1.weight", (128, 512, 1, 1)), ("conv7_1.bias", (128,)),
    ("conv7_2.weight", (256, 128, 3, 3)), ("conv7_2.bias", (256,)),
    ("conv3_3_norm.weight", (256,)),
    ("conv4_3_norm.weight", (512,)),
    ("conv5_3_norm.weight", (512,)),
    ("conv3_3_norm_mbox_conf.weight", (4, 256, 3, 3)), ("conv3_3_norm_mbox_conf.bias", (4,)),
    ("conv3_3_norm_mbox_loc.weight", (4, 256, 3, 3)), ("conv3_3_norm_mbox_loc.bias", (4,)),
    ("conv4_3_norm_mbox_conf.weight", (2, 512, 3, 3)), ("conv4_3_norm_mbox_conf.bias", (2,)),
    ("conv4_3_norm_mbox_loc.weight", (4, 512, 3, 3)), ("conv4_3_norm_mbox_loc.bias", (4,)),
    ("conv5_3_norm_mbox_conf.weight", (2, 512, 3, 3)), ("conv5_3_norm_mbox_conf.bias", (2,)),
    ("conv5_3_norm_mbox_loc.weight", (4, 512, 3, 3)), ("conv5_3_norm_mbox_loc.bias", (4,)),
    ("fc7_mbox_conf.weight", (2, 1024, 3, 3)), ("fc7_mbox_conf.bias", (2,)),
    ("fc7_mbox_loc.weight", (4, 1024, 3, 3)), ("fc7_mbox_loc.bias", (4,)),
    ("conv6_2_mbox_conf.weight", (2, 512, 3, 3)), ("conv6_2_mbox_conf.bias", (2,)),
    ("conv6_2_mbox_loc.weight", (4, 512, 3, 3)), ("conv6_2_mbox_loc.bias", (4,)),
    ("conv7_2_mbox_conf.weight", (2, 256, 3, 3)), ("conv7_2_mbox_conf.bias", (2,)),
    ("conv7_2_mbox_loc.weight", (4, 256, 3, 3)), ("conv7_2_mbox_loc.bias", (4,)),
]
# L2Norm's initial scales in net_s3fd.py: conv3_3 10, conv4_3 8, conv5_3 5.
PADDLEGAN_NORM_SCALES = {"conv3_3_norm.weight": 10.0, "conv4_3_norm.weight": 8.0, "conv5_3_norm.weight": 5.0}

# Astronaut (skimage.data.astronaut, 512x512): the centre of the face, measured by hand.
FACE_CENTRE = np.array([223.0, 113.0])


@pytest.fixture(scope="module")
def net():
    return S3FDNet()


@pytest.fixture(scope="module")
def saved(net, tmp_path_factory):
    """Our network's random weights saved as a .pdparams (about 90 MB)."""
    rng = np.random.default_rng(0)
    state = {k: rng.standard_normal(tuple(v.shape)).astype("float32") * 0.01 for k, v in net.state_dict().items()}
    path = tmp_path_factory.mktemp("s3fd") / "s3fd_paddle.pdparams"
    save_pdparams(state, path)
    return path, state


@pytest.fixture(scope="module")
def haar():
    return OpenCVHaar()


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PPFOM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(store.ENTRIES["s3fd_paddle"].env_var, raising=False)
    return tmp_path / "home"


def _centre(box):
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


# --------------------------------------------------------------------------- names and loading
def test_state_dict_is_paddlegans(net):
    ours = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
    assert ours == PADDLEGAN_S3FD
    assert list(expected_shapes().items()) == PADDLEGAN_S3FD
    state = net.state_dict()
    for key, scale in PADDLEGAN_NORM_SCALES.items():
        np.testing.assert_array_equal(state[key].numpy(), scale)


def test_registered():
    assert FACE_DETECTORS.get("S3FD") is S3FD
    assert FACE_DETECTORS.get("OpenCVHaar") is OpenCVHaar


def test_pdparams_loads_strictly(saved):
    path, state = saved
    detector = S3FD(weights=str(path))
    assert detector.weights_path == str(path)
    loaded = detector.net.state_dict()
    for key in ("conv1_1.weight", "conv3_3_norm.weight", "conv7_2_mbox_loc.bias"):
        np.testing.assert_array_equal(loaded[key].numpy(), state[key])


def test_original_pytorch_state_dict_loads(saved, tmp_path):
    """face-alignment's PyTorch s3fd file has the same names; it is read without torch."""
    torch = pytest.importorskip("torch")
    _, state = saved
    path = tmp_path / "s3fd.pth"
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, str(path))
    loaded = S3FD(weights=str(path)).net.state_dict()
    np.testing.assert_array_equal(loaded["fc6.weight"].numpy(), state["fc6.weight"])


def test_wrong_weights_fail_by_name(saved, net):
    from ppfom.faces.s3fd import load_s3fd_weights

    _, state = saved
    renamed = dict(state)
    renamed["conv3_3_norm.scale"] = renamed.pop("conv3_3_norm.weight")
    with pytest.raises(CheckpointError, match=r"conv3_3_norm\.weight.*conv3_3_norm\.scale"):
        load_s3fd_weights(net, renamed)
    reshaped = dict(state, **{"conv3_3_norm_mbox_conf.weight": np.zeros((2, 256, 3, 3), "float32")})
    with pytest.raises(CheckpointError, match=r"conv3_3_norm_mbox_conf\.weight \[4, 256, 3, 3\] vs \[2, 256, 3, 3\]"):
        load_s3fd_weights(net, reshaped)


def test_weight_store_checks_every_key():
    entry = store.ENTRIES["s3fd_paddle"]
    good = {k: np.zeros(s, "float32") for k, s in PADDLEGAN_S3FD}
    store.verify_state(entry, good)
    for bad, named in (
        ({k: v for k, v in good.items() if k != "fc7_mbox_loc.bias"}, "1 missing (fc7_mbox_loc.bias)"),
        (dict(good, extra=np.zeros(3, "float32")), "1 unexpected (extra)"),
        (dict(good, **{"conv6_2.weight": np.zeros((512, 256, 1, 1), "float32")}), "conv6_2.weight [512, 256, 3, 3]"),
    ):
        with pytest.raises(CheckpointError) as info:
            store.verify_state(entry, bad)
        assert named in str(info.value)


def test_auto_uses_s3fd_from_the_store(saved, empty_home):
    path, _ = saved
    store.import_weights(path, name="s3fd_paddle")
    notices = []
    detector = build_face_detector("auto", notice=notices.append)
    assert isinstance(detector, S3FD) and notices == []
    assert detector.weights_path == str(empty_home / "weights" / "s3fd_paddle.pdparams")


# --------------------------------------------------------------------------- priors, decoding, NMS
def test_prior_boxes_and_decoding_by_hand():
    priors = prior_boxes(2, 3, 4)  # centres every 4 px from 2, side 16
    np.testing.assert_array_equal(priors, [[2, 2, 16, 16], [6, 2, 16, 16], [10, 2, 16, 16],
                                           [2, 6, 16, 16], [6, 6, 16, 16], [10, 6, 16, 16]])
    prior = np.array([[10.0, 20.0, 16.0, 16.0]])
    np.testing.assert_allclose(decode_boxes(np.zeros((1, 4)), prior), [[2, 12, 18, 28]])
    # centre moves by loc * 0.1 * 16 = 1.6 px; width doubles (exp(5 * ln2 * 0.2) = 2), height stays
    loc = np.array([[1.0, -1.0, 5 * np.log(2.0), 0.0]])
    np.testing.assert_allclose(decode_boxes(loc, prior), [[11.6 - 16, 18.4 - 8, 11.6 + 16, 18.4 + 8]])


def test_decoding_the_network_output_gives_the_priors(net):
    """Zero box heads and constant classifiers: every cell of every level is a candidate whose
    box is exactly its prior (stride/2 + i*stride, side 4*stride) and whose score is
    softmax([0, 1])[1]; conv3_3's classifier takes the max of its 3 background logits."""
    detector = S3FD(weights=None, score_threshold=0.0)
    state = {k: v.numpy() for k, v in detector.net.state_dict().items()}
    for key in state:
        if "_mbox_" in key:
            state[key] = np.zeros_like(state[key])
    state["conv3_3_norm_mbox_conf.bias"] = np.array([-3.0, 0.0, -1.0, 1.0], "float32")
    for key in state:
        if key.endswith("_mbox_conf.bias") and not key.startswith("conv3_3"):
            state[key] = np.array([0.0, 1.0], "float32")
    detector.net.set_state_dict(state)
    image = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    outputs = detector.raw_outputs(image)
    assert [o.shape[1] for o in outputs] == [2, 4] * 6
    boxes = decode_detections(outputs, candidate_threshold=0.05)
    expected = []
    for level, stride in enumerate(STRIDES):
        h, w = outputs[2 * level].shape[2:]
        p = prior_boxes(h, w, stride)
        expected.append(np.concatenate([p[:, :2] - p[:, 2:] / 2, p[:, :2] + p[:, 2:] / 2], axis=1))
    expected = np.concatenate(expected)
    np.testing.assert_allclose(boxes[:, :4], expected, atol=1e-4)
    np.testing.assert_allclose(boxes[:, 4], 1 / (1 + np.exp(-1.0)), atol=1e-6)
    assert outputs[0].shape[2:] == (16, 24)  # stride 4


def test_forward_on_random_weights_gives_well_formed_boxes():
    detector = S3FD(weights=None, score_threshold=0.0)
    image = np.random.default_rng(2).integers(0, 256, (72, 100, 3), dtype=np.uint8)
    boxes = detector.detect(image)
    assert boxes.dtype == np.float32 and boxes.ndim == 2 and boxes.shape[1] == 5 and len(boxes) > 0
    assert np.isfinite(boxes).all()
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 100).all() and (boxes[:, 0] < boxes[:, 2]).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= 72).all() and (boxes[:, 1] < boxes[:, 3]).all()
    assert ((boxes[:, 4] >= 0) & (boxes[:, 4] <= 1)).all()
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    assert (np.diff(areas) <= 1e-3).all()
    # no face above PaddleGAN's 0.5 threshold is still a well-formed (0, 5) answer
    none = S3FD(weights=None, score_threshold=1.1).detect(image)
    assert none.shape == (0, 5) and none.dtype == np.float32


def _nms_reference(boxes, thresh, offset):
    """Plain one-box-at-a-time greedy NMS, for comparison."""
    order = sorted(range(len(boxes)), key=lambda i: -boxes[i, 4])
    keep = []
    for i in order:
        ok = True
        for j in keep:
            iw = max(0.0, min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]) + offset)
            ih = max(0.0, min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]) + offset)
            a = lambda b: (b[2] - b[0] + offset) * (b[3] - b[1] + offset)  # noqa: E731
            if iw * ih / (a(boxes[i]) + a(boxes[j]) - iw * ih) > thresh:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def test_nms_by_hand():
    boxes = np.array([
        [0, 0, 10, 10, 0.9],     # 0: kept
        [1, 1, 11, 11, 0.8],     # 1: IoU 100/142 with 0 (integer-pixel areas): suppressed
        [50, 50, 60, 60, 0.95],  # 2: disjoint, highest: first
        [0, 0, 10, 10, 0.1],     # 3: a duplicate of 0: suppressed
        [200, 0, 230, 30, 0.5],  # 4: disjoint: kept, last
    ])
    assert nms(boxes, 0.3).tolist() == [2, 0, 4]
    # greedy: 0 suppresses 1 (IoU 60/140), and 1 can then no longer suppress 2 (IoU 60/140);
    # 0 and 2 overlap by 20/180 only
    chain = np.array([[0, 0, 10, 10, 0.9], [4, 0, 14, 10, 0.8], [8, 0, 18, 10, 0.7]])
    assert nms(chain, 0.3, pixel_offset=0).tolist() == [0, 2]
    # an IoU exactly at the threshold is kept, as PaddleGAN's `ovr <= thresh`
    half = np.array([[0, 0, 10, 10, 0.9], [0, 0, 10, 20, 0.8]])
    assert nms(half, 0.5, pixel_offset=0).tolist() == [0, 1]
    assert nms(half, 0.49, pixel_offset=0).tolist() == [0]
    assert nms(np.zeros((0, 5)), 0.3).tolist() == []
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 100, (300, 2))
    many = np.concatenate([xy, xy + rng.uniform(5, 40, (300, 2)), rng.uniform(0, 1, (300, 1))], axis=1)
    for offset in (0.0, 1.0):
        assert nms(many, 0.3, offset).tolist() == _nms_reference(many, 0.3, offset)


# --------------------------------------------------------------------------- order
class _Fixed(FaceDetector):
    def __init__(self, boxes, **kw):
        super().__init__(**kw)
        self.boxes = np.asarray(boxes, dtype=np.float32)

    def _detect(self, image):
        return self.boxes


def test_largest_face_first():
    boxes = [[0, 0, 10, 10, 0.99], [20, 20, 80, 80, 0.6], [0, 50, 30, 80, 0.9], [100, 0, 130, 30, 0.95]]
    out = _Fixed(boxes).detect(np.zeros((120, 160, 3), np.uint8))
    assert out[:, 4].tolist() == pytest.approx([0.6, 0.95, 0.9, 0.99])  # areas 3600, 900, 900 (by score), 100
    assert sort_by_area(np.zeros((0, 5))).shape == (0, 5)
    # boxes found on the downscaled copy come back in the image's pixels, clipped to it
    # (detected at 240 x 320: twice smaller); a box wholly outside the image is dropped
    found = [[10, 10, 20, 30, 0.9], [-5, 200, 50, 260, 0.8], [0, 250, 10, 260, 0.7]]
    big = _Fixed(found, max_side=320).detect(np.zeros((480, 640, 3), np.uint8))
    np.testing.assert_allclose(big, [[0, 400, 100, 480, 0.8], [20, 20, 40, 60, 0.9]])


# --------------------------------------------------------------------------- OpenCV
def test_haar_finds_the_astronaut(haar):
    boxes = haar.detect(astronaut())
    assert len(boxes) == 1
    x1, y1, x2, y2, score = boxes[0]
    assert np.linalg.norm(_centre(boxes[0]) - FACE_CENTRE) < 25
    assert 60 < x2 - x1 < 160 and 0.5 < score <= 1


def test_haar_finds_two_astronauts(haar):
    image = astronaut()
    pair = np.concatenate([image, image[:, ::-1]], axis=1)  # 512 x 1024: detected at 320 x 640
    boxes = haar.detect(pair)
    assert len(boxes) == 2
    centres = sorted(_centre(b)[0] for b in boxes)
    assert abs(centres[0] - FACE_CENTRE[0]) < 25 and abs(centres[1] - (1024 - FACE_CENTRE[0])) < 25


def test_haar_on_a_blank_image(haar):
    assert haar.detect(np.full((200, 300, 3), 127, np.uint8)).shape == (0, 5)


# --------------------------------------------------------------------------- choosing
def test_auto_falls_back_to_opencv_with_one_notice(empty_home, capsys):
    notices = []
    detector = build_face_detector("auto", notice=notices.append)
    assert isinstance(detector, OpenCVHaar)
    assert len(notices) == 1 and "\n" not in notices[0]
    assert "S3FD weights not found" in notices[0] and "ppfom weights download s3fd_paddle" in notices[0]
    assert not (empty_home / "weights" / "s3fd_paddle.pdparams").exists()  # no download in auto mode
    # the default notice is one line on stderr
    build_face_detector("auto")
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("face detector: ")
    assert isinstance(build_face_detector("opencv", notice=notices.append), OpenCVHaar) and len(notices) == 1


def test_explicit_s3fd_without_weights_offline(empty_home, monkeypatch):
    monkeypatch.setenv("PPFOM_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable, match=r"s3fd_paddle\.pdparams"):
        build_face_detector("s3fd", notice=pytest.fail)


def test_unknown_detector_name():
    with pytest.raises(ConfigError, match="auto, s3fd, opencv"):
        build_face_detector("yolo")


def test_bad_images(haar):
    with pytest.raises(ValueError, match="uint8"):
        haar.detect(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        haar.detect(np.zeros((10, 10, 2), np.uint8))
    assert haar.detect(np.zeros((40, 40), np.uint8)).shape == (0, 5)  # grey is accepted
