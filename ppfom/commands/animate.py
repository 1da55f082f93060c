"""``ppfom animate`` = ``tools/first-order-demo.py``: animate the faces of a photo.

With no arguments it animates the built-in sample (a group photo and a driving video made
by ppfom itself) with the small model ppfom trains and ships, with relative motion, adapted
scale and every face: offline, nothing to download.
"""
HELP = "animate the faces of a photo with a driving video (no arguments: the built-in sample)"


def add_arguments(parser):
    add = parser.add_argument
    add("--source_image", help="the photo to animate (no arguments at all: the built-in sample)")
    add("--driving_video", help="the video whose motion drives the faces")
    add("--output", default="output", help="output folder, or a file ending in .mp4 or .gif (default: output)")
    add("--filename", default="result.mp4", help="file name inside --output (default: result.mp4; .gif for a GIF)")
    add("--config", help="model config (default: the published vox model for --image_size)")
    add("--weight_path", help="weights: .pdparams, original .pth.tar or weight-store name (default: vox-cpk)")
    add("--relative", action="store_true", help="relative motion: move the photo's face as the driving face moves")
    add("--adapt_scale", action="store_true", help="scale the motion to the photo's face size")
    add("--ratio", type=float, default=0.4, help="margin around each face in the crop (default 0.4)")
    add("--image_size", type=int, default=None, choices=(64, 128, 256, 512),
        help="model resolution (default: the model's own; the published vox models: 256 or 512)")
    add("--multi_person", action="store_true", help="animate every face (default: the largest)")
    add("--face_enhancement", action="store_true", help="enhance each animated face with GPEN-512")
    add("--mobile_net", action="store_true", help="use the compressed mobile model")
    add("--batch_size", type=int, default=1, help="driving frames per model call")
    add("--find_best_frame", action="store_true",
        help="take as motion reference the driving frame whose pose best matches the photo")
    add("--best_frame", type=int, default=None, help="take this driving frame as motion reference")
    add("--cpu", action="store_true", help="run on the CPU (the default unless --device gpu)")
    add("--device", default="cpu", choices=("cpu", "gpu"))
    add("--audio", dest="audio", action="store_true", default=True, help="keep the driving video's sound (default)")
    add("--no-audio", dest="audio", action="store_false", help="drop the sound")
    add("--smooth", action="store_true", help="smooth keypoints over time against jitter")
    add("--detector", default="auto", choices=("auto", "s3fd", "opencv"),
        help="face detector (auto: S3FD when its weights are present, else OpenCV)")
    add("--engine", default="auto", choices=("auto", "inference", "lite", "dygraph"),
        help="how the networks run (auto: Paddle Inference when this paddle can export, else dygraph)")
    add("--precision", default="fp32", choices=("fp32", "bf16", "fp16"), help="engine precision")
    add("--border_fix", dest="border_fix", action="store_true", default=None,
        help="PaddleGAN's edge fix (default: on for PaddleGAN weights)")
    add("--no-border_fix", dest="border_fix", action="store_false")
    add("--overwrite", action="store_true", help="replace an existing output file")
    add("-o", "--opt", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key (repeatable)")
    add("--quiet", action="store_true", help="no progress bar")


def run(args):
    from ..errors import PpfomError
    from ..pipeline.animate import AnimateOptions, animate_photo

    options = {k: v for k, v in vars(args).items() if k not in ("cpu", "quiet")}
    if args.cpu:
        options["device"] = "cpu"
    if args.source_image is None and args.driving_video is None:
        from ..data.sample import ensure_sample
        from ..pipeline.animate import SHIPPED_MOBILE_MODEL, SHIPPED_MODEL

        # The built-in sample with the model ppfom ships: works offline, nothing to download.
        sample = ensure_sample(kind="synthetic")
        shipped = SHIPPED_MOBILE_MODEL if args.mobile_net else SHIPPED_MODEL
        options.update(source_image=str(sample["source"]), driving_video=str(sample["driving"]),
                       relative=True, adapt_scale=True, multi_person=True,
                       config=args.config or shipped[0], weight_path=args.weight_path or shipped[1])
        if args.output == "output" and args.filename == "result.mp4":
            options["filename"] = "sample.mp4"
        print(f"built-in sample: {sample['source']} driven by {sample['driving']}, "
              f"model {options['weight_path']}")
    elif args.source_image is None or args.driving_video is None:
        raise PpfomError("give both --source_image and --driving_video (or neither, for the built-in sample)")
    summary = animate_photo(AnimateOptions(**options), progress=not args.quiet)
    print(f"wrote {summary['output']}: {summary['frames']} frames at {summary['fps']:g} fps, "
          f"{summary['faces']} face(s), engine {summary['engine']}, "
          f"{'with' if summary['audio'] else 'no'} audio, {summary['seconds']:.1f} s")
    return 0
