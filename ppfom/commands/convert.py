"""``ppfom convert SRC DST``: an original .pth.tar checkpoint -> PaddleGAN's .pdparams layout."""
from ..errors import CheckpointError

NAME = "convert"
HELP = "convert an original FOMM .pth.tar checkpoint (read without torch) to PaddleGAN's .pdparams layout"


def add_arguments(parser):
    parser.add_argument("src", metavar="SRC", help="original checkpoint (.pth.tar, either torch format) or .pdparams")
    parser.add_argument("dst", metavar="DST", help="the .pdparams file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace DST if it exists")


def summary(layout):
    from ..checkpoint.convert import count_tensors

    return ", ".join(f"{section} {n} tensors" for section, n in count_tensors(layout).items())


def run(args):
    import os

    from ..checkpoint.convert import REQUIRED_SECTIONS, read_weights, save_pdparams

    if os.path.exists(args.dst) and not args.overwrite and not os.path.isdir(args.dst):
        # Fail before reading a large source.
        raise CheckpointError(f"{args.dst}: already exists (pass --overwrite to replace it)")
    layout, origin = read_weights(args.src)
    missing = [s for s in REQUIRED_SECTIONS if not isinstance(layout.get(s), dict)]
    if missing:
        raise CheckpointError(
            f"{args.src}: not in PaddleGAN's layout (no {' or '.join(repr(m) for m in missing)}); "
            f"its top-level keys start with: {', '.join(str(k) for k in list(layout)[:6]) or 'none'}"
        )
    save_pdparams(layout, args.dst, overwrite=args.overwrite)
    print(f"wrote {args.dst} from {origin} weights {args.src}: {summary(layout)}")
    return 0
