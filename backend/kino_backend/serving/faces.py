"""``face.find``: the actor's face on frames the client sends, for ``--track-region face``.

The client (the add-on, local or attached from another machine) sends a few frames as raw RGB
buffers; the backend reads no file. What the request may carry is checked from its envelope
(``buffers_problem``) before any buffer is read. The detection (``face_region``, mediapipe on the
CPU) runs in its own thread, at most ``MAX_SEARCHES`` at once for the whole server, and answers when
done, so the connection's other requests are answered meanwhile.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, List, Optional

import numpy as np

from kino_addon.protocol.bodies import FaceFind
from kino_addon.protocol.errors import INTERNAL, INVALID_PARAMS, MODEL_MISSING, NO_FACE, error_object

log = logging.getLogger("kino.faces")
MAX_FRAMES = 16  # frames one face.find may carry (the add-on sends 5)
MAX_SIDE = 4096  # the detector works at 192x192: larger frames only cost time, so they are refused
MAX_BYTES = 128 << 20  # all frames of one request together
MAX_SEARCHES = 2
_slots = threading.BoundedSemaphore(MAX_SEARCHES)
NO_FACE_HINT = ("give the region to track yourself as X,Y,W,H in source pixels of the first frame "
                "(scripts/kino --track-region X,Y,W,H, or Lock to: Region under Stabilize in Kino's panel), "
                "or pick frames where the actor's face is seen from the front")


def buffers_problem(specs: List[dict]) -> Optional[str]:
    """What is wrong with the frames of a face.find, from their declarations (None when they are fine)."""
    if len(specs) > MAX_FRAMES:
        return f"face.find carries at most {MAX_FRAMES} frames, got {len(specs)}"
    for spec in specs:
        shape = spec["shape"]
        if spec["encoding"] != "raw" or len(shape) != 3 or shape[2] != 3:
            return (f"face.find frames are raw 8-bit RGB buffers of shape [height, width, 3], got "
                    f"{spec['encoding']} {shape}")
        if max(shape[:2]) > MAX_SIDE:
            return (f"a face.find frame of {shape[1]}x{shape[0]} is larger than {MAX_SIDE} px a side: "
                    "downscale it first (the detector works at 192x192)")
        if shape != specs[0]["shape"]:
            return f"face.find frames must have one size: {specs[0]['shape']} and {shape}"
    if sum(s["nbytes"] for s in specs) > MAX_BYTES:
        return f"face.find carries more than {MAX_BYTES >> 20} MiB of frames: send fewer or smaller frames"
    return None


def min_confidence(body: dict) -> float:
    """The ``min_confidence`` of a face.find body (``FaceFind``: 0.05..0.99, default 0.5); raises
    ``BodyError`` (``INVALID_PARAMS``) with the reason."""
    from ..face_region import MIN_CONFIDENCE
    request = FaceFind.from_body(body)
    return MIN_CONFIDENCE if request.min_confidence is None else request.min_confidence


def frames_of(buffers: list) -> List[np.ndarray]:
    """The received ``(spec, data)`` buffers as (h, w, 3) uint8 arrays (checked by ``buffers_problem``)."""
    return [np.frombuffer(data, np.uint8).reshape(spec["shape"]).copy() for spec, data in buffers]


def start_search(frames: List[np.ndarray], confidence: float,
                 answer: Callable[[Optional[dict], Optional[dict]], None]) -> None:
    """Look for the face in a thread; ``answer(body, None)`` or ``answer(None, wire_error)``."""

    def run() -> None:
        from ..face_region import DetectorMissing, NoFace, face_region  # lazy: mediapipe loads on first use
        with _slots:
            try:
                body = face_region(frames, confidence)
            except NoFace as exc:
                answer(None, error_object(NO_FACE, f"{exc} sent for --track-region face: {NO_FACE_HINT}"))
            except DetectorMissing as exc:
                answer(None, error_object(MODEL_MISSING, str(exc)))
            except ValueError as exc:
                answer(None, error_object(INVALID_PARAMS, str(exc)))
            except Exception as exc:  # answered, never a silent request: the log has the traceback
                log.exception("face.find failed")
                answer(None, error_object(INTERNAL, f"face.find failed ({type(exc).__name__}: {exc}); this is a "
                                                    "bug in Kino: please report it with the backend log"))
            else:
                answer(body, None)

    threading.Thread(target=run, name="kino-face-find", daemon=True).start()
