"""``ppfom check``: load a config and weights, report what was built, and run one frame.

The quickest answer to "does this checkpoint fit this config?": every missing, unexpected
or mis-shaped weight is named, and a forward pass on a random frame proves the model runs.
"""
HELP = "load a config and weights strictly, print a summary and run one random frame"


def add_arguments(parser):
    parser.add_argument("--config", "--config-file", dest="config", required=True,
                        help="YAML path or config name in configs/ (PaddleGAN or original layout)")
    parser.add_argument("--weights", help=".pdparams, original .pth.tar, or a weight-store name; omit for random weights")
    parser.add_argument("-o", "--opt", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. -o model.numerics.align_corners=false (repeatable)")
    parser.add_argument("--size", type=int, default=None, help="frame size for the test run (default: the config's)")


def run(args):
    import numpy as np
    import paddle

    from ..api import load_fomm
    from ..config import frame_size
    from ..flops import trainable_params
    from ..kp_norm import normalize_kp

    fomm = load_fomm(args.config, weights=args.weights, overrides=args.overrides)
    size = args.size or frame_size(fomm.config)
    rng = np.random.default_rng(0)
    frames = paddle.to_tensor(rng.uniform(0, 1, (2, 3, size, size)).astype("float32"))
    with paddle.no_grad():
        kp = fomm.kp_detector(frames)
        first = {k: v[0:1] for k, v in kp.items()}
        second = {k: v[1:2] for k, v in kp.items()}
        moved = normalize_kp(first, second, first, use_relative_movement=True, use_relative_jacobian=True)
        prediction = fomm.generator(frames[0:1], kp_source=first, kp_driving=moved)["prediction"]
    finite = bool(np.isfinite(prediction.numpy()).all())
    print(f"weights: {fomm.weights or 'random (none given)'}" + (f" [{fomm.weights_origin}]" if fomm.weights else ""))
    # Trainable only: Paddle keeps BatchNorm statistics as (frozen) parameters, torch does not.
    print(f"keypoint detector: {trainable_params(fomm.kp_detector):,} parameters, {fomm.kp_detector.num_kp} keypoints")
    print(f"generator: {trainable_params(fomm.generator):,} parameters")
    n = fomm.numerics
    print(f"numerics: align_corners={n.align_corners}, antialias={n.antialias}, border_fix={n.border_fix}")
    print(f"one {size}x{size} frame: prediction {list(prediction.shape)}, finite={finite}")
    return 0 if finite else 1

