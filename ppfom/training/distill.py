"""Training a compressed FOMM: which half trains, the frozen teacher, and distillation.

Config keys (all under ``model``; every one optional, the defaults train a FOMM as the original):

``mode``
    ``full`` (default): keypoint detector and generator both train, as the original.
    ``kp_detector``: the config's keypoint detector trains against the *teacher's* generator,
    frozen. ``generator``: the config's generator trains against the teacher's keypoint
    detector, frozen. ``both``: both of the config's networks train, optionally starting from
    ``kp_weight_path`` and ``gen_weight_path`` (the results of the first two modes). These are
    PaddleGAN's three modes of ``FirstOrderModelMobile``. ``keypoints`` (ours): the config's
    keypoint detector alone runs and trains, on the keypoint distillation losses only
    (``keypoints``, ``jacobians``, ``heatmaps``; the other weights are not used). No generator
    runs, so a step costs a fraction of a full one; the generator's weights (from ``--load``
    or ``gen_weight_path``) pass through to the checkpoints unchanged. For a student whose
    detector is where it loses: measured on the synthetic model, the pruned student's own
    generator gave L1 0.0163 with the teacher's keypoints and 0.0185 with its own (README).
``teacher``: ``{config: NAME_OR_YAML, weights: PATH_OR_STORE_NAME}``
    The full model. Needed by ``kp_detector`` and ``generator`` (it supplies the frozen half)
    and by distillation. Always frozen and in eval mode (its BatchNorm statistics never move).
``distillation``: ``{keypoints: w, jacobians: w, heatmaps: w, prediction: w, deformation: w, occlusion: w}``
    The student matches the teacher: L1 between their keypoints (source and driving frames),
    their jacobians, their predicted frames, and (ours) the dense motion network's flow and
    occlusion map, each times its weight. ``heatmaps`` (ours) is the KL divergence from the
    teacher's keypoint heatmaps to the student's (per keypoint, averaged): a dense target where
    the keypoints give two numbers. A student from random weights learned its keypoints from
    those two numbers slowly (its keypoint L1 was 0.2 after 200 steps, while a constant guess
    would give 0.05: measured on the synthetic model). The last two teach the student's dense motion network
    directly: a pruned student left to itself masked three quarters of the source features
    even for a frame that does not move (measured). PaddleGAN has a
    keypoint-only version of this loss that can never run (its mode is rejected by its own
    assert); this one runs in every mode.
``kp_weight_path`` / ``gen_weight_path``
    Starting weights of the student's halves (files with a ``kp_detector`` or ``generator``
    section; our checkpoints and PaddleGAN's both qualify).

A frozen network has ``stop_gradient`` set on every parameter and is kept in eval mode, so a
training step leaves its weights and its BatchNorm statistics bit-identical.
"""
import paddle
import paddle.nn as nn

from ..errors import ConfigError

MODES = ("full", "kp_detector", "generator", "both", "keypoints")
DISTILL_KEYS = ("keypoints", "jacobians", "heatmaps", "prediction", "deformation", "occlusion")
KEYPOINT_KEYS = ("keypoints", "jacobians", "heatmaps")  # what model.mode keypoints trains on
# distillation key -> the generator output it compares
_GENERATOR_OUTPUTS = {"prediction": "prediction", "deformation": "deformation", "occlusion": "occlusion_map"}


def training_mode(model_cfg):
    mode = str(model_cfg.get("mode") or "full")
    if mode not in MODES:
        raise ConfigError(f"model.mode must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def distillation_weights(model_cfg):
    """{key: weight} of the distillation losses that are on (weight != 0)."""
    section = model_cfg.get("distillation") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"model.distillation must be a mapping of {'/'.join(DISTILL_KEYS)} weights")
    unknown = set(section) - set(DISTILL_KEYS)
    if unknown:
        raise ConfigError(f"model.distillation: unknown key(s) {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(DISTILL_KEYS)})")
    out = {}
    for key, value in section.items():
        try:
            weight = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"model.distillation.{key} must be a number, not {value!r}") from None
        if weight != 0:
            out[key] = weight
    return out


def freeze(net):
    """Stop every parameter's gradient and keep ``net`` in eval mode from now on."""
    for p in net.parameters():
        p.stop_gradient = True
    net.eval()
    net._ppfom_frozen = True
    return net


def is_frozen(net):
    return bool(getattr(net, "_ppfom_frozen", False))


def keep_frozen_in_eval(*nets):
    """After a parent's ``train()``: put the frozen networks back in eval mode."""
    for net in nets:
        if net is not None and is_frozen(net):
            net.eval()


def load_teacher(model_cfg, numerics=None):
    """(kp_detector, generator) of ``model.teacher``, loaded strictly and frozen; None when absent."""
    section = model_cfg.get("teacher")
    if not section:
        return None
    if not isinstance(section, dict) or not section.get("config") or not section.get("weights"):
        raise ConfigError("model.teacher needs config (a config name or YAML) and weights (a file or "
                          "weight-store name)")
    from ..api import load_fomm

    teacher = load_fomm(section["config"], weights=section["weights"], numerics=numerics)
    return freeze(teacher.kp_detector), freeze(teacher.generator)


class DistillationLoss(nn.Layer):
    """L1 between the student's and the frozen teacher's keypoints, jacobians, prediction, flow
    and occlusion map."""

    def __init__(self, teacher_kp, teacher_generator, weights, student_kp=None):
        super().__init__()
        # Not sublayers: the teacher must not show up in the student's parameters or state dict.
        self.__dict__["teacher_kp"] = teacher_kp
        self.__dict__["teacher_generator"] = teacher_generator
        self.weights = dict(weights)
        if "heatmaps" in self.weights:
            if student_kp is None or not hasattr(student_kp, "return_heatmap"):
                raise ConfigError("model.distillation.heatmaps is not 0 but no student keypoint detector trains "
                                  "(model.mode generator trains the generator only)")
            teacher_kp.return_heatmap = True
            student_kp.return_heatmap = True

    def forward(self, source, driving, generated):
        losses = {}
        with paddle.no_grad():
            kp_source = self.teacher_kp(source)
            kp_driving = self.teacher_kp(driving)
            teacher = None
            if set(_GENERATOR_OUTPUTS) & set(self.weights):
                teacher = self.teacher_generator(source, kp_driving=kp_driving, kp_source=kp_source,
                                                 full_outputs=False)
        pairs = ((generated["kp_source"], kp_source), (generated["kp_driving"], kp_driving))
        if "keypoints" in self.weights:
            total = sum(paddle.abs(s["value"] - t["value"]).mean() for s, t in pairs)
            losses["distill_keypoints"] = self.weights["keypoints"] * total
        if "jacobians" in self.weights:
            if kp_source.get("jacobian") is None or generated["kp_source"].get("jacobian") is None:
                raise ConfigError("model.distillation.jacobians is not 0 but the student or the teacher "
                                  "estimates no jacobians")
            total = sum(paddle.abs(s["jacobian"] - t["jacobian"]).mean() for s, t in pairs)
            losses["distill_jacobians"] = self.weights["jacobians"] * total
        if "heatmaps" in self.weights:
            total = 0.0
            for s, t in pairs:
                if s["heatmap"].shape != t["heatmap"].shape:
                    raise ConfigError(f"model.distillation.heatmaps: the student's heatmaps are {s['heatmap'].shape[1:]}, "
                                      f"the teacher's {t['heatmap'].shape[1:]} (another scale_factor or num_kp?)")
                # KL(teacher || student) per keypoint: sum over pixels, mean over batch and keypoints.
                eps = 1e-12
                kl = t["heatmap"] * (paddle.log(t["heatmap"] + eps) - paddle.log(s["heatmap"] + eps))
                total = total + kl.sum(axis=-1).mean()
            losses["distill_heatmaps"] = self.weights["heatmaps"] * total
        for key, output in _GENERATOR_OUTPUTS.items():
            if key not in self.weights:
                continue
            if generated.get(output) is None or teacher.get(output) is None:
                raise ConfigError(f"model.distillation.{key} is not 0 but the student or the teacher has no {output}")
            student_out, teacher_out = generated[output], teacher[output]
            if student_out.shape != teacher_out.shape:
                raise ConfigError(f"model.distillation.{key}: the student's {output} is {student_out.shape[1:]}, "
                                  f"the teacher's {teacher_out.shape[1:]} (motion at another scale_factor?)")
            losses[f"distill_{key}"] = self.weights[key] * paddle.abs(student_out - teacher_out).mean()
        return losses
