"""Tensor-in, tensor-out wrappers of the networks, for ``paddle.jit.to_static``.

Exported graphs cannot take dicts of keypoints, so keypoints travel as separate value and
jacobian tensors (the jacobians only when the model estimates them). Motion normalization
(relative, adapt_scale) is not in any graph: it runs on the host, one scale per video.

- ``kp_detector``:    image -> value[, jacobian]
- ``generator``:      source, kp_source, kp_driving -> prediction (everything per frame)
- ``source_encoder``: source -> features, source_small (once per source image)
- ``frame_decoder``:  source_small, features, kp_source, kp_driving -> prediction (per frame)
"""
import paddle.nn as nn


def _kp(value, jacobian):
    return {"value": value} if jacobian is None else {"value": value, "jacobian": jacobian}


class KPDetectorExport(nn.Layer):
    def __init__(self, kp_detector):
        super().__init__()
        self.kp_detector = kp_detector

    def forward(self, image):
        kp = self.kp_detector(image)
        if "jacobian" in kp:
            return kp["value"], kp["jacobian"]
        return kp["value"]


class GeneratorExport(nn.Layer):
    """The whole generator per frame (PaddleGAN's export and the simplest deployment)."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, source, kp_source_value, kp_source_jacobian, kp_driving_value, kp_driving_jacobian):
        out = self.generator(
            source,
            kp_driving=_kp(kp_driving_value, kp_driving_jacobian),
            kp_source=_kp(kp_source_value, kp_source_jacobian),
            full_outputs=False,
        )
        return out["prediction"]


class GeneratorNoJacobianExport(GeneratorExport):
    def forward(self, source, kp_source_value, kp_driving_value):
        return super().forward(source, kp_source_value, None, kp_driving_value, None)


class SourceEncoderExport(nn.Layer):
    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, source):
        cache = self.generator.encode(source)
        return cache["features"], cache["source_small"]


class FrameDecoderExport(nn.Layer):
    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, source_small, features, kp_source_value, kp_source_jacobian, kp_driving_value,
                kp_driving_jacobian):
        out = self.generator(
            None,
            kp_driving=_kp(kp_driving_value, kp_driving_jacobian),
            kp_source=_kp(kp_source_value, kp_source_jacobian),
            source_cache={"features": features, "source_small": source_small},
            full_outputs=False,
        )
        return out["prediction"]


class FrameDecoderNoJacobianExport(FrameDecoderExport):
    def forward(self, source_small, features, kp_source_value, kp_driving_value):
        return super().forward(source_small, features, kp_source_value, None, kp_driving_value, None)
