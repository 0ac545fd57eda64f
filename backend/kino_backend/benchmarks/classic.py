"""``python -m kino_backend bench classic [--clip PATH] [--looks toon,paint] [--repeat N] [--json]``

Times the classic looks (ms per frame, wall clock and process CPU) on a real frame at 512x512 and
at 1920x1080 (the same frame scaled up). The machine's load changes wall-clock numbers a lot; the CPU
time is the steadier figure. Nothing is asserted: this is a measurement.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import List

import cv2
import numpy as np

from ..stages import get_stage

LOOKS = ("toon", "paint", "pencil", "watercolor")
SIZES = {"512x512": (512, 512), "1920x1080": (1920, 1080)}


def _test_card(width: int = 1920, height: int = 1080, seed: int = 3) -> np.ndarray:
    """A deterministic frame with the structure looks react to: gradients, hard edges, fine texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin(x / 37.0) * np.cos(y / 23.0)], -1) * 200
    for _ in range(40):
        cx, cy, r = int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(20, 160))
        cv2.circle(img, (cx, cy), r, tuple(float(v) for v in rng.integers(0, 255, 3)), -1)
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _frame(path: str) -> np.ndarray:
    cap = cv2.VideoCapture(path)
    ok, bgr = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"cannot read a frame from {path}; pass --clip with a video OpenCV can open")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _time(stage, image: np.ndarray, repeat: int) -> dict:
    stage.apply(image)  # warm the texture caches, as a running job has them
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        stage.apply(image)
        wall.append((time.perf_counter() - t) * 1000.0)
        cpu.append((time.process_time() - c) * 1000.0)
    return {"wall_ms_min": round(min(wall), 1), "wall_ms_median": round(float(np.median(wall)), 1),
            "cpu_ms_min": round(min(cpu), 1)}


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="kino_backend bench classic", description=__doc__.split("\n\n")[1])
    ap.add_argument("--clip", default=None, help="video whose first frame is used (default: a synthetic test "
                    "card made here; the README's figures used runner_tracking_shot.mp4)")
    ap.add_argument("--looks", default=",".join(LOOKS), help="comma-separated looks to time")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per look and size")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    source = _frame(args.clip) if args.clip else _test_card()
    results = {"cv2_threads": cv2.getNumThreads(), "clip": args.clip or "synthetic test card", "looks": {}}
    for name in [n.strip() for n in args.looks.split(",") if n.strip()]:
        stage = get_stage(name)
        results["looks"][name] = {label: _time(stage, cv2.resize(source, size, interpolation=cv2.INTER_CUBIC),
                                               max(1, args.repeat)) for label, size in SIZES.items()}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"cv2 threads: {results['cv2_threads']}")
    for name, by_size in results["looks"].items():
        for label, r in by_size.items():
            print(f"{name:11s} {label:10s} wall min {r['wall_ms_min']:7.1f} ms  median {r['wall_ms_median']:7.1f} ms"
                  f"  cpu {r['cpu_ms_min']:7.1f} ms")
    return 0
