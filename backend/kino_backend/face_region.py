"""The actor's face region for ``--track-region face``: mediapipe's bundled (offline) face detector on
a few frames, and the median box of one person's face, in pixels of those frames (origin top-left, y
down). With several people in the shot the faces are grouped by where they are (``same_person``) and
the person seen in the most frames is followed (ties: the larger face); a median over everyone's
boxes lay between the people, on neither face.

One function, ``face_region``, for both callers: the request ``face.find`` (frames the add-on sends
over the socket; ``serving/faces.py``) and ``python -m kino_backend find_face`` (frames read from a
file; ``commands/find_face.py``). mediapipe is imported here lazily, on first use.
"""
from __future__ import annotations

import os
from typing import Iterable, Optional

import numpy as np

MIN_CONFIDENCE = 0.5


class DetectorMissing(RuntimeError):
    """mediapipe (which ships the face detector) is not installed in the backend's environment."""


class NoFrames(ValueError):
    """There was no frame to look at."""


class NoFace(LookupError):
    """No frame showed a face the detector was sure of."""


def detect_faces(frame: np.ndarray, detector) -> list:
    """[(x, y, w, h, score)] of every face in an RGB frame."""
    h, w = frame.shape[:2]
    result = detector.process(np.ascontiguousarray(frame))
    out = []
    for det in result.detections or ():
        box = det.location_data.relative_bounding_box
        score = float(det.score[0]) if det.score else 0.0
        out.append((box.xmin * w, box.ymin * h, box.width * w, box.height * h, score))
    return out


def same_person(a: tuple, b: tuple) -> bool:
    """Two boxes of one face: centres closer than the larger box's side."""
    ca = (a[0] + a[2] / 2, a[1] + a[3] / 2)
    cb = (b[0] + b[2] / 2, b[1] + b[3] / 2)
    return float(np.hypot(ca[0] - cb[0], ca[1] - cb[1])) < max(a[2], a[3], b[2], b[3])


def actor_boxes(per_frame: list) -> tuple:
    """(the boxes of the person seen in the most frames, how many people were seen) from each frame's
    detections; each person is a group of boxes of the same face (``same_person`` with the group's
    first box)."""
    people: list = []  # [[box, ...], frames seen]
    for n, boxes in enumerate(per_frame):
        for box in sorted(boxes, key=lambda b: -b[4]):
            group = next((g for g in people if same_person(g[0][0], box)), None)
            if group is None:
                people.append([[box], {n}])
            elif n not in group[1]:  # one box per person and frame
                group[0].append(box)
                group[1].add(n)
    if not people:
        return [], 0
    best = max(people, key=lambda g: (len(g[1]), float(np.median([b[2] * b[3] for b in g[0]]))))
    return best[0], len(people)


def _detector(min_confidence: float):
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        import mediapipe as mp
    except ImportError:
        raise DetectorMissing("mediapipe is not installed in the backend environment; run scripts/setup_env.sh "
                              "backend (mediapipe 0.10.21 ships the face detector)") from None
    return mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_confidence)


def face_region(frames: Iterable[np.ndarray], min_confidence: float = MIN_CONFIDENCE) -> dict:
    """``{"region": [x, y, w, h], "score", "found_in", "count", "size": [w, h]}`` of the face in ``frames``
    (RGB uint8 arrays of one size): the median box, clipped to the frame. Raises ``NoFrames`` when
    there is no frame (``ValueError`` when they differ in size), ``NoFace`` when no frame shows a face,
    ``DetectorMissing`` without mediapipe."""
    per_frame, size, count = [], None, 0
    with _detector(min_confidence) as fd:
        for frame in frames:
            if size is not None and frame.shape[:2] != size:
                raise ValueError(f"the frames differ in size ({frame.shape[1]}x{frame.shape[0]} after "
                                 f"{size[1]}x{size[0]}); send frames of one size")
            size = frame.shape[:2]
            count += 1
            per_frame.append(detect_faces(frame, fd))
    if size is None:
        raise NoFrames("no frames to look for a face in")
    boxes, people = actor_boxes(per_frame)
    if not boxes:
        raise NoFace(f"no face found in {count} frame{'s' if count != 1 else ''}")
    b = np.median(np.array(boxes), axis=0)
    h, w = size
    x0, y0 = max(0.0, b[0]), max(0.0, b[1])
    x1, y1 = min(float(w), b[0] + b[2]), min(float(h), b[1] + b[3])
    return {"region": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
            "score": round(float(b[4]), 4), "found_in": len(boxes), "count": count, "size": [w, h], "people": people}
