"""Small configs and random-but-deterministic weights shared by the tests."""
import numpy as np


def tiny_config(num_kp=5, block_expansion=8, max_features=32, num_blocks=3, scale_factor=0.25,
                estimate_jacobian=True, occlusion=True, **numerics):
    """A PaddleGAN-layout config small enough to run in milliseconds at 64x64."""
    return {
        "model": {
            "name": "FirstOrderModel",
            "common_params": {"num_kp": num_kp, "num_channels": 3, "estimate_jacobian": estimate_jacobian},
            "generator": {
                "name": "FirstOrderGenerator",
                "kp_detector_cfg": {"temperature": 0.1, "block_expansion": block_expansion,
                                    "max_features": max_features, "scale_factor": scale_factor,
                                    "num_blocks": num_blocks},
                "generator_cfg": {"block_expansion": block_expansion, "max_features": max_features,
                                  "num_down_blocks": 2, "num_bottleneck_blocks": 2,
                                  "estimate_occlusion_map": occlusion,
                                  "dense_motion_params": {"block_expansion": block_expansion,
                                                          "max_features": max_features,
                                                          "num_blocks": num_blocks,
                                                          "scale_factor": scale_factor}},
            },
            "numerics": dict(numerics),
        }
    }


def randomize(layer, seed):
    """Give every parameter and BatchNorm statistic a non-default value (deterministic).

    Default initialization leaves the jacobian head at exactly zero and BatchNorm at the
    identity, which would hide convention errors.
    """
    rng = np.random.default_rng(seed)
    state = {}
    for name, value in layer.state_dict().items():
        shape = tuple(value.shape)
        if name.endswith("_variance"):
            arr = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("down.weight"):
            arr = value.numpy()  # the anti-alias kernel is a constant, not a learned weight
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            arr = rng.normal(0, 1.0 / np.sqrt(fan_in), shape)
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name.endswith("norm.weight"):
                arr = 1.0 + 0.1 * arr
        state[name] = arr.astype("float32")
    layer.set_state_dict(state)
    return layer
