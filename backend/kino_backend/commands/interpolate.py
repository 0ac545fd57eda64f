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
import sys
from typing import List

from kino_addon.core.frame_files import OutputFolderError
from kino_addon.core.kino_command import command_line as command_line_of
from kino_addon.protocol.atomic import atomic_write_json

from ..interpolation.formats import conform, format_of, from_work, read_inputs, to_work, write_frame
from ..interpolation.sequence import CUT_THRESHOLD, Interpolator
from ..provenance import versions
from .output_dir import OutputDir

FRAME_RE = re.compile(r"^frame_\d{4,}\.png$")


class UsageError(ValueError):
    pass


def _check_out(src: str, out: str) -> None:
    if os.path.abspath(src) == os.path.abspath(out):
        raise UsageError("--out must be another folder than the input frames")


def _write(path: str, image) -> None:
    if not write_frame(path, image):
        raise OSError(f"cannot write {path} (disk full or no permission?)")


class _Inputs:
    """The input frames as work frames for the interpolator, remembering each one's stored form until it
    has been written back (unchanged) and the clip's format (the first frame's)."""

    def __init__(self, path: str):
        self.path, self.format = path, None
        self._held: dict = {}  # id(work) -> (work, stored frame), in input order

    def __iter__(self):
        for frame in read_inputs(self.path):
            self.format = self.format or format_of(frame)
            frame = conform(frame, self.format)
            work = to_work(frame, self.format)
            self._held[id(work)] = (work, frame)
            yield work

    def stored(self, work):
        """The frame to write for an output: an input as it was read, a made frame in the clip's format."""
        held = self._held.get(id(work))
        if held is None or held[0] is not work:
            return from_work(work, self.format)
        for key in list(self._held):  # inputs before this one are never output again
            if key == id(work):
                break
            del self._held[key]
        return held[1]


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
    inputs = _Inputs(args.frames)
    size = None
    for n, work in enumerate(interp.run(iter(inputs)), start=1):
        size = size or (work.shape[1], work.shape[0])
        _write(os.path.join(folder, f"frame_{n:04d}.png"), inputs.stored(work))
    rep = interp.report
    if rep.inputs == 0:
        raise UsageError(f"{args.frames} holds no frames")
    command = ["interpolate", os.path.abspath(args.frames), "--factor", str(args.factor), "--out",
               os.path.abspath(args.out)]
    if args.cut_threshold != CUT_THRESHOLD:
        command += ["--cut-threshold", str(args.cut_threshold)]
    if args.straight:
        command.append("--straight")
    doc = {"kino_interpolate": 1, "status": "completed", "command": command_line_of(command),
           "input": os.path.abspath(args.frames), "factor": args.factor,
           "frames": {"count": rep.outputs, "pattern": "frame_%04d.png", "width": size[0], "height": size[1],
                      "format": inputs.format.describe(),
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
