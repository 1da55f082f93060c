"""The demo's stages one by one: crop, paste-back, colour match, smoothing, best frame, media."""
import subprocess

import numpy as np
import pytest

from ppfom.pipeline.media import MediaError, VideoReader, VideoWriter, as_rgb8, ffmpeg_exe, probe, read_image
from ppfom.pipeline.regions import FaceRegion, Paster, crop_square, cut, face_regions
from ppfom.pipeline.smooth import KeypointSmoother
from ppfom.pipeline.animate import best_frame_index

imageio = pytest.importorskip("imageio.v2")
pytest.importorskip("cv2")


def photo(h=200, w=300, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_crop_square_is_centred_and_widened_by_the_ratio():
    x0, y0, side = crop_square((100, 50, 140, 110), ratio=0.4)  # 40 x 60 face
    assert side == round(60 * 1.8)
    assert abs((x0 + side / 2) - 120) <= 1 and abs((y0 + side / 2) - 80) <= 1


def test_cut_replicates_edges_outside_the_photo():
    image = photo()
    region = FaceRegion((0, 0, 30, 30), (-20, -20, 60))
    crop = cut(image, region, 60)
    assert crop.shape == (60, 60, 3)
    np.testing.assert_array_equal(crop[20:, 20:], image[:40, :40])
    np.testing.assert_array_equal(crop[0, 25], image[0, 5])  # the top edge repeated


def test_paste_leaves_every_pixel_outside_the_regions_unchanged():
    image = photo()
    regions = face_regions([(40, 40, 80, 80), (200, 60, 240, 100)], ratio=0.4)
    paster = Paster(image, regions)
    faces = [np.full((64, 64, 3), 255, np.uint8), np.zeros((64, 64, 3), np.uint8)]
    out = paster.paste(faces, color_match=False)
    total = np.zeros(image.shape[:2], bool)
    wx0, wy0, wx1, wy1 = paster.window
    total[wy0:wy1, wx0:wx1] = sum(paster.weights) > 0
    np.testing.assert_array_equal(out[~total], image[~total])  # bit-identical
    assert (out[total] != image[total]).any()
    for region in regions:  # the face centres took the animated colour
        x1, y1, x2, y2 = region.box
        assert out[int((y1 + y2) / 2), int((x1 + x2) / 2)].tolist() in ([255, 255, 255], [0, 0, 0])


def test_touching_faces_do_not_overwrite_each_other():
    image = photo(seed=1)
    boxes = [(60, 60, 110, 110), (110, 60, 160, 110)]  # touching along x = 110
    regions = face_regions(boxes, ratio=0.4)
    white, black = np.full((64, 64, 3), 255, np.uint8), np.zeros((64, 64, 3), np.uint8)
    both = Paster(image, regions).paste([white, black], color_match=False)
    only_a = Paster(image, regions[:1]).paste([white], color_match=False)
    inside_a = (slice(62, 108), slice(62, 108))
    np.testing.assert_array_equal(both[inside_a], only_a[inside_a])
    assert (both[62:108, 112:158] == 0).all()  # B's inside is B's
    weights = Paster(image, regions).weights
    assert float((weights[0] + weights[1]).max()) <= 1.0 + 1e-6


def test_colour_match_pulls_a_brighter_face_back_on_the_seam():
    image = np.full((200, 200, 3), 100, np.uint8)
    regions = face_regions([(70, 70, 130, 130)], ratio=0.4)
    paster = Paster(image, regions)
    face = np.full((64, 64, 3), 160, np.uint8)
    plain = paster.paste([face], color_match=False)
    matched = paster.paste([face], color_match=True)
    assert abs(int(matched[100, 100, 0]) - 100) < abs(int(plain[100, 100, 0]) - 100)


def test_smoother_removes_jitter_and_follows_motion():
    rng = np.random.default_rng(0)
    frames = 200
    still = np.zeros((frames, 5, 2)) + 0.01 * rng.normal(size=(frames, 5, 2))
    smoothed = KeypointSmoother(fps=25)({"value": still})["value"]
    assert smoothed[20:].std() < 0.5 * still[20:].std()
    step = np.concatenate([np.zeros((50, 5, 2)), np.full((50, 5, 2), 0.5)])
    followed = KeypointSmoother(fps=25)({"value": step})["value"]
    assert abs(followed[-1] - 0.5).max() < 0.02


def test_best_frame_finds_the_pose_up_to_position_and_size():
    rng = np.random.default_rng(1)
    source = rng.uniform(-0.5, 0.5, (1, 10, 2))
    frames = [rng.uniform(-0.5, 0.5, (10, 2)) for _ in range(6)]
    frames[4] = source[0] * 0.7 + 0.1  # same pose, smaller and moved
    assert best_frame_index(source, frames) == 4


def test_as_rgb8_handles_gray_rgba_16bit_and_float():
    notes = []
    assert as_rgb8(np.full((4, 4), 7, np.uint8), "g", notes).shape == (4, 4, 3)
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 0  # fully transparent red
    assert as_rgb8(rgba, "a", notes)[0, 0].tolist() == [255, 255, 255]
    assert as_rgb8(np.full((4, 4, 3), 65535, np.uint16), "d", notes)[0, 0].tolist() == [255, 255, 255]
    assert as_rgb8(np.full((4, 4, 3), 0.5), "f", notes)[0, 0].tolist() == [128, 128, 128]
    assert len(notes) == 3  # one line per converted image


def test_read_image_errors(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        read_image(tmp_path / "none.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(MediaError, match="cannot be read"):
        read_image(tmp_path / "bad.png")
    imageio.imwrite(tmp_path / "tiny.png", np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(MediaError, match="too small"):
        read_image(tmp_path / "tiny.png")


def _video(path, frames=5, audio=False, size=32):
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
               f"testsrc=size={size}x{size}:rate=10:duration={frames / 10}"]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=duration={frames / 10}", "-c:a", "aac", "-shortest"]
    subprocess.run(command + ["-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def test_video_reader_reads_lazily_and_reports_audio(tmp_path):
    reader = VideoReader(_video(tmp_path / "a.mp4", frames=7, audio=True))
    assert reader.has_audio and reader.fps == pytest.approx(10)
    assert sum(1 for _ in reader) == 7
    assert not VideoReader(_video(tmp_path / "b.mp4")).has_audio


def test_video_reader_errors(tmp_path):
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(MediaError, match="corrupt.mp4"):
        list(VideoReader(tmp_path / "corrupt.mp4"))
    imageio.imwrite(tmp_path / "still.png", np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(MediaError):
        list(VideoReader(tmp_path / "missing.mp4"))


def test_video_writer_is_atomic_muxes_audio_and_keeps_existing_files(tmp_path):
    source = _video(tmp_path / "in.mp4", frames=10, audio=True)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, fps=10, audio_from=source) as writer:
        for _ in range(10):
            writer.write(np.zeros((32, 32, 3), np.uint8))
        assert not out.exists()  # nothing in place before finish
        writer.finish()
    info = probe(out)
    assert info["audio"] and info["fps"] == pytest.approx(10)
    with pytest.raises(MediaError, match="--overwrite"):
        VideoWriter(out, fps=10)
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "failed.mp4", fps=10) as writer:
            writer.write(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]


def test_gif_output(tmp_path):
    with VideoWriter(tmp_path / "o.gif", fps=5) as writer:
        for i in range(3):
            writer.write(np.full((32, 32, 3), i * 50, np.uint8))
        writer.finish()
    assert len(imageio.mimread(tmp_path / "o.gif")) == 3
