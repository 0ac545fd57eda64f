"""``python -m kino_backend warp_frames INPUT --transforms FILE --out DIR``: warp each frame of a video
or image folder by its matrix from a ``transforms.json`` (docs/cli.md) and write ``frame_NNNN.png``.

Used by ``scripts/kino stabilize`` (Blender computes the transforms; Blender's Python has no OpenCV,
so the pixels are warped here). ``--inverse`` applies the inverse matrices (restores the camera
motion of stabilized frames). ``--frames START:END`` (1-based, inclusive) picks the source frames;
output frames are numbered from 1 and use the transforms' frames 1, 2, ... ``--border fill`` (the
default) fills what the warp uncovers from the neighbouring frames along the motion
(``stages.stabilize_fill``), never by stretching edge pixels.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List

import cv2
import numpy as np

from ..stabilize_metrics import iter_frames
from ..stages.stabilize import BORDER_CHOICES, INTERPOLATIONS, warp
from ..stages.stabilize_fill import NeighbourFill, Warped, coverage


def _frames(text: str):
    try:
        a, b = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--frames must look like START:END, got {text!r}") from None
    if a < 1 or b < a:
        raise argparse.ArgumentTypeError(f"--frames {text}: START must be >= 1 and END >= START")
    return a, b


def load_matrices(path: str) -> np.ndarray:
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    frames = sorted(doc["frames"], key=lambda f: f["frame"])
    m = np.array([f["matrix"] for f in frames], dtype=np.float64)
    if m.ndim != 3 or m.shape[1:] != (2, 3):
        raise ValueError(f"{path}: every frame needs a 2x3 matrix")
    return m


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="kino_backend warp_frames", description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("--transforms", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames", type=_frames, default=None)
    ap.add_argument("--inverse", action="store_true")
    ap.add_argument("--border", choices=BORDER_CHOICES, default="fill")
    ap.add_argument("--interpolation", choices=tuple(INTERPOLATIONS), default="lanczos")
    args = ap.parse_args(argv)
    m = load_matrices(args.transforms)
    first, last = args.frames or (1, len(m))
    os.makedirs(args.out, exist_ok=True)
    n = 0
    fill = NeighbourFill() if args.border == "fill" and not args.inverse else None

    def warped():
        for k, frame in enumerate(iter_frames(args.input, first, last), start=1):
            if k > len(m):
                raise ValueError(f"{args.transforms} has {len(m)} matrices but more frames were selected")
            size = (frame.shape[1], frame.shape[0])
            out = warp(frame, m[k - 1], inverse=args.inverse, border=args.border, interpolation=args.interpolation)
            yield Warped(k, out, None, coverage(m[k - 1], size, size) if fill is not None else None)

    for item in (fill.run(warped()) if fill is not None else warped()):
        n = item.payload
        path = os.path.join(args.out, f"frame_{n:04d}.png")
        if not cv2.imwrite(path, cv2.cvtColor(item.image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {path}")
    if n < len(m):
        raise ValueError(f"{args.input} gave {n} frames for {len(m)} transforms; check --frames")
    print(json.dumps({"frames": n, "out": os.path.abspath(args.out)}))
    return 0


if __name__ == "__main__":
    from . import run_module
    sys.exit(run_module(__package__, ["warp_frames"], ["warp_frames"] + sys.argv[1:], ""))
