"""FOMM networks in Paddle, with PaddleGAN's (and so the original's) parameter names."""
from .keypoint_detector import KPDetector  # noqa: F401
from .dense_motion import DenseMotionNetwork  # noqa: F401
from .generator import OcclusionAwareGenerator  # noqa: F401
from .discriminator import Discriminator, MultiScaleDiscriminator  # noqa: F401
