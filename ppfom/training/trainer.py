"""Training and evaluation of FOMM: ``tools/main.py`` is a thin command over this.

A run lives in one output folder: the resolved config, ``log.jsonl`` (one line of losses per
logged step), ``train.log``, ``loss_chart.png`` and ``checkpoints/``. Checkpoints use
PaddleGAN's layout (one state dict per network, ``epoch``, one state per optimizer) plus a
``ppfom_train_state`` section with what exact resumption needs: the step, the position in
the epoch, the schedulers and the seed.

Exact resume: the order of samples in an epoch, each sample's augmentation and the random
transforms of each step are pure functions of (seed, epoch, step), so a run killed at any
point and resumed from its last checkpoint computes the same steps as one that never
stopped. Data-parallel runs (``python -m paddle.distributed.launch --nproc_per_node N
tools/main.py ...``) split each epoch's order between processes; rank 0 alone logs and saves.
"""
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError, PpfomError

CHECKPOINT_STATE = "ppfom_train_state"


def say(message):
    print(message, file=sys.stderr, flush=True)


class EpochSampler:
    """Batches of one epoch: a permutation seeded by (seed, epoch), cut between processes,
    starting at a given batch (to resume mid-epoch)."""

    def __init__(self, length, batch_size, seed, rank=0, world=1, drop_last=True):
        self.length, self.batch_size, self.seed = length, batch_size, seed
        self.rank, self.world, self.drop_last = rank, world, drop_last
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch, start_batch=0):
        self.epoch, self.start = epoch, start_batch

    def batches_per_epoch(self):
        per_rank = self.length // self.world
        return per_rank // self.batch_size if self.drop_last else math.ceil(per_rank / self.batch_size)

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.length)
        per_rank = self.length // self.world
        mine = order[self.rank * per_rank:(self.rank + 1) * per_rank]
        for b in range(self.start, self.batches_per_epoch()):
            yield mine[b * self.batch_size:(b + 1) * self.batch_size].tolist()

    def __len__(self):
        return max(0, self.batches_per_epoch() - self.start)


def _collate(items):
    return {
        "source": np.stack([i["source"] for i in items]).astype("float32"),
        "driving": np.stack([i["driving"] for i in items]).astype("float32"),
    }


def _load_section(net, layout, name, path, where=None):
    """Load section ``name`` of a weights layout into ``net`` strictly; a missing section is one clear error."""
    from ..checkpoint.state import load_state_strict

    if name not in layout:
        raise PpfomError(f"{where or path}: no {name} section")
    load_state_strict(net, layout[name], f"{path} [{name}]")


# Zero-started groups of the generator's optional layers (ours): weights trained without one load,
# and the group starts at zero (the blend at an even mix of the decoded and the warped frame).
_SKIP_GROUPS = {"skips": "skip connections", "image_skip": "source-image skip", "blend": "warped-source blend"}


def _missing_skip_weights(generator, state):
    """({name: zeros} for each group of zero-started skip weights of ``generator`` that ``state``
    has none of, [what those groups are])."""
    new, missing = {}, []
    if not isinstance(state, dict):
        return new, missing
    for group, what in _SKIP_GROUPS.items():
        layer = getattr(generator, group, None)
        if layer is None:
            continue
        own = {f"{group}.{k}": v for k, v in layer.state_dict().items()}
        if not any(k in state for k in own):
            new.update({k: np.zeros(v.shape, "float32") for k, v in own.items()})
            missing.append(what)
    return new, missing


def _save_atomic(obj, path):
    import paddle

    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        paddle.save(obj, str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class Trainer:
    """Builds everything from a normalized config and runs training or evaluation."""

    def __init__(self, cfg, output_dir=None, seed=0, resume=None, load=None, log_interval=None,
                 checkpoint_steps=None, num_workers=None, progress=True, config_name="run"):
        import paddle

        self.cfg = cfg
        self.world = paddle.distributed.get_world_size()
        self.rank = paddle.distributed.get_rank()
        if self.world > 1:
            paddle.distributed.init_parallel_env()
        self.is_main = self.rank == 0
        self.seed = seed
        self.progress = progress and self.is_main
        train_cfg = cfg["model"].get("train_params") or {}
        if not train_cfg:
            raise ConfigError("config has no model.train_params section: it is needed to train")
        self.train_params = train_cfg
        self.epochs = int(cfg.get("epochs") or train_cfg.get("num_epochs") or 1)
        self.log_interval = int(log_interval or (cfg.get("log_config") or {}).get("interval") or 10)
        self.snapshot_epochs = int((cfg.get("snapshot_config") or {}).get("interval") or 1)
        self.checkpoint_steps = checkpoint_steps
        self.num_workers = num_workers

        self.run_dir = self._run_dir(output_dir, resume, config_name)
        paddle.seed(seed)  # initial weights: the same seed gives the same run
        self._build_networks()
        self._build_optimizers()
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        if load:
            self._load_weights(load)
        if resume:
            self._resume(resume)
        else:
            self._revive_jacobian_head()
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "checkpoints").mkdir(exist_ok=True)
            import yaml

            (self.run_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))

    # -- construction ----------------------------------------------------------------------

    def _run_dir(self, output_dir, resume, config_name):
        if resume:
            path = Path(resume).resolve()
            return path.parent.parent if path.parent.name == "checkpoints" else path.parent
        base = Path(output_dir or self.cfg.get("output_dir") or "output_dir")
        return base / f"{config_name}-{time.strftime('%Y%m%d-%H%M%S')}"

    def _build_networks(self):
        import paddle

        from .. import modules  # noqa: F401  (fills the registries)
        from ..api import Numerics, build_networks
        from ..registry import DISCRIMINATORS, check_kwargs
        from .full_model import DiscriminatorFullModel, GeneratorFullModel

        numerics = Numerics.resolve(self.cfg["model"].get("numerics"), None)
        self.numerics = numerics
        self.kp_detector, self.generator = build_networks(self.cfg, numerics)
        self._compression_setup()
        disc_cfg = dict((self.cfg["model"].get("discriminator") or {}).get("discriminator_cfg") or {})
        common = dict(self.cfg["model"]["common_params"])
        disc_cfg.setdefault("scales", [1])
        check_kwargs(DISCRIMINATORS.get("MultiScaleDiscriminator"), {**common, **disc_cfg},
                     "model.discriminator.discriminator_cfg")
        self.discriminator = DISCRIMINATORS.build({"name": "MultiScaleDiscriminator", **common, **disc_cfg})
        if self.world > 1:
            self._sync_batch_norm()
        self.generator_full = GeneratorFullModel(self.kp_detector, self.generator, self.discriminator,
                                                 self.train_params)
        self.discriminator_full = DiscriminatorFullModel(self.kp_detector, self.generator, self.discriminator,
                                                         self.train_params)
        if self.world > 1:
            self.generator_full = paddle.DataParallel(self.generator_full, find_unused_parameters=True)
            self.discriminator_full = paddle.DataParallel(self.discriminator_full, find_unused_parameters=True)
        weights = self.train_params.get("loss_weights") or {}
        # As the original's train.py: the discriminator trains only when the generator has a GAN loss.
        self.use_gan = float(weights.get("generator_gan", 0) or 0) != 0 and self.mode != "keypoints"

    def _compression_setup(self):
        """model.mode / teacher / distillation (see ppfom.training.distill): swap in the
        teacher's frozen half, load the student's starting weights, build the distillation loss."""
        from ..checkpoint.convert import read_weights
        from .distill import KEYPOINT_KEYS, DistillationLoss, distillation_weights, freeze, load_teacher, training_mode

        model_cfg = self.cfg["model"]
        self.mode = training_mode(model_cfg)
        weights = distillation_weights(model_cfg)
        teacher = load_teacher(model_cfg)
        needs_teacher = ("kp_detector", "generator", "keypoints")
        if teacher is None and (self.mode in needs_teacher or weights):
            why = f"model.mode {self.mode}" if self.mode in needs_teacher else "model.distillation"
            raise ConfigError(f"{why} needs model.teacher (config and weights of the full model)")
        layouts = {}  # one read when both halves come from the same file
        for key, name, net in (("kp_weight_path", "kp_detector", self.kp_detector),
                               ("gen_weight_path", "generator", self.generator)):
            path = model_cfg.get(key)
            if path in (None, "", "None"):
                continue
            if path not in layouts:
                layouts[path] = read_weights(path)[0]
            _load_section(net, layouts[path], name, path, f"model.{key} {path}")
        if self.mode == "kp_detector":
            self.generator = teacher[1]
        elif self.mode == "generator":
            self.kp_detector = teacher[0]
        elif self.mode == "keypoints":
            weights = {k: w for k, w in weights.items() if k in KEYPOINT_KEYS}
            if not weights:
                raise ConfigError("model.mode keypoints trains on keypoint distillation alone: set "
                                  "model.distillation.keypoints, jacobians or heatmaps")
            freeze(self.generator)  # passes through to the checkpoints unchanged
        student_kp = self.kp_detector if self.mode != "generator" else None  # None: the teacher's
        self.distillation = DistillationLoss(*teacher, weights, student_kp=student_kp) if weights else None

    def _sync_batch_norm(self):
        """Many processes: BatchNorm statistics are synchronised (SyncBatchNorm) where Paddle
        supports it (GPU). On CPU Paddle has no SyncBatchNorm kernel, so each process keeps
        its own statistics (they are averaged through the gradients of the next steps)."""
        import paddle

        if paddle.device.is_compiled_with_cuda() and paddle.device.get_device().startswith("gpu"):
            self.kp_detector = paddle.nn.SyncBatchNorm.convert_sync_batchnorm(self.kp_detector)
            self.generator = paddle.nn.SyncBatchNorm.convert_sync_batchnorm(self.generator)
        elif self.is_main:
            say("note: CPU data-parallel: Paddle has no CPU SyncBatchNorm; BatchNorm statistics stay per process")

    def _build_optimizers(self):
        import paddle

        sched_cfg = self.cfg.get("lr_scheduler") or {}
        opt_cfg = self.cfg.get("optimizer") or {}
        beta1, beta2 = float(opt_cfg.get("beta1", 0.5)), float(opt_cfg.get("beta2", 0.999))
        milestones = [int(m) for m in sched_cfg.get("epoch_milestones") or []]
        unit = sched_cfg.get("milestone_unit", "epoch")
        if unit != "epoch":
            raise ConfigError("lr_scheduler.milestone_unit: this trainer steps learning rates per epoch; use epoch")
        gamma = float(sched_cfg.get("gamma", 0.1))
        base = float(sched_cfg.get("lr", 2e-4))

        def make(net, key):
            lr = float(sched_cfg.get(key, base))
            schedule = paddle.optimizer.lr.MultiStepDecay(lr, milestones=milestones or [10 ** 9], gamma=gamma)
            optimizer = paddle.optimizer.Adam(schedule, beta1=beta1, beta2=beta2, parameters=net.parameters())
            return optimizer, schedule

        self.opt_generator, self.sched_generator = make(self.generator, "lr_generator")
        self.opt_kp, self.sched_kp = make(self.kp_detector, "lr_kp_detector")
        self.opt_discriminator, self.sched_discriminator = make(self.discriminator, "lr_discriminator")

    # -- checkpoints -----------------------------------------------------------------------

    def _optimizers(self):
        return {"optimizer_generator": self.opt_generator, "optimizer_kp_detector": self.opt_kp,
                "optimizer_discriminator": self.opt_discriminator}

    def _schedulers(self):
        return {"generator": self.sched_generator, "kp_detector": self.sched_kp,
                "discriminator": self.sched_discriminator}

    def save_checkpoint(self, keep=3):
        if not self.is_main:
            return None
        state = {"generator": self.generator.state_dict(), "kp_detector": self.kp_detector.state_dict(),
                 "discriminator": self.discriminator.state_dict(), "epoch": self.epoch}
        for name, opt in self._optimizers().items():
            state[name] = opt.state_dict()
        state[CHECKPOINT_STATE] = {
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "seed": self.seed,
            "schedulers": {k: s.state_dict() for k, s in self._schedulers().items()},
        }
        folder = self.run_dir / "checkpoints"
        path = folder / f"step_{self.step:08d}.pdparams"
        _save_atomic(state, path)
        shutil.copyfile(path, folder / ".latest.tmp")
        os.replace(folder / ".latest.tmp", folder / "latest.pdparams")
        for old in sorted(folder.glob("step_*.pdparams"))[:-keep]:
            old.unlink()
        return path

    def _read_checkpoint(self, path):
        import paddle

        from ..checkpoint.convert import read_weights

        read_weights(path)  # safety check of the pickle and a clear error for a bad file
        return paddle.load(str(path))

    def _resume(self, path):
        from ..checkpoint.state import load_state_strict

        state = self._read_checkpoint(path)
        if CHECKPOINT_STATE not in state:
            raise PpfomError(f"{path}: not a ppfom training checkpoint (use --load for weights only)")
        for name, net in (("generator", self.generator), ("kp_detector", self.kp_detector),
                          ("discriminator", self.discriminator)):
            load_state_strict(net, state[name], f"{path} [{name}]")
        for name, opt in self._optimizers().items():
            opt.set_state_dict(state[name])
        train_state = state[CHECKPOINT_STATE]
        for name, sched in self._schedulers().items():
            sched.set_state_dict(train_state["schedulers"][name])
        self.step, self.epoch = int(train_state["step"]), int(train_state["epoch"])
        self.batch_in_epoch, self.seed = int(train_state["batch_in_epoch"]), int(train_state["seed"])
        if self.is_main:
            say(f"resumed {path}: step {self.step}, epoch {self.epoch}, batch {self.batch_in_epoch}")

    def _load_weights(self, path):
        from ..checkpoint.convert import read_weights
        from ..checkpoint.state import load_state_strict

        layout, _ = read_weights(path)
        generator_state = layout.get("generator")
        new_skips, missing = _missing_skip_weights(self.generator, generator_state)
        if new_skips:
            # A model trained without (some of) its skips: they start at zero, which renders the same frames.
            layout = dict(layout, generator={**generator_state, **new_skips})
            if self.is_main:
                say(f"{path}: no {' and no '.join(missing)} in these weights; they start at zero")
        for name, net in (("generator", self.generator), ("kp_detector", self.kp_detector)):
            _load_section(net, layout, name, path)
        if layout.get("discriminator"):
            load_state_strict(self.discriminator, layout["discriminator"], f"{path} [discriminator]")

    def _revive_jacobian_head(self):
        """Weights of an older ppfom mobile detector: its jacobian head could not learn (see
        KPDetector.revive_jacobian_head); give it gradients before training starts."""
        from .distill import is_frozen

        revive = getattr(self.kp_detector, "revive_jacobian_head", None)
        if revive is not None and not is_frozen(self.kp_detector) and revive() and self.is_main:
            say("note: the keypoint detector's jacobian head was all zero, so it could never learn (ppfom "
                "before 2026-12-07); its hidden convs start random now (the jacobians are unchanged until it trains)")

    # -- training --------------------------------------------------------------------------

    def _dataset(self, phase):
        from ..registry import DATASETS
        from ..data import frames_dataset  # noqa: F401  (registers FirstOrderDataset)

        section = (self.cfg.get("dataset") or {}).get(phase)
        if not section:
            raise ConfigError(f"config has no dataset.{phase} section")
        section = dict(section)
        section.setdefault("name", "FirstOrderDataset")
        return DATASETS.build(section, where=f"dataset.{phase}", seed=self.seed), section

    def _loader(self, dataset, section, sampler):
        import paddle

        workers = self.num_workers if self.num_workers is not None else int(section.get("num_workers", 0) or 0)
        return paddle.io.DataLoader(dataset, batch_sampler=sampler, collate_fn=_collate, num_workers=workers,
                                    use_shared_memory=False)

    def train(self, max_steps=None):
        """Train until the configured epochs end (or ``max_steps`` total steps); returns the run folder."""
        import paddle

        from tqdm import tqdm

        dataset, section = self._dataset("train")
        batch_size = int(section.get("batch_size", 1))
        if len(dataset) < batch_size * self.world:
            raise PpfomError(f"dataset.train has {len(dataset)} samples, fewer than one batch per process")
        sampler = EpochSampler(len(dataset), batch_size, self.seed, self.rank, self.world)
        loader = self._loader(dataset, section, sampler)
        weights = self.train_params.get("loss_weights") or {}
        history = []
        if self.is_main:
            say(f"training in {self.run_dir}: {len(dataset)} samples, batch {batch_size} x {self.world} process(es), "
                f"{sampler.batches_per_epoch()} steps per epoch, {self.epochs} epochs")
        stop = False
        while self.epoch < self.epochs and not stop:
            dataset.set_epoch(self.epoch)
            sampler.set_epoch(self.epoch, self.batch_in_epoch)
            bar = tqdm(total=sampler.batches_per_epoch(), initial=self.batch_in_epoch, disable=not self.progress,
                       desc=f"epoch {self.epoch}", unit="step", leave=False)
            for batch in loader:
                paddle.seed(self.seed * 1_000_003 + self.step)  # this step's random transforms
                losses = self._train_step(batch, weights)
                self.step += 1
                self.batch_in_epoch += 1
                bar.update(1)
                if self.is_main and (self.step % self.log_interval == 0 or self.step == 1):
                    record = {"step": self.step, "epoch": self.epoch, **losses}
                    history.append(record)
                    self._log(record)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items() if k != "total"})
                if self.checkpoint_steps and self.step % self.checkpoint_steps == 0:
                    self.save_checkpoint()
                if max_steps is not None and self.step >= max_steps:
                    stop = True
                    break
            bar.close()
            if not stop:
                self.epoch += 1
                self.batch_in_epoch = 0
                for sched in self._schedulers().values():
                    sched.step()  # learning rates change per epoch, as the original
                if self.epoch % self.snapshot_epochs == 0 or self.epoch == self.epochs:
                    self.save_checkpoint()
        if stop:
            self.save_checkpoint()
        if self.is_main:
            self._chart()
        return self.run_dir

    def _train_step(self, batch, weights):
        import paddle

        from .distill import is_frozen, keep_frozen_in_eval

        x = {"source": paddle.to_tensor(batch["source"]), "driving": paddle.to_tensor(batch["driving"])}
        if self.mode == "keypoints":
            return self._keypoint_step(x)
        self.generator_full.train()
        keep_frozen_in_eval(self.kp_detector, self.generator)
        losses_generator, generated = self.generator_full(x)
        if self.distillation is not None:
            losses_generator.update(self.distillation(x["source"], x["driving"], generated))
        loss = paddle.add_n([v.mean() for v in losses_generator.values()])
        loss.backward()
        for net, opt in ((self.generator, self.opt_generator), (self.kp_detector, self.opt_kp)):
            if not is_frozen(net):
                opt.step()
        self.opt_generator.clear_grad()
        self.opt_kp.clear_grad()
        values = {k: float(v.mean()) for k, v in losses_generator.items()}
        if self.use_gan:
            self.opt_discriminator.clear_grad()  # the generator's loss left gradients there
            losses_discriminator = self.discriminator_full(x, generated)
            loss_d = paddle.add_n([v.mean() for v in losses_discriminator.values()])
            loss_d.backward()
            self.opt_discriminator.step()
            self.opt_discriminator.clear_grad()
            values.update({k: float(v.mean()) for k, v in losses_discriminator.items()})
        return self._finite(values, loss)

    def _keypoint_step(self, x):
        """model.mode keypoints: the keypoint detector alone runs and learns, on distillation."""
        import paddle

        self.kp_detector.train()
        student = {"kp_source": self.kp_detector(x["source"]), "kp_driving": self.kp_detector(x["driving"])}
        losses = self.distillation(x["source"], x["driving"], student)
        loss = paddle.add_n(list(losses.values()))
        loss.backward()
        self.opt_kp.step()
        self.opt_kp.clear_grad()
        return self._finite({k: float(v) for k, v in losses.items()}, loss)

    def _finite(self, values, loss):
        values["total"] = float(loss)
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise PpfomError(f"step {self.step}: loss {', '.join(bad)} is not finite; lower the learning rate")
        return values

    def _log(self, record):
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        with open(self.run_dir / "train.log", "a") as f:
            f.write(f"step {record['step']} epoch {record['epoch']}: "
                    + ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k not in ("step", "epoch")) + "\n")

    def _chart(self):
        path = self.run_dir / "log.jsonl"
        if not path.exists():
            return
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if not records:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        keys = [k for k in records[-1] if k not in ("step", "epoch")]
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
        steps = [r["step"] for r in records]
        for key in keys:
            ax.plot(steps, [r.get(key, float("nan")) for r in records], label=key)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"training losses ({self.run_dir.name})")
        fig.tight_layout()
        tmp = self.run_dir / ".loss_chart.tmp.png"
        fig.savefig(tmp)
        plt.close(fig)
        os.replace(tmp, self.run_dir / "loss_chart.png")

    # -- evaluation ------------------------------------------------------------------------

    def evaluate(self, max_videos=None, videos_out=3, keypoint_extractor=None, identity_extractor=None):
        """The reconstruction protocol on the test split; see ppfom.training.evaluate."""
        from .evaluate import evaluate_reconstruction

        dataset, _ = self._dataset("test")
        return evaluate_reconstruction(self.kp_detector, self.generator, dataset, self.run_dir / "evaluation",
                                       max_videos=max_videos, videos_out=videos_out if self.is_main else 0,
                                       keypoint_extractor=keypoint_extractor, identity_extractor=identity_extractor,
                                       progress=self.progress)
