"""``python -m kino_backend interpolate FRAMES --factor K --out DIR [--cut-threshold X] [--straight]``
(``scripts/kino interpolate``): insert K-1 frames between each pair of frames.

FRAMES is a folder of images (sorted by name; e.g. a stylized folder) or a video. DIR receives
``(n - 1) * K + 1`` frames ``frame_NNNN.png``, the inputs unchanged at positions 1, K+1, 2K+1, ...,
and a ``kino.json`` that reproduces it. Hard cuts are detected and never interpolated across: the
frames between two shots repeat the last frame of the first shot, then the first of the next.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from typing import List

import cv2

from kino_addon.core.frame_files import OutputFolderError
from kino_addon.protocol.atomic import atomic_write_json

from ..interpolation.sequence import CUT_THRESHOLD, Interpolator
from ..metrics.frames import read_frames
from ..provenance import versions
from .output_dir import OutputDir

FRAME_RE = re.compile(r"^frame_\d{4,}\.png$")


class UsageError(ValueError):
    pass


def _check_out(src: str, out: str) -> None:
    if os.path.abspath(src) == os.path.abspath(out):
        raise UsageError("--out must be another folder than the input frames")


def _write(path: str, image) -> None:
    tmp = path + ".part.png"
    if not cv2.imwrite(tmp, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path} (disk full or no permission?)")
    os.replace(tmp, path)


def run(args) -> dict:
    if not os.path.exists(args.frames):
        raise UsageError(f"{args.frames} does not exist; give a folder of frames (or a video)")
    _check_out(args.frames, args.out)
    with OutputDir(args.out, FRAME_RE, "frames") as out:  # lands in args.out only when complete
        doc = _interpolate(args, out.staging)
        atomic_write_json(os.path.join(out.staging, "kino.json"), doc, indent=2)
    return doc


def _interpolate(args, folder: str) -> dict:
    interp = Interpolator(args.factor, cut_threshold=args.cut_threshold, curved=not args.straight)
    size = None
    for n, image in enumerate(interp.run(read_frames(args.frames)), start=1):
        size = size or (image.shape[1], image.shape[0])
        _write(os.path.join(folder, f"frame_{n:04d}.png"), image)
    rep = interp.report
    if rep.inputs == 0:
        raise UsageError(f"{args.frames} holds no frames")
    command = ["scripts/kino", "interpolate", os.path.abspath(args.frames), "--factor", str(args.factor), "--out",
               os.path.abspath(args.out)]
    if args.cut_threshold != CUT_THRESHOLD:
        command += ["--cut-threshold", str(args.cut_threshold)]
    if args.straight:
        command.append("--straight")
    doc = {"kino_interpolate": 1, "status": "completed", "command": shlex.join(command),
           "input": os.path.abspath(args.frames), "factor": args.factor,
           "frames": {"count": rep.outputs, "pattern": "frame_%04d.png", "width": size[0], "height": size[1],
                      "inputs": rep.inputs, "input_positions": [1 + i * args.factor for i in range(rep.inputs)]},
           "cuts": rep.cuts, "held_pairs": rep.held_pairs,
           "settings": {"cut_threshold": args.cut_threshold, "curved_paths": not args.straight, "flow": "dis"},
           "versions": versions()}
    return doc


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="scripts/kino interpolate", description=__doc__.splitlines()[0])
    ap.add_argument("frames", metavar="FRAMES", help="folder of frames (sorted by name) or a video file")
    ap.add_argument("--factor", type=int, required=True, help="K: K-1 new frames between each pair (K >= 2)")
    ap.add_argument("--out", required=True, metavar="DIR", help="folder for frame_NNNN.png and kino.json")
    ap.add_argument("--cut-threshold", type=float, default=CUT_THRESHOLD,
                    help=f"hard-cut detection: motion-compensated mean residual 0-1 (default {CUT_THRESHOLD})")
    ap.add_argument("--straight", action="store_true", help="straight motion paths only (no acceleration)")
    args = ap.parse_args(argv)
    if not 2 <= args.factor <= 16:
        print(f"kino interpolate: --factor must be 2 to 16, got {args.factor}", file=sys.stderr)
        return 2
    try:
        doc = run(args)
    except (UsageError, OutputFolderError) as exc:
        print(f"kino interpolate: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # unreadable or mismatched frames: the reason is in the message
        print(f"kino interpolate: {exc}", file=sys.stderr)
        return 1
    cuts = f"; cuts before input frame(s) {', '.join(map(str, doc['cuts']))} held, not interpolated" if doc["cuts"] else ""
    print(f"kino interpolate: {doc['frames']['inputs']} -> {doc['frames']['count']} frames in "
          f"{os.path.abspath(args.out)}{cuts}")
    return 0
