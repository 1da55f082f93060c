"""Tensor-in, tensor-out wrappers of the networks, for ``paddle.jit.to_static``.

Exported graphs cannot take dicts of keypoints, so keypoints travel as separate value and
jacobian tensors. The full export tooling builds on these (tools/export_model.py).
"""
import paddle.nn as nn


class KPDetectorExport(nn.Layer):
    """image (N, 3, H, W) -> value (N, K, 2)[, jacobian (N, K, 2, 2)]."""

    def __init__(self, kp_detector):
        super().__init__()
        self.kp_detector = kp_detector

    def forward(self, image):
        kp = self.kp_detector(image)
        if "jacobian" in kp:
            return kp["value"], kp["jacobian"]
        return kp["value"]


class GeneratorExport(nn.Layer):
    """(source, kp_source value/jacobian, kp_driving value/jacobian) -> prediction."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, source, kp_source_value, kp_source_jacobian, kp_driving_value, kp_driving_jacobian):
        out = self.generator(
            source,
            kp_driving={"value": kp_driving_value, "jacobian": kp_driving_jacobian},
            kp_source={"value": kp_source_value, "jacobian": kp_source_jacobian},
        )
        return out["prediction"]
