"""``python -m kino_backend find_face INPUT [--frames START:END] [--json]``: the actor's face region.

Runs mediapipe's bundled (offline) face detector on the selected frames (1-based, inclusive; default
1:5) of a video file or image folder and prints ``{"region": [x, y, w, h], "score", "frames"}`` in
source pixels (origin top-left, y down): the median box of the most confident face per frame. Exits
1 with a clear message when no frame shows a face. The detection is ``kino_backend.face_region``, the
same code that answers the ``face.find`` request the add-on sends for ``--track-region face``.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List

from ..face_region import MIN_CONFIDENCE, NoFace, NoFrames, face_region
from ..stabilize_metrics import iter_frames


def find_face(path: str, first: int = 1, last: int = 5, min_confidence: float = MIN_CONFIDENCE) -> dict:
    """The face region of frames ``first..last`` of ``path`` (see ``face_region``), with ``frames``."""
    try:
        found = face_region(iter_frames(path, first, last), min_confidence)
    except NoFace:
        raise LookupError(f"no face found in frames {first}:{last} of {path}; give the region yourself with "
                          "--track-region X,Y,W,H") from None
    except NoFrames:
        raise ValueError(f"{path} has no frames {first}:{last}") from None
    return {"region": found["region"], "score": found["score"], "frames": [first, last],
            "found_in": found["found_in"], "people": found["people"]}


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="kino_backend find_face", description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("--frames", default="1:5", help="START:END, 1-based, inclusive")
    ap.add_argument("--json", action="store_true", help="print one JSON object (the default output too)")
    args = ap.parse_args(argv)
    try:
        first, last = (int(v) for v in args.frames.split(":"))
    except ValueError:
        raise ValueError(f"--frames must look like START:END, got {args.frames!r}") from None
    print(json.dumps(find_face(args.input, first, last)))
    return 0


if __name__ == "__main__":
    from . import run_module
    sys.exit(run_module(__package__, ["find_face"], ["find_face"] + sys.argv[1:], ""))
