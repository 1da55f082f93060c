"""Subcommands of the ``ppfom`` console command, one module each.

Each module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their command runs, so ``ppfom --help`` stays fast.
"""

# (command name, module under ppfom.commands, one-line help)
COMMANDS = [
    ("animate", "animate", "animate the faces of a photo with a driving video"),
    ("weights", "weights", "list, download or import published weights"),
    ("convert", "convert", "convert an original .pth.tar checkpoint to PaddleGAN's .pdparams layout"),
    ("check", "check", "load a config and weights strictly and run one frame"),
    ("train", "train", "train or evaluate a FOMM from a config (= tools/main.py)"),
    ("export", "export", "export to Paddle inference models and Paddle Lite .nb files"),
    ("core-demo", "core_demo", "animate the shared reference sample with the core networks"),
    ("make-dataset", "make_dataset", "render synthetic talking-head videos in the dataset layout"),
    ("prune", "prune", "prune channels of a mobile FOMM by measured importance and rewrite its config"),
]
