"""``python -m kino_backend warp_frames INPUT --transforms FILE --out DIR``: warp each frame of a video
or image folder by its matrix from a ``transforms.json`` (docs/cli.md) and write ``frame_NNNN.png``.

Used by ``scripts/kino stabilize`` (Blender computes the transforms; Blender's Python has no OpenCV,
so the pixels are warped here). ``--inverse`` applies the inverse matrices (restores the camera
motion of stabilized frames). ``--frames START:END`` (1-based, inclusive) picks the source frames;
output frames are numbered from 1 and use the transforms' frames 1, 2, ... ``--border fill`` (the
default) fills what the warp uncovers from the neighbouring frames along the motion
(``stages.stabilize_fill``), never by stretching edge pixels. ``DIR/kino.json`` records the command
that makes DIR again (``scripts/kino stabilize`` replaces it with its own, fuller record).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import List

import cv2
import numpy as np

from kino_addon.core.file_stamps import input_digest
from kino_addon.core.kino_command import command_line as command_line_of
from kino_addon.protocol.atomic import atomic_write_json

from ..provenance import versions
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
    if last - first + 1 > len(m):  # found before any frame is written over
        raise ValueError(f"--frames {first}:{last} selects {last - first + 1} frames, but {args.transforms} has "
                         f"{len(m)} matrices")
    prepare_out(args.out)
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
    write_record(args, n, first)
    print(json.dumps({"frames": n, "out": os.path.abspath(args.out)}))
    return 0


OURS = re.compile(r"frame_\d{4,}\.png$|kino\.json$|transforms\.json$")  # stabilize writes transforms.json there


def prepare_out(out: str) -> None:
    """Make ``out``; refuse one holding files that are not frames of an earlier run; drop an earlier
    ``kino.json`` (written again when this run has finished: a failed run leaves no record of another)."""
    os.makedirs(out, exist_ok=True)
    other = sorted(n for n in os.listdir(out) if not OURS.match(n) and not n.startswith("."))
    if other:
        raise ValueError(f"--out {out} holds files that are not warped frames ({', '.join(other[:3])}); use an empty "
                         "or new folder")
    if os.path.exists(os.path.join(out, "kino.json")):
        os.remove(os.path.join(out, "kino.json"))


def _identity(path: str) -> dict:
    return {"path": os.path.abspath(path), "files_digest": input_digest(path)}


def write_record(args, count: int, first: int) -> None:
    """``DIR/kino.json``: the command that writes these frames again, and what they came from."""
    command = ["warp_frames", os.path.abspath(args.input), "--transforms",
               os.path.abspath(args.transforms), "--out", os.path.abspath(args.out)]
    command += ["--frames", f"{args.frames[0]}:{args.frames[1]}"] if args.frames else []
    command += ["--inverse"] if args.inverse else []
    command += ["--border", args.border, "--interpolation", args.interpolation]
    doc = {"kino_warp_frames": 1, "status": "completed", "command": command_line_of(command),
           "source": {"input": _identity(args.input), "transforms": _identity(args.transforms)},
           "frames": {"count": count, "first": 1, "source_first": first, "pattern": "frame_%04d.png"},
           "settings": {"inverse": args.inverse, "border": args.border, "interpolation": args.interpolation},
           "versions": versions()}
    atomic_write_json(os.path.join(args.out, "kino.json"), doc, indent=2)


if __name__ == "__main__":
    from . import run_module
    sys.exit(run_module(__package__, ["warp_frames"], ["warp_frames"] + sys.argv[1:], ""))
