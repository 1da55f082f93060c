"""Training steps per second on this CPU, in dygraph (run by hand).

    .venv310/bin/python benchmarks/bench_train.py [--steps 5] [--threads N] [--cases tiny,vox] [--gan]

One step is what ``Trainer._train_step`` does in training: GeneratorFullModel forward (keypoints
of source, driving and the equivariance-warped frame, generator, pyramid, perceptual and
equivariance losses), backward, the generator's and the keypoint detector's Adam steps, and the
discriminator's forward, backward and step when ``generator_gan`` != 0. The networks and
optimizers are built by ``ppfom.training.trainer.Trainer`` exactly as ``tools/main.py`` builds
them (its run folder goes to a temporary directory). Data loading and augmentation are left out:
each step gets the same random source/driving batch. Random initial weights (speed does not
depend on them). One warm-up step, then the median of ``--steps`` timed steps.

Cases:
  tiny  configs/firstorder_synthetic_64.yaml, 64x64, batch 1 and 4, perceptual_loss pyramid_l1
  vox   configs/firstorder_vox_256.yaml, 256x256, batch 1, perceptual_loss pyramid_l1 and vgg19

vgg19 uses PaddleGAN's ImageNet vgg19.pdparams when the weight store has it (never downloaded
here). Otherwise it runs on randomly initialised VGG19 weights, for timing only (the table says
"vgg19 (random)"): the same convolutions run whatever the weights hold. ``--gan`` adds, for
every case, a row with ``generator_gan: 1`` (discriminator trained, feature matching on).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per case, after 1 warm-up (default 5)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (default: all cores)")
    parser.add_argument("--cases", default="tiny,vox", help="comma-separated: tiny, vox (default both)")
    parser.add_argument("--gan", action="store_true", help="also time each case with generator_gan=1")
    return parser.parse_args()


def vgg19_features():
    """(VGG19Features, True) with the store's ImageNet weights, or (random VGG19Features, False)."""
    from ppfom import weights as store
    from ppfom.errors import WeightsUnavailable
    from ppfom.training.losses import VGG19Features

    try:
        path = store.get_weights("vgg19", download=False, progress=False)
    except WeightsUnavailable:
        return VGG19Features(), False
    return VGG19Features.pretrained(path, download=False), True


def build_trainer(config, size, perceptual, gan, run_root):
    """A Trainer for ``config`` with the perceptual loss and GAN weight asked for; returns
    (trainer, perceptual label)."""
    from ppfom.config import find_config, load_config
    from ppfom.training.full_model import GeneratorFullModel
    from ppfom.training.losses import VGG19PerceptualLoss
    from ppfom.training.trainer import Trainer

    # vgg19 is put in below, from the store only: the trainer itself would try to download it
    overrides = ["model.train_params.perceptual_loss=pyramid_l1"]
    if gan:
        overrides.append("model.train_params.loss_weights.generator_gan=1")
    cfg = load_config(find_config(config), overrides)
    trainer = Trainer(cfg, output_dir=run_root, seed=0, progress=False, config_name=config)
    label = "pyramid_l1"
    if perceptual == "vgg19":
        features, pretrained = vgg19_features()
        params = dict(trainer.train_params, perceptual_loss="vgg19")
        trainer.train_params = params
        trainer.generator_full = GeneratorFullModel(trainer.kp_detector, trainer.generator, trainer.discriminator,
                                                    params, perceptual=VGG19PerceptualLoss(features=features))
        label = "vgg19" if pretrained else "vgg19 (random)"
    return trainer, label


def time_case(config, size, batch, perceptual, gan, steps, run_root):
    import numpy as np
    import paddle

    trainer, label = build_trainer(config, size, perceptual, gan, run_root)
    rng = np.random.default_rng(0)
    batch_data = {k: rng.uniform(0, 1, (batch, 3, size, size)).astype("float32") for k in ("source", "driving")}
    weights = trainer.train_params.get("loss_weights") or {}
    times = []
    for step in range(steps + 1):
        paddle.seed(step)  # as Trainer.train: this step's random transforms
        start = time.perf_counter()
        trainer._train_step(batch_data, weights)
        if step > 0:  # step 0 is the warm-up
            times.append(time.perf_counter() - start)
    return label, trainer.use_gan, statistics.median(times)


def main():
    args = parse_args()
    threads = max(1, args.threads)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)  # before paddle is imported

    import warnings

    import paddle

    warnings.filterwarnings("ignore", message="When training, we now always track global mean and variance")
    paddle.set_device("cpu")
    try:
        paddle.base.core.set_num_threads(threads)
    except AttributeError:
        pass

    plan = []
    cases = {c.strip() for c in args.cases.split(",") if c.strip()}
    unknown = cases - {"tiny", "vox"}
    if unknown:
        sys.exit(f"--cases: unknown {', '.join(sorted(unknown))} (cases: tiny, vox)")
    if "tiny" in cases:
        plan += [("firstorder_synthetic_64", 64, 1, "pyramid_l1"), ("firstorder_synthetic_64", 64, 4, "pyramid_l1")]
    if "vox" in cases:
        plan += [("firstorder_vox_256", 256, 1, "pyramid_l1"), ("firstorder_vox_256", 256, 1, "vgg19")]
    gan_settings = [False, True] if args.gan else [False]

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_train-") as run_root:
        for config, size, batch, perceptual in plan:
            for gan in gan_settings:
                print(f"timing {config} {size}x{size} batch {batch} {perceptual} gan {'on' if gan else 'off'} ...",
                      file=sys.stderr, flush=True)
                label, gan_on, seconds = time_case(config, size, batch, perceptual, gan, args.steps, run_root)
                rows.append((config, f"{size}x{size}", batch, label, "on" if gan_on else "off", seconds))

    print(f"paddle {paddle.__version__} dygraph, CPU, {threads} thread(s) of {os.cpu_count()} cores; "
          f"median of {args.steps} steps after 1 warm-up; data loading not included")
    print()
    print("| config | size | batch | perceptual loss | GAN | s/step | it/s | samples/s |")
    print("|---|---|---|---|---|---:|---:|---:|")
    for config, size, batch, label, gan, seconds in rows:
        print(f"| {config} | {size} | {batch} | {label} | {gan} | {seconds:.3f} | {1 / seconds:.3f} | "
              f"{batch / seconds:.2f} |")
    if any(label == "vgg19 (random)" for *_, label, _, _ in rows):
        print()
        print("vgg19 (random): vgg19.pdparams is not in the weight store (offline), so VGG19 ran on randomly "
              "initialised weights; timing only, the work is the same.")


if __name__ == "__main__":
    main()
