"""The reconstruction protocol of the FOMM paper, on a dataset's test split.

For each test video the first frame is the source and every frame is driven by itself
(absolute keypoints, as the original's reconstruction.py). Reported, averaged over videos:

- ``l1``: mean absolute error between generated and real frames, pixel values in [0, 1];
- ``baseline_l1``: the same for "no motion" (the source frame copied to every frame) — the
  number a model must beat;
- ``akd`` / ``aed`` when extractors are given: average keypoint distance and average
  Euclidean distance of identity embeddings between generated and real frames. Pass
  ``keypoint_extractor(frames uint8 (N,H,W,3)) -> (N, P, 2)`` and
  ``identity_extractor(frames) -> (N, D)``, or ``module:function`` strings naming them (the
  paper uses a face-alignment network and an identity network, which we do not ship).

Side-by-side videos (source | driving | result, keypoints drawn on the result) are written
for the first ``videos_out`` test videos.
"""
import importlib
import json
import os
from pathlib import Path

import numpy as np


def _resolve(hook):
    if hook is None or callable(hook):
        return hook
    module, _, name = str(hook).partition(":")
    return getattr(importlib.import_module(module), name)


def _draw_keypoints(frame, values):
    import cv2

    out = frame.copy()
    h, w = out.shape[:2]
    for x, y in values:
        cv2.circle(out, (int((x + 1) / 2 * (w - 1)), int((y + 1) / 2 * (h - 1))), max(1, w // 64), (255, 64, 64), -1)
    return out


def evaluate_reconstruction(kp_detector, generator, dataset, out_dir, max_videos=None, videos_out=3,
                            keypoint_extractor=None, identity_extractor=None, progress=True, batch_size=8):
    import paddle
    from tqdm import tqdm

    from ..pipeline.media import VideoWriter

    keypoint_extractor, identity_extractor = _resolve(keypoint_extractor), _resolve(identity_extractor)
    kp_detector.eval()
    generator.eval()
    out_dir = Path(out_dir)
    count = dataset.num_test_videos() if hasattr(dataset, "num_test_videos") else len(dataset.videos)
    count = min(count, max_videos or count)
    if count == 0:
        from ..errors import PpfomError

        raise PpfomError("the test split has no video to evaluate")
    per_video = []
    for index in tqdm(range(count), desc="evaluate", unit="video", disable=not progress):
        name, frames = dataset.test_video(index)
        frames = np.asarray(frames)
        real = frames.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        generated = []
        with paddle.no_grad():
            source = paddle.to_tensor(real[:1])
            kp_source = kp_detector(source)
            cache = generator.encode(source)
            for start in range(0, len(real), batch_size):
                chunk = paddle.to_tensor(real[start:start + batch_size])
                n = chunk.shape[0]
                kp_driving = kp_detector(chunk)
                tile = lambda t: paddle.tile(t, [n] + [1] * (len(t.shape) - 1))  # noqa: E731
                out = generator(tile(source), kp_driving=kp_driving, kp_source={k: tile(v) for k, v in kp_source.items()},
                                source_cache={k: tile(v) for k, v in cache.items()}, full_outputs=False)
                generated.append((out["prediction"].numpy(), kp_driving["value"].numpy()))
        prediction = np.concatenate([g[0] for g in generated])
        driving_kp = np.concatenate([g[1] for g in generated])
        record = {"video": name, "frames": len(real), "l1": float(np.abs(prediction - real).mean()),
                  "baseline_l1": float(np.abs(real[:1] - real).mean())}
        result_uint8 = (np.clip(prediction.transpose(0, 2, 3, 1), 0, 1) * 255).round().astype(np.uint8)
        if keypoint_extractor is not None:
            record["akd"] = float(np.linalg.norm(keypoint_extractor(result_uint8) - keypoint_extractor(frames), axis=-1).mean())
        if identity_extractor is not None:
            record["aed"] = float(np.linalg.norm(identity_extractor(result_uint8) - identity_extractor(frames), axis=-1).mean())
        per_video.append(record)
        if index < videos_out:
            out_dir.mkdir(parents=True, exist_ok=True)
            with VideoWriter(out_dir / f"{Path(str(name)).stem}_side_by_side.mp4", fps=10, overwrite=True) as writer:
                for t in range(len(frames)):
                    writer.write(np.concatenate([frames[0], frames[t], _draw_keypoints(result_uint8[t], driving_kp[t])],
                                                axis=1))
                writer.finish()
    summary = {key: float(np.mean([r[key] for r in per_video])) for key in per_video[0] if key not in ("video", "frames")}
    summary["videos"] = len(per_video)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".metrics.json.partial-{os.getpid()}"
    tmp.write_text(json.dumps({"summary": summary, "videos": per_video}, indent=1))
    os.replace(tmp, out_dir / "metrics.json")
    return summary
