"""Per-frame time of FOMM through each engine (run by hand; prints a table).

    .venv/bin/python benchmarks/bench_engine.py [--config firstorder_vox_256] [--size 256] [--repeats 3]
        [--backends dygraph,inference,inference-bf16,lite] [--batches 1,4]

Random weights (speed does not depend on them). For each engine and batch size: the keypoint
detector, the generator uncached (the whole generator per frame, as PaddleGAN's export) and
cached (source encoder once, per-frame decoder), and end to end = keypoint detector + cached
generator per driving frame; and how far each engine's frames are from dygraph fp32 (bf16
trades accuracy for speed). Exports go to a temporary cache folder.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(fn, repeats):
    fn()  # warm-up: oneDNN primitive creation, Lite's first run
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="firstorder_vox_256")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="dygraph,inference,inference-bf16,lite")
    parser.add_argument("--batches", default="1,4")
    args = parser.parse_args()

    import numpy as np

    from ppfom.api import load_fomm
    from ppfom.infer import create_engine
    from ppfom.kp_norm import normalize_kp

    fomm = load_fomm(args.config, weights=args.weights)
    rng = np.random.default_rng(0)
    cache_dir = tempfile.mkdtemp(prefix="ppfom-bench-")
    rows = []
    # Accuracy next to speed: the cached prediction of each engine against dygraph fp32.
    probe_source = rng.uniform(0, 1, (1, 3, args.size, args.size)).astype("float32")
    probe_driving = rng.uniform(0, 1, (2, 3, args.size, args.size)).astype("float32")
    reference = create_engine(fomm, "dygraph", size=args.size)
    probe_kp_source, probe_kp_driving = reference.keypoints(probe_source), reference.keypoints(probe_driving)
    expected = reference.generate(reference.encode_source(probe_source), probe_kp_source, probe_kp_driving)
    for name in args.backends.split(","):
        backend, _, precision = name.partition("-")
        engine = create_engine(fomm, backend, size=args.size, precision=precision or "fp32", cache_dir=cache_dir)
        got = engine.generate(engine.encode_source(probe_source), probe_kp_source, probe_kp_driving)
        error = float(np.abs(got - expected).max())
        for batch in [int(b) for b in args.batches.split(",")]:
            source = rng.uniform(0, 1, (1, 3, args.size, args.size)).astype("float32")
            driving = rng.uniform(0, 1, (batch, 3, args.size, args.size)).astype("float32")
            kp_source = engine.keypoints(source)
            kp_driving = normalize_kp(kp_source, engine.keypoints(driving), kp_source, use_relative_movement=True,
                                      use_relative_jacobian=True)
            cache = engine.encode_source(source)
            t_kp = timed(lambda: engine.keypoints(driving), args.repeats) / batch
            t_full = timed(lambda: engine.generate_uncached(source, kp_source, kp_driving), args.repeats) / batch
            t_enc = timed(lambda: engine.encode_source(source), args.repeats)
            t_cached = timed(lambda: engine.generate(cache, kp_source, kp_driving), args.repeats) / batch
            rows.append((name, batch, t_kp, t_full, t_enc, t_cached, t_kp + t_cached, error))
            print(f"  measured {name} batch {batch}", file=sys.stderr, flush=True)

    print(f"config {args.config}, {args.size}x{args.size}, {os.cpu_count()} cores; seconds per frame (median of "
          f"{args.repeats}); source encoder: seconds once per source")
    header = ("engine", "batch", "kp det.", "gen. uncached", "src encoder", "gen. cached", "end to end",
              "max abs diff to dygraph")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, batch, *times, error in rows:
        print(f"| {name} | {batch} | " + " | ".join(f"{t:.3f}" for t in times) + f" | {error:.1e} |")


if __name__ == "__main__":
    main()
