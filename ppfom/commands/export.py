"""``ppfom export`` / ``tools/export_model.py``: inference models and Paddle Lite files."""
HELP = "export the networks to Paddle inference models (and Paddle Lite .nb files)"


def add_arguments(parser):
    parser.add_argument("--config-file", "--config", dest="config", default=None,
                        help="YAML path or config name in configs/ (required unless --mobile_net)")
    parser.add_argument("--mobile_net", action="store_true",
                        help="the compressed mobile model: config firstorder_vox_mobile_256 and weights vox-mobile "
                             "unless given; a given config must be a mobile one")
    parser.add_argument("--load", "--weights", dest="weights", default=None,
                        help=".pdparams, original .pth.tar, or weight-store name (random weights if omitted: "
                             "only for trying the tool)")
    parser.add_argument("--export_model", "--output", dest="output", default="output_inference",
                        help="output folder (default: output_inference)")
    parser.add_argument("--inputs_size", default=None,
                        help='PaddleGAN\'s shapes, e.g. "1,3,256,256;1,3,256,256;1,10,2;1,10,2,2": '
                             "batch, image size and keypoint count (default: batch 1, the config's size)")
    parser.add_argument("--dynamic_batch", action="store_true", help="any batch size at run time")
    parser.add_argument("--lite", default="", help="also convert for Paddle Lite: x86, arm or x86,arm "
                                                    "(arm gives fp32 and fp16 files)")
    from ..export import LITE_WEIGHTS

    parser.add_argument("--lite_weights", default="fp32", choices=LITE_WEIGHTS,
                        help="how the .nb files store weights: int16 keeps them as int16 with a scale per channel, "
                             "turned back into floats when the model loads (files ~45%% smaller, frames change by "
                             "~0.02%% of the L1; the kernels stay fp32/fp16)")
    parser.add_argument("--models", default=",".join(("kp_detector", "generator", "source_encoder", "frame_decoder")),
                        help="which models to export (comma-separated)")
    parser.add_argument("-o", "--opt", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (repeatable)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing export folder")
    parser.add_argument("--int8", action="store_true",
                        help="also quantize the per-frame models to int8 (Paddle Inference CPU, and Lite for the "
                             "--lite targets), kept only if the reconstruction changes by at most --int8_max_change")
    parser.add_argument("--calibration", default=None, metavar="DIR_OR_VIDEO",
                        help="frames to calibrate and check int8 on: a video, a folder of frames, or a folder of "
                             "videos / frame folders (default: ppfom's built-in sample frames)")
    from ..quantize import ALGOS, DEFAULT_ALGO, MAX_CHANGE

    parser.add_argument("--int8_algo", default=DEFAULT_ALGO, choices=ALGOS,
                        help=f"activation calibration of Paddle's post-training quantization (default: {DEFAULT_ALGO})")
    parser.add_argument("--int8_max_change", type=float, default=MAX_CHANGE,
                        help="keep int8 only if mean|int8 - fp32| is at most this fraction of the fp32 model's L1 "
                             f"to the held-out frames (default: {MAX_CHANGE})")
    parser.add_argument("--int8_samples", type=int, default=None, metavar="N",
                        help="calibrate each model on at most N samples (default: all the calibration frames; "
                             "fewer is faster: the vox-256 generator takes ~4 s a sample on 2 cores)")


def run(args):
    from ..api import load_fomm
    from ..export import ExportError, export_models, paddle_can_export, parse_inputs_size

    ok, reason = paddle_can_export()  # before loading anything big
    if not ok:
        raise ExportError(reason)
    _check_int8_args(args)
    if args.config is None and not args.mobile_net:
        raise ExportError("--config-file is required (or --mobile_net for the published mobile model)")
    if args.mobile_net and args.config is None:
        args.config = "firstorder_vox_mobile_256"
        args.weights = args.weights or "vox-mobile"
    fomm = load_fomm(args.config, weights=args.weights, overrides=args.overrides)
    if args.mobile_net and not getattr(fomm.generator, "mobile_net", False):
        raise ExportError(f"--mobile_net: {args.config} is not a mobile config (model.generator.*.mobile_net: true)")
    batch, size = 1, None
    if args.inputs_size:
        batch, size, num_kp = parse_inputs_size(args.inputs_size)
        if num_kp != fomm.kp_detector.num_kp:
            raise ExportError(f"--inputs_size gives {num_kp} keypoints but the config has {fomm.kp_detector.num_kp}")
    lite = tuple(t.strip() for t in args.lite.split(",") if t.strip())
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    out = export_models(fomm, args.output, size=size, batch=None if args.dynamic_batch else batch,
                        models=models, lite=lite, overwrite=args.overwrite, lite_weights=args.lite_weights)
    files = sorted(p.name for p in out.iterdir() if p.suffix in (".pdmodel", ".nb"))
    print(f"wrote {out}: {', '.join(files)}")
    if args.int8:
        from ..quantize import format_report, quantize_export

        report = quantize_export(out, args.calibration, algo=args.int8_algo, max_change=args.int8_max_change,
                                 batch_nums=args.int8_samples, say=print)
        print(format_report(report))
    if not args.weights:
        print("note: random weights (no --load): for trying the tool, not for use")
    return 0


def _check_int8_args(args):
    """Bad int8 flags fail before the export's work."""
    from pathlib import Path

    from ..export import ExportError

    if args.calibration is not None and not args.int8:
        raise ExportError("--calibration is for --int8; add --int8")
    if args.int8 and args.calibration is not None and not Path(args.calibration).exists():
        raise ExportError(f"--calibration {args.calibration}: no such file or folder")
    if args.int8_samples is not None and args.int8_samples < 1:
        raise ExportError(f"--int8_samples {args.int8_samples}: at least 1")
    if args.int8 and not 0 <= args.int8_max_change < 1:
        raise ExportError(f"--int8_max_change {args.int8_max_change}: expected a fraction, e.g. 0.05")
    models = {m.strip() for m in args.models.split(",")}
    if args.int8 and not ("kp_detector" in models and ({"source_encoder", "frame_decoder"} <= models
                                                        or "generator" in models)):
        raise ExportError("--int8 measures the reconstruction: export kp_detector with source_encoder and "
                          "frame_decoder (or generator)")
