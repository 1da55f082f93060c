#!/usr/bin/env python
"""Run exported FOMM .nb models in Paddle Lite on this (x86) machine: the Python twin of the
C++ demo, and a check that the files phones get compute the right thing.

    python deploy/lite/run_lite.py --model_dir output_inference --source face.png \
        --driving driving.mp4 --output animated.mp4 [--relative] [--adapt_scale] [--batch_size 1]

The export folder comes from ``tools/export_model.py ... --lite x86``. Frames are read and
written one at a time, so memory does not grow with the video's length.
"""
import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ppfom.cli import run_main  # noqa: E402
from ppfom.errors import PpfomError  # noqa: E402


def load_image(path, size):
    import imageio.v2 as imageio
    import numpy as np
    from PIL import Image

    try:
        image = imageio.imread(path)
    except Exception as e:
        raise PpfomError(f"{path}: cannot read the image ({type(e).__name__})") from None
    return to_frame(image, size)


def to_frame(image, size):
    """Any image array (gray, RGB, RGBA, 8 or 16 bit) -> (3, size, size) float32 in [0, 1]."""
    import numpy as np
    from PIL import Image

    image = np.asarray(image)
    if image.dtype == np.uint16:
        image = (image / 257).astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    image = image[..., :3].astype(np.uint8)
    resized = Image.fromarray(image).resize((size, size), Image.BILINEAR)
    return np.asarray(resized, dtype=np.float32).transpose(2, 0, 1) / 255.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="export folder with x86 .nb files")
    parser.add_argument("--source", required=True, help="source image")
    parser.add_argument("--driving", required=True, help="driving video (mp4, gif, ...)")
    parser.add_argument("--output", required=True, help="output video (.mp4 or .gif)")
    parser.add_argument("--relative", action="store_true", help="relative motion (recommended)")
    parser.add_argument("--adapt_scale", action="store_true", help="adapt the movement scale to the face size")
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)

    import imageio.v2 as imageio
    import numpy as np
    from tqdm import tqdm

    from ppfom.infer import LiteEngine

    output = Path(args.output)
    if output.exists() and not args.overwrite:
        raise PpfomError(f"{output} exists; pass --overwrite to replace it")
    if not Path(args.driving).is_file():
        raise PpfomError(f"{args.driving}: no such file")
    engine = LiteEngine(args.model_dir)
    source = load_image(args.source, engine.size)
    try:
        reader = imageio.get_reader(args.driving)
        fps = reader.get_meta_data().get("fps", 25)
    except Exception as e:
        raise PpfomError(f"{args.driving}: cannot read the video ({type(e).__name__})") from None

    def driving_frames():
        for frame in reader:
            yield to_frame(frame, engine.size)

    tmp = output.with_name(f".{output.stem}.partial-{os.getpid()}{output.suffix}")
    count = 0
    try:
        with imageio.get_writer(tmp, fps=fps) as writer:
            frames = engine.animate(source[None], driving_frames(), relative=args.relative,
                                    adapt_scale=args.adapt_scale, batch_size=args.batch_size)
            for frame in tqdm(frames, desc="lite", unit="frame"):
                writer.append_data((np.clip(frame.transpose(1, 2, 0), 0, 1) * 255).round().astype(np.uint8))
                count += 1
        if count == 0:
            raise PpfomError(f"{args.driving}: the video has no frames")
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()
    print(f"wrote {output}: {count} frames at {fps:g} fps (Paddle Lite x86)")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
