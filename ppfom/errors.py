"""Errors that reach the user as one line.

Everything the user can cause (a missing file, a bad config key, weights that do not fit)
raises a subclass of :class:`PpfomError`; the command-line entry points print its message
on one line and exit non-zero instead of showing a traceback.
"""


class PpfomError(Exception):
    """Base class of user-facing errors: the message is the whole story."""


class ConfigError(PpfomError):
    """A configuration file or override is wrong."""


class CheckpointError(PpfomError):
    """A checkpoint cannot be read, is unsafe, or does not fit the model."""


class WeightsUnavailable(PpfomError):
    """Published weights are neither in the cache nor downloadable."""
