"""ppfom.flops: MAC counts against the formulas, hook removal, a tiny FOMM."""
import numpy as np
import paddle
import paddle.nn as nn

from helpers import tiny_config
from ppfom.api import build_networks
from ppfom.flops import count_flops, fomm_flops


def rand(*shape):
    return paddle.to_tensor(np.random.default_rng(0).uniform(0, 1, shape).astype("float32"))


def no_hooks(layer):
    return all(not sub._forward_post_hooks for _, sub in layer.named_sublayers(include_self=True))


def test_conv2d_matches_formula_per_sample():
    conv = nn.Conv2D(3, 8, kernel_size=3, stride=2, padding=1)
    result = count_flops(conv, rand(2, 3, 16, 16))  # output 8x8
    assert result["macs"] == 8 * 8 * 8 * 3 * 3 * 3
    assert result["by_layer"] == {"Conv2D": result["macs"]}
    assert result["params"] == 8 * 3 * 3 * 3 + 8


def test_depthwise_conv():
    conv = nn.Conv2D(6, 6, kernel_size=3, padding=1, groups=6)
    assert count_flops(conv, rand(1, 6, 10, 10))["macs"] == 10 * 10 * 6 * 1 * 3 * 3


def test_conv_transpose():
    conv = nn.Conv2DTranspose(4, 6, kernel_size=4, stride=2, padding=1, groups=2)
    assert count_flops(conv, rand(3, 4, 5, 5))["macs"] == 5 * 5 * 4 * 3 * 4 * 4


def test_linear_and_leading_dims():
    net = nn.Sequential(nn.Linear(10, 4), nn.ReLU(), nn.Linear(4, 2))
    result = count_flops(net, rand(5, 10))
    assert result["by_layer"] == {"0": 40, "2": 8}
    assert result["macs"] == 48
    assert result["params"] == 10 * 4 + 4 + 4 * 2 + 2
    assert count_flops(nn.Linear(10, 4), rand(2, 7, 10))["macs"] == 7 * 40  # 7 rows per sample


def test_hooks_removed_and_modes_restored():
    net = nn.Sequential(nn.Conv2D(3, 4, 3), nn.BatchNorm2D(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    net.train()
    mean_before = net[1]._mean.numpy().copy()
    first = count_flops(net, rand(2, 3, 8, 8))
    assert no_hooks(net)
    assert all(sub.training for _, sub in net.named_sublayers(include_self=True))
    np.testing.assert_array_equal(net[1]._mean.numpy(), mean_before)  # ran in eval mode
    assert count_flops(net, rand(2, 3, 8, 8)) == first  # nothing left counting twice


def test_hooks_removed_when_forward_raises():
    conv = nn.Conv2D(3, 4, 3)
    try:
        count_flops(conv, rand(1, 5, 8, 8))  # wrong channel count
    except Exception:
        pass
    assert no_hooks(conv)


def test_tiny_fomm():
    paddle.seed(0)
    kp_detector, generator = build_networks(tiny_config())
    kp_detector.eval()
    generator.eval()
    result = fomm_flops(kp_detector, generator, 64)
    assert result["kp_detector"] > 0 and result["generator_cached"] > 0 and result["source_encoder"] > 0
    assert result["per_frame"] == result["kp_detector"] + result["generator_cached"]
    assert no_hooks(kp_detector) and no_hooks(generator)
    assert not kp_detector.training and not generator.training

    source, driving = rand(2, 3, 64, 64), rand(2, 3, 64, 64)
    with paddle.no_grad():
        kp_s, kp_d = kp_detector(source), kp_detector(driving)
    full = count_flops(generator, source, kp_driving=kp_d, kp_source=kp_s)
    assert full["macs"] > 0
    assert sum(full["by_layer"].values()) == full["macs"]
    assert full["params"] == sum(int(np.prod(p.shape)) for p in generator.parameters() if not p.stop_gradient)
    # the full forward also runs the source encoder, which the cached one skips
    assert full["macs"] == result["generator_cached"] + result["source_encoder"]
    kp = count_flops(kp_detector, driving)
    assert kp["macs"] == result["kp_detector"] and sum(kp["by_layer"].values()) == kp["macs"]
