"""``python -m kino_backend find_face INPUT [--frames START:END] [--json]``: the actor's face region.

Runs mediapipe's bundled (offline) face detector on the selected frames (1-based, inclusive; default
1:5) of a video file or image folder and prints ``{"region": [x, y, w, h], "score", "frames"}`` in
source pixels (origin top-left, y down): the median box of the most confident face per frame. Exits
1 with a clear message when no frame shows a face. Blender calls this (its Python has no mediapipe)
for ``--track-region face``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

import numpy as np

from ..stabilize_metrics import iter_frames


def detect_face(frame: np.ndarray, detector) -> Optional[tuple]:
    """(x, y, w, h, score) of the most confident face in an RGB frame, or None."""
    h, w = frame.shape[:2]
    result = detector.process(np.ascontiguousarray(frame))
    best = None
    for det in result.detections or ():
        box = det.location_data.relative_bounding_box
        score = float(det.score[0]) if det.score else 0.0
        if best is None or score > best[4]:
            best = (box.xmin * w, box.ymin * h, box.width * w, box.height * h, score)
    return best


def find_face(path: str, first: int = 1, last: int = 5, min_confidence: float = 0.5) -> dict:
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        import mediapipe as mp
    except ImportError:
        raise RuntimeError("mediapipe is not installed in the backend environment; run scripts/setup_env.sh "
                           "backend (mediapipe 0.10.21 ships the face detector)") from None
    boxes = []
    with mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_confidence) as fd:
        size = None
        for frame in iter_frames(path, first, last):
            size = frame.shape[:2]
            found = detect_face(frame, fd)
            if found is not None:
                boxes.append(found)
    if size is None:
        raise ValueError(f"{path} has no frames {first}:{last}")
    if not boxes:
        raise LookupError(f"no face found in frames {first}:{last} of {path}; give the region yourself with "
                          "--track-region X,Y,W,H")
    b = np.median(np.array(boxes), axis=0)
    h, w = size
    x0, y0 = max(0.0, b[0]), max(0.0, b[1])
    x1, y1 = min(float(w), b[0] + b[2]), min(float(h), b[1] + b[3])
    return {"region": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
            "score": round(float(b[4]), 4), "frames": [first, last], "found_in": len(boxes)}


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
