"""Compare a state dict with what a model expects, and report differences by name."""
import numpy as np

from ..errors import CheckpointError

# How many names of each kind a message lists before it says "and N more".
_NAMES_SHOWN = 6


def shape_of(value):
    """Shape of a numpy array, paddle Tensor or anything with ``.shape``, as a tuple."""
    return tuple(int(d) for d in getattr(value, "shape", np.shape(value)))


def compare_state(expected_shapes, state):
    """Return (missing, unexpected, mismatched) between ``{name: shape}`` and a state dict.

    ``mismatched`` is a list of ``(name, expected_shape, found_shape)``.
    """
    missing = [k for k in expected_shapes if k not in state]
    unexpected = [k for k in state if k not in expected_shapes]
    mismatched = [
        (k, tuple(expected_shapes[k]), shape_of(state[k]))
        for k in expected_shapes
        if k in state and tuple(expected_shapes[k]) != shape_of(state[k])
    ]
    return missing, unexpected, mismatched


def _listing(names):
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def describe_differences(missing, unexpected, mismatched):
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_listing(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_listing(unexpected)})")
    if mismatched:
        shown = [f"{k} {list(want)} vs {list(got)}" for k, want, got in mismatched]
        parts.append(f"{len(mismatched)} with another shape, expected vs found ({_listing(shown)})")
    return "; ".join(parts)


def check_state(expected_shapes, state, what):
    """Raise CheckpointError naming every difference; never skip a key silently."""
    missing, unexpected, mismatched = compare_state(expected_shapes, state)
    if missing or unexpected or mismatched:
        raise CheckpointError(
            f"{what} does not fit the model: {describe_differences(missing, unexpected, mismatched)}"
        )


def expected_shapes_of(layer):
    """``{name: shape}`` of a paddle Layer's state dict (parameters and persistable buffers)."""
    return {k: shape_of(v) for k, v in layer.state_dict().items()}


def load_state_strict(layer, state, what):
    """Check ``state`` against ``layer`` and set it; raises CheckpointError on any difference."""
    check_state(expected_shapes_of(layer), state, what)
    own = layer.state_dict()
    converted = {}
    for k, v in state.items():
        arr = v.numpy() if hasattr(v, "numpy") else np.asarray(v)
        converted[k] = arr.astype(own[k].numpy().dtype if hasattr(own[k], "numpy") else arr.dtype, copy=False)
    layer.set_state_dict(converted)
