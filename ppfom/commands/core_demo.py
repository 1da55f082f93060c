"""``ppfom core-demo``: animate the shared reference sample with the core networks.

Loads the original PyTorch FOMM's checkpoint from ``shared/fixtures`` (read without torch),
animates its source image with its driving frames exactly as the original's demo.py does
(relative motion, relative jacobian, adapt_movement_scale), and writes a side-by-side
picture and a GIF: source | driving | ppfom | the original's output. It also prints how far
ppfom is from the original, frame by frame.
"""
import os
from pathlib import Path

import numpy as np

from ..errors import PpfomError

HELP = "animate the shared reference sample (original FOMM checkpoint) and compare with the original"


def default_fixtures():
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "fixtures"


def add_arguments(parser):
    parser.add_argument("--fixtures", default=str(default_fixtures()), help="folder with fomm_small.npz and the .pth.tar files")
    parser.add_argument("--checkpoint", default="fomm_small_legacy.pth.tar", help="file in the fixtures folder")
    parser.add_argument("--output", default="output/core_demo", help="output path prefix (.png and .gif are added)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def _to_uint8(chw):
    return (np.clip(np.transpose(chw, (1, 2, 0)), 0, 1) * 255).round().astype(np.uint8)


def _write_atomic(path, write):
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def run(args):
    import yaml

    fixtures = Path(args.fixtures)
    npz_path = fixtures / "fomm_small.npz"
    ckpt_path = fixtures / args.checkpoint
    for p in (npz_path, ckpt_path):
        if not p.is_file():
            raise PpfomError(f"{p}: not found; the core demo needs the shared reference fixtures (see README)")
    out_png, out_gif = Path(args.output + ".png"), Path(args.output + ".gif")
    for p in (out_png, out_gif):
        if p.exists() and not args.overwrite:
            raise PpfomError(f"{p} exists; pass --overwrite to replace it")
    try:
        import imageio.v2 as imageio
    except ImportError as e:
        raise PpfomError("the core demo writes images with imageio: pip install imageio") from e

    import paddle

    from ..api import load_fomm
    from ..kp_norm import normalize_kp

    ref = np.load(npz_path)
    fomm = load_fomm(yaml.safe_load(str(ref["config_yaml"])), weights=str(ckpt_path))
    source = paddle.to_tensor(ref["input/source"])
    driving = ref["input/driving"]
    rows, errors = [], []
    with paddle.no_grad():
        kp_source = fomm.kp_detector(source)
        kp_driving = fomm.kp_detector(paddle.to_tensor(driving))
        kp_initial = {k: v[0:1] for k, v in kp_driving.items()}
        for i in range(driving.shape[0]):
            kp_frame = {k: v[i:i + 1] for k, v in kp_driving.items()}
            kp_norm = normalize_kp(kp_source, kp_frame, kp_initial, adapt_movement_scale=True,
                                   use_relative_movement=True, use_relative_jacobian=True)
            prediction = fomm.generator(source, kp_source=kp_source, kp_driving=kp_norm)["prediction"].numpy()[0]
            original = ref["out/prediction"][i]
            errors.append(float(np.abs(prediction - original).max()))
            rows.append(np.concatenate([_to_uint8(ref["input/source"][0]), _to_uint8(driving[i]),
                                        _to_uint8(prediction), _to_uint8(original)], axis=1))
    out_png.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(out_png, lambda p: imageio.imwrite(p, np.concatenate(rows, axis=0), format="PNG"))
    _write_atomic(out_gif, lambda p: imageio.mimsave(p, rows, format="GIF", duration=0.4, loop=0))
    print(f"checkpoint {ckpt_path.name} (align_corners={fomm.numerics.align_corners}), {len(rows)} frames")
    print("columns: source | driving | ppfom | original PyTorch FOMM")
    print("max abs difference to the original per frame: " + ", ".join(f"{e:.1e}" for e in errors))
    print(f"wrote {out_png} and {out_gif}")
    return 0
