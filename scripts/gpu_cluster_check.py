"""Multi-GPU cluster check (a step of ``scripts/gpu_checks.sh``): on a machine with two or more GPUs and
Ray, a local cluster with one Kino worker per GPU stylizes a generated clip with the diffusion look
(Kino's tiny SD 1.5 model, temporal off: frames in parallel) on 1 worker and on all of them, through
``bench cluster``: frames/s for each, the ratio, each worker's device and GPU, and the result checked
against the backend alone. docs/cluster.md says how to read the numbers.

Prints one JSON line. Skips cleanly (``{"skipped": reason}``, exit 0) with fewer than two GPUs or
without Ray (its wheel is larger than what a lent device machine can carry; install it there with
``pip install -r requirements/backend-cluster.txt`` where the machine has a network).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path[:0] = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "backend"),
                os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")]


def gpu_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--width", type=int, default=256)
    args = p.parse_args(argv)
    gpus = gpu_count()
    if gpus < 2:
        print(json.dumps({"skipped": f"{gpus} GPU(s) here; the multi-GPU cluster check needs 2 or more"}))
        return 0
    from kino_backend.cluster import RAY_MISSING, ray_available
    if not ray_available():
        print(json.dumps({"skipped": f"{gpus} GPUs but {RAY_MISSING}"}))
        return 0
    from kino_backend.benchmarks import cluster as bench
    from kino_backend.models.tiny import make_tiny
    tiny = make_tiny(tempfile.mkdtemp(prefix="kino-tiny-"))
    bench_args = bench.build_parser().parse_args([
        "--synthetic", "--frames", str(args.frames), "--width", str(args.width), "--look", "diffusion",
        "--param", f"model={tiny['sd15-tiny.safetensors']}", "--param", "steps=4", "--modes", "temporal_off",
        "--repeat", "1", "--workers", f"1,{gpus}"])
    frames = bench.synthetic_frames(args.frames, args.width)
    report = bench.run_bench(frames, bench_args, [1, gpus], "synthetic pan (generated)")
    report["gpus"] = gpus
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
