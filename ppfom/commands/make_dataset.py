"""``ppfom make-dataset ROOT``: render synthetic talking-head videos in the dataset layout."""
from ..errors import PpfomError

NAME = "make-dataset"

HELP = ("render synthetic talking heads (faces of varied identity that turn, nod, blink and speak) "
        "into ROOT/train and ROOT/test, the layout FirstOrderDataset reads")


def add_arguments(parser):
    # Numbers are parsed in run() so that a bad value is one line, like every other error.
    parser.add_argument("root", metavar="ROOT", nargs="?", help="the dataset folder to create")
    parser.add_argument("--train", default="200", metavar="N", help="training identities (default 200)")
    parser.add_argument("--test", default="20", metavar="N", help="test identities, all different (default 20)")
    parser.add_argument("--size", default="64", metavar="PX", help="frame size in pixels, square and even (default 64)")
    parser.add_argument("--frames", default="32..64", metavar="N|LO..HI",
                        help="frames per clip, or a range drawn per clip (default 32..64)")
    parser.add_argument("--fps", default="25", help="frame rate written in mp4/gif files (default 25)")
    parser.add_argument("--format", default="png", metavar="png|mp4|gif",
                        help="png: a folder of frames per clip (default; lossless); mp4: near-lossless H.264; gif")
    parser.add_argument("--clips-per-identity", default="1", metavar="K",
                        help="clips of each person, named idNNNNN#KK (for id_sampling; default 1)")
    parser.add_argument("--seed", default="0", help="everything is a function of this seed (default 0)")
    parser.add_argument("--workers", default="0", metavar="N", help="rendering processes (default: the CPU count)")
    parser.add_argument("--overwrite", action="store_true", help="replace ROOT if it exists and is not empty")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _number(value, name, kind=int, minimum=None):
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise PpfomError(f"--{name} {value!r}: not a {'whole ' if kind is int else ''}number") from None
    if minimum is not None and number < minimum:
        raise PpfomError(f"--{name} {value}: at least {minimum}")
    return number


def run(args):
    import time

    from ..data.synthetic import FORMATS, make_dataset

    if not args.root:
        raise PpfomError("give the dataset folder to create: ppfom make-dataset ROOT")
    if args.format not in FORMATS:
        raise PpfomError(f"--format {args.format!r}: one of {', '.join(FORMATS)}")
    n_train = _number(args.train, "train", minimum=0)
    n_test = _number(args.test, "test", minimum=0)
    size = _number(args.size, "size", minimum=16)
    if size % 2:
        raise PpfomError(f"--size {size}: must be even")
    fps = _number(args.fps, "fps", float)
    if not fps > 0:
        raise PpfomError(f"--fps {args.fps}: must be positive")
    clips = _number(args.clips_per_identity, "clips-per-identity", minimum=1)
    seed = _number(args.seed, "seed", minimum=0)
    workers = _number(args.workers, "workers", minimum=0)
    start = time.time()
    root = make_dataset(args.root, n_train, n_test, size=size, frames=args.frames, fps=fps, fmt=args.format,
                        seed=seed, progress=not args.quiet, clips_per_identity=clips, workers=workers or None,
                        overwrite=args.overwrite)
    print(f"wrote {root}: {n_train * clips} train and {n_test * clips} test clips ({args.format}, {size}x{size}, "
          f"{args.frames} frames) in {time.time() - start:.1f} s")
    return 0
