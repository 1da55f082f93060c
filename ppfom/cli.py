"""The ``ppfom`` console command and the error handling every entry point shares."""
import argparse
import importlib
import os
import sys
import warnings

from .errors import PpfomError, WeightsUnavailable


def quiet_paddle():
    """Keep Paddle's import-time chatter (glog info lines, build warnings) off the terminal,
    so that what a command prints, an error included, is ours. PPFOM_DEBUG=1 keeps it."""
    if os.environ.get("PPFOM_DEBUG"):
        return
    os.environ.setdefault("GLOG_minloglevel", "2")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"paddle(\.|$)")


def run_main(main, argv=None):
    """Run ``main(argv)`` so that user errors print one line and exit non-zero.

    Exit codes: 2 for bad input (a :class:`PpfomError`), 3 when published weights are missing
    (:class:`WeightsUnavailable`), 1 for anything unexpected (one line too, with a hint to set
    ``PPFOM_DEBUG=1`` for the traceback).
    """
    quiet_paddle()
    try:
        code = main(argv)
    except WeightsUnavailable as e:  # its own exit code: scripts can tell "get the weights" apart
        print(f"error: {e}", file=sys.stderr)
        return 3
    except PpfomError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # the last line of defence: one line, not a traceback
        if os.environ.get("PPFOM_DEBUG"):
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"error: {type(e).__name__}: {msg} (set PPFOM_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    return int(code or 0)


def run_command_script(module_name, prog=None):
    """What a ``tools/*.py`` script does: run one subcommand's module as a program."""
    module = importlib.import_module(f"ppfom.commands.{module_name}")
    sys.exit(run_main(lambda argv: _run_module(module, argv, prog)))


def _run_module(module, argv, prog):
    parser = argparse.ArgumentParser(prog=prog, description=module.HELP)
    module.add_arguments(parser)
    return module.run(parser.parse_args(argv))


def build_parser():
    from .commands import COMMANDS

    parser = argparse.ArgumentParser(prog="ppfom", description="First Order Motion Model in PaddlePaddle")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, _module, help_text in COMMANDS:
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _main(argv):
    from .commands import COMMANDS

    argv = list(sys.argv[1:] if argv is None else argv)
    names = {name: module for name, module, _ in COMMANDS}
    if not argv or argv[0] not in names:
        parser = build_parser()
        if argv and argv[0] not in ("-h", "--help"):
            parser.error(f"unknown command {argv[0]!r}")
        parser.print_help()
        return 0 if argv else 2
    module = importlib.import_module(f"ppfom.commands.{names[argv[0]]}")
    return _run_module(module, argv[1:], f"ppfom {argv[0]}")


def main(argv=None):
    sys.exit(run_main(_main, argv))


if __name__ == "__main__":
    main()
