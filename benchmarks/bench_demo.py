"""Whole-demo speed and memory (run by hand; prints a table).

    .venv/bin/python benchmarks/bench_demo.py [--speed] [--memory] [--long_minutes 10]

--speed: frames per second of the whole demo (detect, crop, keypoints, generate, paste, encode
    H.264 with sound) at 256 on the built-in sample, with the vox-256 architecture (random
    weights: speed does not depend on them), one face and all three faces, per engine.
--memory: peak RSS of the demo for a 10-second and a 10-minute driving video. Memory growth
    is a property of the pipeline, not of the network, so this uses a tiny network and small
    driving frames to keep the 10-minute run short; each run is a fresh process.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def child(options_json):
    """Run one demo in this process and print its summary with the peak RSS."""
    from ppfom.pipeline.animate import AnimateOptions, animate_photo

    summary = animate_photo(AnimateOptions(**json.loads(options_json)), progress=False, say=lambda m: None)
    summary["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(summary))


def run_child(options):
    result = subprocess.run([sys.executable, __file__, "--child", json.dumps(options)], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def random_weights(config, folder):
    import paddle

    from ppfom import load_fomm

    path = Path(folder) / f"{Path(str(config)).stem}-random.pdparams"
    if not path.exists():
        paddle.save(load_fomm(config).state_dicts(), str(path))
    return str(path)


def driving_clip(path, seconds, size):
    from ppfom.pipeline.media import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size={size}x{size}:rate=25:duration={seconds}", "-f", "lavfi", "-i",
                    f"sine=frequency=330:duration={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", str(path)], check=True)
    return str(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--engines", default="inference,dygraph")
    parser.add_argument("--long_minutes", type=float, default=10)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    if not (args.speed or args.memory):
        args.speed = args.memory = True

    import yaml

    from helpers import tiny_config
    from ppfom.data.sample import ensure_sample

    work = Path(tempfile.mkdtemp(prefix="ppfom-bench-demo-"))
    sample = ensure_sample()
    base = {"source_image": str(sample["source"]), "relative": True, "adapt_scale": True, "detector": "opencv",
            "overwrite": True}
    rows = []
    if args.speed:
        weights = random_weights("firstorder_vox_256", work)
        for engine in args.engines.split(","):
            for multi in (False, True):
                options = dict(base, driving_video=str(sample["driving"]), output=str(work / "speed.mp4"),
                               config="firstorder_vox_256", weight_path=weights, engine=engine,
                               multi_person=multi, batch_size=4)
                s = run_child(options)
                rows.append(("speed", f"vox-256, {engine}, {s['faces']} face(s)", s["frames"],
                             s["frames"] / s["seconds"], s["peak_rss_mb"]))
    if args.memory:
        (work / "tiny.yaml").write_text(yaml.safe_dump(tiny_config()))
        weights = random_weights(work / "tiny.yaml", work)
        for label, seconds in (("10 s", 10), (f"{args.long_minutes:g} min", args.long_minutes * 60)):
            clip = driving_clip(work / f"drive-{seconds:g}.mp4", seconds, 64)
            options = dict(base, driving_video=clip, output=str(work / "memory.mp4"), config=str(work / "tiny.yaml"),
                           weight_path=weights, engine="inference", multi_person=False, batch_size=8)
            started = time.perf_counter()
            s = run_child(options)
            rows.append(("memory", f"tiny network, {label} driving video", s["frames"],
                         s["frames"] / (time.perf_counter() - started), s["peak_rss_mb"]))
    print(f"{os.cpu_count()} cores; the whole demo, H.264 output with sound")
    print("| what | run | frames | frames/s | peak RSS (MB) |")
    print("|---|---|---|---|---|")
    for kind, label, frames, fps, rss in rows:
        print(f"| {kind} | {label} | {frames} | {fps:.2f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
