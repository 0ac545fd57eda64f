"""``scripts/kino stabilize INPUT [--track-region X,Y,W,H|face] [--frames START:END] [--zoom] [--json]
--out DIR`` (also ``python -m kino_addon.blender.stabilize.command``).

Tracks INPUT (a video file or a folder of images) with Blender's tracker, solves the stabilizing
transforms with Kino's robust solver and writes ``DIR/transforms.json`` and the stabilized
``DIR/frame_NNNN.png`` (the pixels are warped by a local backend interpreter, which has OpenCV, as a
one-shot ``warp_frames`` command; ``--track-region face`` asks the add-on's backend connection,
``face.find``, started as the preferences or ``KINO_BACKEND_PYTHON`` say), then ``DIR/kino.json``
(the command that reproduces DIR, the tracking's figures, versions). DIR holds nothing else.
``--frames START:END`` (1-based, inclusive) limits the frames; ``--zoom`` scales the frames just enough
to hide every border; ``--json`` prints a summary object on the last line.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from typing import List

from ...core.file_stamps import input_digest
from ...core.frame_files import PARTIAL_DIR
from ...core.kino_command import command_line as kino_command_line
from ...core.media import read_outside_blender
from ...core.plan import PlanError, parse_frame_range
from ...core.sidecar import SIDECAR, build_sidecar, write_sidecar
from ...core.stabilize_solve import transforms_document
from ..cli import ArgParser, CommandError, OutputFolder, run_command
from ..connection import BACKEND, run_backend_tool
from ..prefs import PreferenceError
from .tracking import TrackingError
from .transforms import StabilizeError, stabilization_for_path

FRAME_PREFIX, TRANSFORMS = "frame_", "transforms.json"


def build_parser() -> ArgParser:
    ap = ArgParser(prog="scripts/kino stabilize", description="Camera-lock (or region-lock) a clip with "
                   "Blender's tracker; writes the stabilized frames and transforms.json.")
    ap.add_argument("input", help="video file or folder of images")
    ap.add_argument("--track-region", default=None, help="X,Y,W,H (source pixels, first frame) or face")
    ap.add_argument("--out", required=True, help="output folder (frame_NNNN.png + transforms.json)")
    ap.add_argument("--frames", default=None, help="START:END, 1-based, inclusive")
    ap.add_argument("--zoom", action="store_true", help="scale up just enough to hide every border")
    ap.add_argument("--json", action="store_true", help="print a JSON summary on the last line")
    return ap


def prepare_out_dir(out: str) -> None:
    """Create DIR, or clear Kino's earlier output in it; refuse a folder holding anything else."""
    OutputFolder(out).open()
    names = os.listdir(out)
    ours = (TRANSFORMS, SIDECAR, PARTIAL_DIR)
    foreign = [n for n in names if not (n in ours or (n.startswith(FRAME_PREFIX) and n.endswith(".png")))]
    if foreign:
        raise CommandError(f"--out {out} already holds other files ({', '.join(sorted(foreign)[:3])}); "
                           "give an empty or new folder")
    for n in names:
        path = os.path.join(out, n)
        if os.path.isdir(path):  # a killed run's temporary folder
            shutil.rmtree(path)
        else:
            os.remove(path)


def command_line(args) -> str:
    """The ``kino.json`` reproduce line."""
    parts = ["stabilize", os.path.abspath(args.input)]
    parts += ["--track-region", args.track_region] if args.track_region else []
    parts += ["--frames", args.frames] if args.frames else []
    parts += ["--zoom"] if args.zoom else []
    return kino_command_line(parts + ["--out", os.path.abspath(args.out)])


def write_record(args, out: str, summary: dict, first: int, notes: list) -> None:
    """``DIR/kino.json``: what was tracked and how, and the command that makes DIR again."""
    import bpy
    from .. import addon
    data = build_sidecar(
        status="completed", source={"input": os.path.abspath(args.input), "width": summary["width"],
                                    "height": summary["height"], "files_digest": input_digest(args.input)},
        workflow={"stabilize": {"track_region": args.track_region or "", "zoom": bool(args.zoom)}},
        options={}, frames={"count": summary["frames"], "first": 1, "source_first": first, "done": summary["frames"]},
        provenance={"stabilize": {k: v for k, v in summary.items() if k not in ("out", "frames")}, "notes": notes,
                    "transforms": TRANSFORMS},
        versions={"kino": addon.version(), "blender": bpy.app.version_string}, command=command_line(args),
        reused=0, frames_independent=True)
    write_sidecar(out, data)


def warp_with_backend(input_path: str, transforms: str, out: str, first: int, last: int) -> None:
    proc = run_backend_tool("kino_backend.commands.warp_frames", [input_path, "--transforms", transforms,
                                                                  "--out", out, "--frames", f"{first}:{last}"])
    if proc.returncode != 0:
        raise CommandError((proc.stderr.strip().splitlines() or ["warping the frames failed"])[-1])


def stabilize(args) -> dict:
    """Track, solve, write transforms.json and the warped frames; returns the summary."""
    first, last = parse_frame_range(args.frames) if args.frames else (1, None)
    asked = last
    if not os.path.exists(args.input):
        raise CommandError(f"input {args.input} does not exist; give a video file or a folder of images")
    unreadable = read_outside_blender(args.input)  # the warp reads the files with OpenCV
    if unreadable:
        raise CommandError(unreadable)
    result = stabilization_for_path(args.input, first, last, args.track_region, zoom=args.zoom)
    first, last = result["frames"]
    notes = list(result.get("notes") or [])
    if asked is not None and last < asked:
        notes.append(f"--frames {first}:{asked} goes past the clip's last frame; stabilized {first}:{last}")
    for note in notes:
        print(f"kino stabilize: note: {note}", file=sys.stderr)
    out = os.path.abspath(args.out)
    prepare_out_dir(out)
    extra = {k: result[k] for k in ("mode", "tracks_used", "tracks_total", "tracks_source", "smoothing",
                                    "zoom", "residual_px", "region") if k in result}
    doc = transforms_document(result["matrices"], result["width"], result["height"],
                              source=os.path.abspath(args.input), source_frames=[first, last], **extra)
    path = os.path.join(out, TRANSFORMS)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
    warp_with_backend(os.path.abspath(args.input), path, out, first, last)
    summary = dict(extra, frames=last - first + 1, out=out, width=result["width"], height=result["height"])
    write_record(args, out, summary, first, notes)
    return summary


def main(argv: List[str]) -> int:
    def body() -> int:
        args = build_parser().parse_args(argv)
        try:
            summary = stabilize(args)
        except (StabilizeError, TrackingError, PlanError, PreferenceError, OSError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            BACKEND.stop()  # started only for --track-region face (face.find)
        if args.json:
            print(json.dumps(summary))
        else:
            print(f"stabilized {summary['frames']} frames ({summary['mode']} lock, {summary['tracks_used']} of "
                  f"{summary['tracks_total']} tracks) -> {summary['out']}")
        return 0
    return run_command("stabilize", body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
