"""Keypoint smoothing over time (``--smooth``): a One Euro filter, causal and streaming.

FOMM's keypoints jitter from frame to frame, which shows as a trembling face. The One Euro
filter (Casiez et al., CHI 2012) smooths strongly when keypoints move slowly and follows
quickly when they move fast, so it removes jitter without making motion lag. It needs only
the previous frame, so it works on a stream.
"""
import numpy as np


class OneEuroFilter:
    def __init__(self, fps, min_cutoff=1.0, beta=0.5, d_cutoff=1.0):
        self.rate = float(fps)
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.previous = None
        self.previous_derivative = None

    def _alpha(self, cutoff):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau * self.rate)

    def __call__(self, value):
        value = np.asarray(value, dtype=np.float64)
        if self.previous is None:
            self.previous, self.previous_derivative = value, np.zeros_like(value)
            return value.astype(np.float32)
        derivative = (value - self.previous) * self.rate
        a_d = self._alpha(self.d_cutoff)
        derivative = a_d * derivative + (1 - a_d) * self.previous_derivative
        cutoff = self.min_cutoff + self.beta * np.abs(derivative)
        a = self._alpha(cutoff)
        smoothed = a * value + (1 - a) * self.previous
        self.previous, self.previous_derivative = smoothed, derivative
        return smoothed.astype(np.float32)


class KeypointSmoother:
    """One filter per keypoint array (value, jacobian); frames go through in order."""

    def __init__(self, fps, **kwargs):
        self.filters = {}
        self.fps, self.kwargs = fps, kwargs

    def __call__(self, kp_batch):
        """Smooth a batch of consecutive frames' keypoints ``{"value": (N, K, 2), ...}``."""
        out = {}
        for name, frames in kp_batch.items():
            filt = self.filters.setdefault(name, OneEuroFilter(self.fps, **self.kwargs))
            out[name] = np.stack([filt(frame) for frame in np.asarray(frames)])
        return out
