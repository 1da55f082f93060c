"""The networks convert with dy2static and save as inference models (the Lite rules hold)."""
import numpy as np
import paddle
import pytest

from ppfom.api import Numerics, build_networks
from ppfom.modules.exportable import GeneratorExport, KPDetectorExport

from helpers import randomize, tiny_config

pytestmark = pytest.mark.skipif(
    not paddle.__version__.startswith("2."),
    reason="inference-model export for Paddle Lite needs paddlepaddle < 3.2; the pinned env runs this",
)

# Ops that Paddle Lite cannot run or runs wrongly (shared/notes/paddle-lite.md).
FORBIDDEN_OPS = {"set_value", "eye", "inverse", "matrix_inverse"}


def _program_ops(prefix):
    paddle.enable_static()
    try:
        exe = paddle.static.Executor(paddle.CPUPlace())
        program, _, _ = paddle.static.load_inference_model(prefix, exe)
        block = program.global_block()
        ops = []
        for op in block.ops:
            ranks = {}
            for name in op.input_arg_names:
                try:
                    ranks[name] = len(block.var(name).shape)
                except (RuntimeError, ValueError):  # feed/fetch holders have no shape
                    pass
            ops.append((op.type, ranks, op))
        return ops
    finally:
        paddle.disable_static()


def _check_lite_rules(prefix):
    ops = _program_ops(prefix)
    types = {t for t, _, _ in ops}
    assert not types & FORBIDDEN_OPS, f"ops Paddle Lite cannot run: {types & FORBIDDEN_OPS}"
    for op_type, ranks, _ in ops:
        if op_type in ("reduce_sum", "reduce_mean", "sum", "mean"):
            assert max(ranks.values(), default=0) <= 4, f"{op_type} over a tensor of rank {ranks}"
    for op_type, _, op in ops:
        if op_type == "fill_constant":
            shape = op.attr("shape")
            assert len(shape) > 0, "a 0-D constant: Paddle Lite's opt rejects it"
    return types


SIZE, NUM_KP = 64, 5


@pytest.fixture(scope="module", params=[False, True], ids=["align_false", "align_true"])
def exported(request, tmp_path_factory):
    """Random-weight tiny networks, exported once per align_corners setting."""
    out = tmp_path_factory.mktemp("export")
    kp, gen = build_networks(tiny_config(num_kp=NUM_KP), Numerics(align_corners=request.param))
    randomize(kp, 1), randomize(gen, 2)
    kp.eval(), gen.eval()

    spec = [paddle.static.InputSpec([1, 3, SIZE, SIZE], "float32", "image")]
    paddle.jit.save(paddle.jit.to_static(KPDetectorExport(kp), input_spec=spec, full_graph=True), str(out / "kp_detector"))
    spec = [
        paddle.static.InputSpec([1, 3, SIZE, SIZE], "float32", "source"),
        paddle.static.InputSpec([1, NUM_KP, 2], "float32", "kp_source_value"),
        paddle.static.InputSpec([1, NUM_KP, 2, 2], "float32", "kp_source_jacobian"),
        paddle.static.InputSpec([1, NUM_KP, 2], "float32", "kp_driving_value"),
        paddle.static.InputSpec([1, NUM_KP, 2, 2], "float32", "kp_driving_jacobian"),
    ]
    paddle.jit.save(paddle.jit.to_static(GeneratorExport(gen), input_spec=spec, full_graph=True), str(out / "generator"))

    rng = np.random.default_rng(0)
    source = rng.uniform(0, 1, (1, 3, SIZE, SIZE)).astype("float32")
    driving = rng.uniform(0, 1, (1, 3, SIZE, SIZE)).astype("float32")
    with paddle.no_grad():
        ks, kd = kp(paddle.to_tensor(source)), kp(paddle.to_tensor(driving))
        prediction = gen(paddle.to_tensor(source), kp_driving=kd, kp_source=ks)["prediction"].numpy()
    reference = {
        "source": source,
        "kp_source": [ks["value"].numpy(), ks["jacobian"].numpy()],
        "kp_driving": [kd["value"].numpy(), kd["jacobian"].numpy()],
        "prediction": prediction,
    }
    return out, reference


def test_saved_programs_follow_lite_rules(exported):
    out, _ = exported
    for name in ("kp_detector", "generator"):
        assert (out / f"{name}.pdmodel").stat().st_size > 0
        assert (out / f"{name}.pdiparams").stat().st_size > 0
    assert "grid_sampler" in _check_lite_rules(str(out / "generator"))
    _check_lite_rules(str(out / "kp_detector"))


def test_saved_programs_match_dygraph(exported):
    out, ref = exported
    value, jacobian = paddle.jit.load(str(out / "kp_detector"))(paddle.to_tensor(ref["source"]))
    np.testing.assert_allclose(value.numpy(), ref["kp_source"][0], atol=1e-5)
    np.testing.assert_allclose(jacobian.numpy(), ref["kp_source"][1], atol=1e-5)
    inputs = [ref["source"], *ref["kp_source"], *ref["kp_driving"]]
    got = paddle.jit.load(str(out / "generator"))(*[paddle.to_tensor(x) for x in inputs]).numpy()
    np.testing.assert_allclose(got, ref["prediction"], atol=1e-5)


def _lite_run(nb_path, inputs):
    from paddlelite.lite import MobileConfig, create_paddle_predictor

    config = MobileConfig()
    config.set_model_from_file(str(nb_path))
    predictor = create_paddle_predictor(config)
    for i, x in enumerate(inputs):
        predictor.get_input(i).from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    predictor.run()
    # Outputs are views into the predictor's memory: copy before it goes away.
    return [np.array(predictor.get_output(i).numpy(), copy=True) for i in range(len(predictor.get_output_names()))]


def test_paddle_lite_x86_runs_the_exported_networks(exported):
    lite = pytest.importorskip("paddlelite.lite")
    assert np.__version__.startswith("1."), "numpy 2 silently corrupts Paddle Lite inputs"
    out, ref = exported
    for name in ("kp_detector", "generator"):
        opt = lite.Opt()
        opt.set_model_file(str(out / f"{name}.pdmodel"))
        opt.set_param_file(str(out / f"{name}.pdiparams"))
        opt.set_valid_places("x86")
        opt.set_model_type("naive_buffer")
        opt.set_optimize_out(str(out / f"{name}_x86"))
        opt.run()
    value, jacobian = _lite_run(out / "kp_detector_x86.nb", [ref["source"]])
    np.testing.assert_allclose(value, ref["kp_source"][0], atol=1e-4)
    np.testing.assert_allclose(jacobian, ref["kp_source"][1], atol=1e-4)
    (prediction,) = _lite_run(out / "generator_x86.nb", [ref["source"], *ref["kp_source"], *ref["kp_driving"]])
    np.testing.assert_allclose(prediction, ref["prediction"], atol=5e-4)
