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
    parser.add_argument("--models", default=",".join(("kp_detector", "generator", "source_encoder", "frame_decoder")),
                        help="which models to export (comma-separated)")
    parser.add_argument("-o", "--opt", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (repeatable)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing export folder")


def run(args):
    from ..api import load_fomm
    from ..export import ExportError, export_models, paddle_can_export, parse_inputs_size

    ok, reason = paddle_can_export()  # before loading anything big
    if not ok:
        raise ExportError(reason)
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
                        models=models, lite=lite, overwrite=args.overwrite)
    files = sorted(p.name for p in out.iterdir() if p.suffix in (".pdmodel", ".nb"))
    print(f"wrote {out}: {', '.join(files)}")
    if not args.weights:
        print("note: random weights (no --load): for trying the tool, not for use")
    return 0
