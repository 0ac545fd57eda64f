"""``scripts/kino stabilize INPUT [--track-region X,Y,W,H|face] --out DIR`` (contract §3).

Tracks INPUT (a video file or a folder of images) with Blender's tracker, solves the stabilizing
transforms with Kino's robust solver and writes ``DIR/transforms.json`` and the stabilized
``DIR/frame_NNNN.png`` (the pixels are warped by the backend interpreter, which has OpenCV). DIR holds
nothing else. ``--frames START:END`` (1-based, inclusive) limits the frames; ``--zoom`` scales the
frames just enough to hide every border; ``--json`` prints a summary object on the last line.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import List

from ...core.files import OutputFolderError, make_output_folder
from ...core.plan import PlanError, parse_frame_range
from ...core.stabilize_solve import transforms_document
from .runtime import OutputFolder
from ..stabilize_job import REPO_ROOT, StabilizeError, backend_python, stabilization_for_path

FRAME_PREFIX, TRANSFORMS = "frame_", "transforms.json"


def prepare_out_dir(out: str) -> None:
    """Create DIR, or clear Kino's earlier output in it; refuse a folder holding anything else."""
    try:
        make_output_folder(out)
    except OutputFolderError as exc:
        raise StabilizeError(str(exc)) from None
    names = os.listdir(out)
    foreign = [n for n in names if not (n == TRANSFORMS or (n.startswith(FRAME_PREFIX) and n.endswith(".png")))]
    if foreign:
        raise StabilizeError(f"--out {out} already holds other files ({', '.join(sorted(foreign)[:3])}); "
                             "give an empty or new folder")
    for n in names:
        os.remove(os.path.join(out, n))


def warp_with_backend(input_path: str, transforms: str, out: str, first: int, last: int) -> None:
    cmd = [backend_python(), "-m", "kino_backend.commands.warp_frames", input_path, "--transforms", transforms,
           "--out", out, "--frames", f"{first}:{last}"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO_ROOT, "backend"), REPO_ROOT]))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise StabilizeError((proc.stderr.strip().splitlines() or ["warping the frames failed"])[-1])


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="kino stabilize", description=__doc__.splitlines()[0])
    ap.add_argument("input", help="video file or folder of images")
    ap.add_argument("--track-region", default=None, help="X,Y,W,H (source pixels, first frame) or face")
    ap.add_argument("--out", required=True, help="output folder (frame_NNNN.png + transforms.json)")
    ap.add_argument("--frames", default=None, help="START:END, 1-based, inclusive")
    ap.add_argument("--zoom", action="store_true", help="scale up just enough to hide every border")
    ap.add_argument("--json", action="store_true", help="print a JSON summary on the last line")
    args = ap.parse_args(argv)
    folder = None
    try:
        first, last = parse_frame_range(args.frames) if args.frames else (1, None)
        asked = last
        if not os.path.exists(args.input):
            raise StabilizeError(f"input {args.input} does not exist; give a video file or a folder of images")
        result = stabilization_for_path(args.input, first, last, args.track_region, zoom=args.zoom)
        first, last = result["frames"]
        notes = list(result.get("notes") or [])
        if asked is not None and last < asked:
            notes.append(f"--frames {first}:{asked} goes past the clip's last frame; stabilized {first}:{last}")
        out = os.path.abspath(args.out)
        folder = OutputFolder(out)
        folder.created = not os.path.isdir(out)
        prepare_out_dir(out)
        extra = {k: result[k] for k in ("mode", "tracks_used", "tracks_total", "tracks_source", "smoothing",
                                        "zoom", "residual_px", "region") if k in result}
        doc = transforms_document(result["matrices"], result["width"], result["height"],
                                  source=os.path.abspath(args.input), source_frames=[first, last], **extra)
        path = os.path.join(out, TRANSFORMS)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
        warp_with_backend(os.path.abspath(args.input), path, out, first, last)
    except (StabilizeError, PlanError, OSError) as exc:
        if folder is not None:
            folder.discard_if_empty()
        print(f"kino stabilize: error: {exc}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"kino stabilize: note: {note}", file=sys.stderr)
    summary = dict(extra, frames=last - first + 1, out=out, width=result["width"], height=result["height"])
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"stabilized {summary['frames']} frames ({result['mode']} lock, {result['tracks_used']} of "
              f"{result['tracks_total']} tracks) -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
