"""Prove fomm_torch.py reproduces the original FOMM: load the fixture's weights, rerun, compare.

    .venv-latest/bin/python tests/reference/check_against_fixture.py [--fixture PATH] [--checkpoint PATH]

Exit status 0 when every stored output is within tolerance (the fixture README's), 1 otherwise.
With --checkpoint (an original-layout .pth.tar) the weights come from that file instead of the npz,
which also checks strict loading of a real original checkpoint. --fixture also accepts an npz written by
make_reference.py (its normalisation is read from meta_json). --float64 reruns in double precision,
to measure how well conditioned a fixture's outputs are.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fomm_torch as ft  # noqa: E402

DEFAULT_FIXTURE = "/work/shared/fixtures/fomm_small.npz"

TOLERANCES = {
    "kp_source/value": 1e-4, "kp_source/jacobian": 1e-4,
    "kp_driving/value": 1e-4, "kp_driving/jacobian": 1e-4,
    "kp_driving_initial/value": 1e-4, "kp_driving_initial/jacobian": 1e-4,
    "kp_norm/value": 1e-4, "kp_norm/jacobian": 1e-4,
    "normalize/adapt_movement_scale": 1e-4,
    "out/mask": 1e-4, "out/occlusion_map": 1e-4, "dense_motion/deformation": 1e-4,
    "out/prediction": 5e-4, "out/deformed": 5e-4, "out/sparse_deformed": 5e-4,
}


def state_dict_from_npz(data, prefix):
    sd = {}
    for key in data.files:
        if key.startswith(prefix + "/"):
            sd[key[len(prefix) + 1:]] = torch.from_numpy(np.array(data[key]))
    return sd


def run_pipeline(kp_detector, generator, source, driving, normalization=None):
    """The fixture README's "What was run": one batched kp call, per-frame normalize + generator."""
    norm = dict(adapt_movement_scale=True, use_relative_movement=True, use_relative_jacobian=True)
    if normalization:
        norm.update(normalization)
    res = {}
    with torch.no_grad():
        kp_source = kp_detector(source)
        kp_driving = kp_detector(driving)
        kp_initial = {k: v[:1] for k, v in kp_driving.items()}
        res["normalize/adapt_movement_scale"] = np.float64(
            ft.movement_scale(kp_source, kp_initial) if norm["adapt_movement_scale"] else 1.0)
        norms, outs = [], []
        for i in range(driving.shape[0]):
            kp_i = {k: v[i:i + 1] for k, v in kp_driving.items()}
            kp_norm = ft.normalize_kp(kp_source, kp_i, kp_initial, **norm)
            norms.append(kp_norm)
            outs.append(generator(source, kp_source=kp_source, kp_driving=kp_norm))
    for name, kp in (("kp_source", kp_source), ("kp_driving", kp_driving), ("kp_driving_initial", kp_initial)):
        for k, v in kp.items():
            res["%s/%s" % (name, k)] = v.numpy()
    for k in norms[0]:
        res["kp_norm/" + k] = torch.cat([n[k] for n in norms]).numpy()
    for k in outs[0]:
        cat = torch.cat([o[k] for o in outs]).numpy()
        res[("dense_motion/" if k == "deformation" else "out/") + k] = cat
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixture", default=DEFAULT_FIXTURE)
    ap.add_argument("--checkpoint", default=None, help="load weights from this original-layout checkpoint")
    ap.add_argument("--float64", action="store_true", help="run the modules in float64")
    args = ap.parse_args(argv)

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    data = np.load(args.fixture)
    config = yaml.safe_load(str(data["config_yaml"]))
    kp_detector, generator = ft.build_from_original_config(config["model_params"])

    if args.checkpoint:
        ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
        kp_sd, gen_sd = ckpt["kp_detector"], ckpt["generator"]
    else:
        kp_sd, gen_sd = state_dict_from_npz(data, "kp_detector"), state_dict_from_npz(data, "generator")
    kp_detector.load_state_dict(kp_sd, strict=True)
    generator.load_state_dict(gen_sd, strict=True)
    kp_detector.eval()
    generator.eval()

    source = torch.from_numpy(data["input/source"])
    driving = torch.from_numpy(data["input/driving"])
    if args.float64:
        kp_detector.double()
        generator.double()
        source, driving = source.double(), driving.double()
    meta = json.loads(str(data["meta_json"])) if "meta_json" in data.files else {}
    got = run_pipeline(kp_detector, generator, source, driving, meta.get("normalization"))

    ok = True
    print("%-32s %12s %10s  %s" % ("output", "max abs err", "tolerance", "status"))
    for key, tol in TOLERANCES.items():
        if key not in data.files or key not in got:
            if key in data.files or key in got:
                print("%-32s %12s %10.0e  only in %s  FAIL" % (key, "-", tol, "fixture" if key in data.files else "run"))
                ok = False
            else:
                print("%-32s %12s %10.0e  absent (config)" % (key, "-", tol))
            continue
        want = np.asarray(data[key], dtype=np.float64)
        have = np.asarray(got[key], dtype=np.float64)
        if want.shape != have.shape:
            print("%-32s shape %s != fixture %s  FAIL" % (key, have.shape, want.shape))
            ok = False
            continue
        err = float(np.max(np.abs(want - have)))
        passed = err <= tol
        ok &= passed
        print("%-32s %12.3e %10.0e  %s" % (key, err, tol, "ok" if passed else "FAIL"))
    print("ALL OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
