"""GPU check (issue 15): the temporal stage's optical flow on the GPU (RAFT) against DIS on the CPU.

Runs the temporal stage (per-frame mode, the pass-through look, so only Kino's own work is timed) over
``--frames`` synthetic 1920x1080 frames of a panning texture, once with ``flow='dis'`` and once with
``flow='raft'`` on CUDA. RAFT-large gets random weights saved as a torchvision state dict and loaded
through the same ``raft_weights`` path a user's file takes (speed does not depend on the weights).
Prints one JSON line: seconds per frame of each and their ratio. Without CUDA or torchvision it prints
``{"skipped": REASON}`` and exits 0.

    python3 scripts/gpu_flow_check.py [--frames 24] [--width 1920 --height 1080]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import cv2
import numpy as np


def panning_frames(n: int, w: int, h: int, dx: float = 6.0) -> list:
    rng = np.random.default_rng(0)
    big = cv2.GaussianBlur(rng.integers(0, 256, (h, w + int(dx * n) + 8, 3), dtype=np.uint8), (0, 0), 2.0)
    return [cv2.warpAffine(big, np.float32([[1, 0, -dx * i], [0, 1, 0]]), (w, h), borderMode=cv2.BORDER_REFLECT)
            for i in range(n)]


def time_temporal(frames: list, params: dict, device: str) -> float:
    from kino_backend.stages import get_stage
    from kino_backend.stages.base import Frame, JobContext

    h, w = frames[0].shape[:2]
    ctx = JobContext(job_id="gpu-flow", frames_total=len(frames), width=w, height=h, device=device)
    look = get_stage("none")
    look_run = look.open(look.validate({}), ctx)
    stage = get_stage("temporal")
    run = stage.open(stage.validate(params), ctx)
    try:
        stream = run.schedule(iter([Frame(i + 1, f, f) for i, f in enumerate(frames)]), look_run)
        next(stream)  # the first frame: models warm, nothing to blend yet
        t0 = time.perf_counter()
        count = sum(1 for _ in stream)
        return (time.perf_counter() - t0) / max(1, count)
    finally:
        run.close()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--width", type=int, default=1920)
    p.add_argument("--height", type=int, default=1080)
    args = p.parse_args(argv)
    try:
        import torch
        from torchvision.models import optical_flow
    except ImportError as exc:
        print(json.dumps({"skipped": f"torchvision is not importable here ({exc})"}))
        return 0
    if not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA GPU"}))
        return 0
    frames = panning_frames(args.frames, args.width, args.height)
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "raft_large_random.pth")
        torch.save(optical_flow.raft_large(weights=None, progress=False).state_dict(), weights)
        dis = time_temporal(frames, {"flow": "dis"}, "cuda")
        raft = time_temporal(frames, {"flow": "raft", "raft_weights": weights}, "cuda")
    print(json.dumps({"frames": args.frames, "size": [args.width, args.height], "gpu": torch.cuda.get_device_name(0),
                      "temporal_dis_cpu_s_per_frame": round(dis, 4), "temporal_raft_gpu_s_per_frame": round(raft, 4),
                      "raft_over_dis": round(raft / dis, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
