"""Per-frame time of the keypoint detector and the generator in dygraph (run by hand).

    .venv/bin/python benchmarks/bench_core.py [--config firstorder_vox_256] [--size 256] [--batch 1] [--repeats 5]

Random weights (speed does not depend on them). Prints a table; the generator is also
split into its source-only part (encoder) and the rest, to show where the time goes.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="firstorder_vox_256")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    import numpy as np
    import paddle

    from ppfom.api import load_fomm

    paddle.set_device("cpu")
    fomm = load_fomm(args.config)
    n_kp = sum(int(np.prod(p.shape)) for p in fomm.kp_detector.parameters() if not p.stop_gradient)
    n_gen = sum(int(np.prod(p.shape)) for p in fomm.generator.parameters() if not p.stop_gradient)
    rng = np.random.default_rng(0)
    frames = paddle.to_tensor(rng.uniform(0, 1, (args.batch, 3, args.size, args.size)).astype("float32"))
    source = frames[0:1].tile([args.batch, 1, 1, 1])

    rows = []
    with paddle.no_grad():
        kp_source = fomm.kp_detector(source)
        kp_driving = fomm.kp_detector(frames)
        t_kp = timed(lambda: fomm.kp_detector(frames), args.repeats)
        t_gen = timed(lambda: fomm.generator(source, kp_driving=kp_driving, kp_source=kp_source), args.repeats)
        cache = fomm.generator.encode(source)
        t_enc = timed(lambda: fomm.generator.encode(source), args.repeats)
        t_cached = timed(
            lambda: fomm.generator(source, kp_driving=kp_driving, kp_source=kp_source, source_cache=cache,
                                   full_outputs=False),
            args.repeats,
        )
    for name, (median, best) in [
        ("keypoint detector", t_kp),
        ("generator (full)", t_gen),
        ("  source encoder only", t_enc),
        ("  generator with cached source features", t_cached),
    ]:
        rows.append((name, median / args.batch, best / args.batch))

    print(f"config {args.config}, {args.size}x{args.size}, batch {args.batch}, paddle {paddle.__version__} dygraph, "
          f"{os.cpu_count()} cores; parameters: keypoint detector {n_kp:,}, generator {n_gen:,}")
    print(f"{'part':42s} {'s/frame (median)':>17s} {'s/frame (best)':>15s}")
    for name, median, best in rows:
        print(f"{name:42s} {median:17.3f} {best:15.3f}")


if __name__ == "__main__":
    main()
