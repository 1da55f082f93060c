"""``ppfom weights``: list, download, import or locate the published weight files."""
import sys

NAME = "weights"
HELP = "list, download or import published weights (cache: $PPFOM_HOME/weights, default ~/.cache/ppfom)"


def add_arguments(parser):
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    sub.add_parser("list", help="show every known weights file and whether it is in the cache")

    p = sub.add_parser("download", help="download weights into the cache (verified before use)")
    p.add_argument("names", nargs="*", metavar="NAME", help="entries to download (see `ppfom weights list`)")
    p.add_argument("--all", action="store_true", help="download every entry that has a URL")
    p.add_argument("--force", action="store_true", help="download again even when the file is cached")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("import", help="copy a file you downloaded yourself into the cache, verified first")
    p.add_argument("path", metavar="PATH", help="the .pdparams file")
    p.add_argument("--name", help="the entry it is (guessed from the file name when left out)")
    p.add_argument("--overwrite", action="store_true", help="replace a different file already cached")

    p = sub.add_parser("path", help="print where an entry's file lives (whether or not it is there)")
    p.add_argument("name", metavar="NAME")


def _size(n):
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0


def _list(weights):
    rows = [("NAME", "FILE", "CACHED", "SIZE", "DESCRIPTION")]
    for name, filename, present, size, description in weights.describe_entries():
        rows.append((name, filename, "present" if present else "absent", _size(size), description))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    print(f"cache: {weights.weights_dir()}")
    return 0


def run(args):
    from .. import weights
    from ..errors import PpfomError

    if args.action == "list":
        return _list(weights)
    if args.action == "path":
        print(weights.weights_path(weights.get_entry(args.name).name))
        return 0
    if args.action == "import":
        dest = weights.import_weights(args.path, name=args.name, overwrite=args.overwrite)
        print(dest)
        return 0
    if args.action == "download":
        if args.all and args.names:
            raise weights.WeightsError("give entry names or --all, not both")
        if args.all:
            names = [n for n, e in weights.ENTRIES.items() if e.urls() or e.bundled]
        elif args.names:
            names = [weights.get_entry(n).name for n in args.names]
        else:
            raise weights.WeightsError(f"name the weights to download, or --all (known: {', '.join(weights.ENTRIES)})")
        failures = []
        for name in names:
            try:
                path = weights.download_weights(name, force=args.force, progress=not args.no_progress)
            except PpfomError as e:
                failures.append(e)
                continue
            print(f"{name}: {path}")
        for e in failures[:-1]:  # one line each; the last one goes through run_main
            print(f"error: {e}", file=sys.stderr)
        if failures:
            raise failures[-1]
        return 0
    raise weights.WeightsError(f"unknown action {args.action!r}")
