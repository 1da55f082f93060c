"""``ppfom train`` = ``tools/main.py``: train, resume, evaluate (PaddleGAN's flags).

    python tools/main.py --config-file configs/firstorder_vox_256.yaml [-o key=value ...]
    python tools/main.py --config-file ... --resume output_dir/RUN/checkpoints/latest.pdparams
    python tools/main.py --config-file ... --load vox-cpk.pdparams --evaluate-only
    python -m paddle.distributed.launch --nproc_per_node 2 tools/main.py --config-file ...
"""
HELP = "train or evaluate a FOMM from a config"


def add_arguments(parser):
    add = parser.add_argument
    add("--config-file", "--config", dest="config", required=True, help="YAML path or config name in configs/")
    add("-o", "--opt", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key (repeatable)")
    add("--resume", help="a training checkpoint: weights, optimizers, schedulers, step and position in the epoch")
    add("--load", help="weights only (.pdparams, original .pth.tar or weight-store name)")
    add("--evaluate-only", action="store_true", help="run the reconstruction evaluation on the test split")
    add("--output-dir", help="where runs go (default: the config's output_dir)")
    add("--seed", type=int, default=0, help="seed of data order, augmentation and random transforms")
    add("--max-steps", type=int, help="stop after this many steps in total (then save a checkpoint)")
    add("--checkpoint-steps", type=int, help="also save a checkpoint every N steps (for exact resume)")
    add("--log-interval", type=int, help="log losses every N steps (default: the config's log_config.interval)")
    add("--num-workers", type=int, help="data loading processes (default: the config's)")
    add("--max-videos", type=int, help="evaluate at most this many test videos")
    add("--keypoint-extractor", help="module:function for AKD (see ppfom.training.evaluate)")
    add("--identity-extractor", help="module:function for AED (see ppfom.training.evaluate)")
    add("--quiet", action="store_true", help="no progress bars")


def run(args):
    import json
    from pathlib import Path

    from ..config import find_config, load_config
    from ..training.trainer import Trainer

    path = find_config(args.config)
    cfg = load_config(path, args.overrides)
    trainer = Trainer(cfg, output_dir=args.output_dir, seed=args.seed, resume=args.resume, load=args.load,
                      log_interval=args.log_interval, checkpoint_steps=args.checkpoint_steps,
                      num_workers=args.num_workers, progress=not args.quiet, config_name=Path(path).stem)
    if args.evaluate_only:
        summary = trainer.evaluate(max_videos=args.max_videos, keypoint_extractor=args.keypoint_extractor,
                                   identity_extractor=args.identity_extractor)
        if trainer.is_main:
            print(json.dumps(summary))
            print(f"reconstruction L1 {summary['l1']:.4f} (no-motion baseline {summary['baseline_l1']:.4f}) "
                  f"over {summary['videos']} test videos; details in {trainer.run_dir / 'evaluation'}")
        return 0
    run_dir = trainer.train(max_steps=args.max_steps)
    if trainer.is_main:
        print(f"trained to step {trainer.step} (epoch {trainer.epoch}); run folder {run_dir}")
    return 0
