"""The actor's face for ``--track-region face`` (and the panel's Lock to: Face), found by the
connected backend.

The add-on reads the clip's frames itself (Blender's sequencer through ``strips.StripSource``, in a
throw-away scene: clip frame n is timeline frame n there), shrinks each by a whole factor ``k`` so
its longer side is at most ``SEND_SIDE`` px, and sends them as one ``face.find`` request over the
backend connection the add-on holds, started or attached (the backend may run on another machine: it
reads no file and needs nothing installed beside Blender). The box that comes back is in pixels of
the frames sent; sent pixel (i, j) is the mean of source pixels [k*i, k*i + k) x [k*j, k*j + k), so
the box times ``k`` is the box in source pixels.
"""
from __future__ import annotations

import math
import os

import bpy
import numpy as np

from ...core.job_session import SourceError
from ...protocol import messages
from ...protocol.bodies import FaceFind
from ...protocol.envelope import buffer_spec
from ...protocol.errors import NO_FACE, UNKNOWN_TYPE, BackendError
from .. import connection
from ..strips import StripSource, add_input_strip

SAMPLE_FRAMES = 5  # clip frames first..first+4 (fewer in a shorter clip)
SEND_SIDE = 1280  # the detector works at 192x192; this keeps 5 frames near 25 MB at most
TIMEOUT_S = 300.0
REGION_HINT = ("give the region yourself as X,Y,W,H in source pixels of the first frame (--track-region "
               "X,Y,W,H, or Lock to: Region under Stabilize in Kino's panel)")


class FaceError(RuntimeError):
    """The face could not be found; the message says what to do."""


def shrink(frame: np.ndarray, side: int) -> tuple:
    """``(small, k)``: ``frame`` averaged over k x k blocks, with the smallest whole k that brings its
    longer side to ``side`` px or less (the last rows/columns that make no whole block are left out)."""
    h, w = frame.shape[:2]
    k = max(1, math.ceil(max(h, w) / side))
    if k == 1:
        return np.ascontiguousarray(frame), 1
    hh, ww = h // k, w // k
    sums = frame[:hh * k, :ww * k].reshape(hh, k, ww, k, 3).sum(axis=(1, 3), dtype=np.uint32)
    return ((sums + (k * k) // 2) // (k * k)).astype(np.uint8), k


def clip_frames(path: str, first: int, last: int) -> list:
    """Frames ``first..last`` (1-based, inclusive) of a video file or image folder, uint8 (h, w, 3)."""
    scene = bpy.data.scenes.new(".kino_face_frames")
    source = None
    try:
        strip = add_input_strip(scene, path, name="kino_face")
        fps = getattr(strip.elements[0], "orig_fps", 0) or getattr(strip, "fps", 0) or 24
        scene.render.fps, scene.render.fps_base = max(1, round(fps)), max(1, round(fps)) / fps  # one clip frame a frame
        source = StripSource(scene, strip)
        return [source.read(frame) for frame in range(first, last + 1)]
    except SourceError as exc:
        raise FaceError(f"cannot read the frames to find the face in: {exc}") from None
    finally:
        if source is not None:
            source.close()
        bpy.data.scenes.remove(scene)


def _client():
    try:
        return connection.BACKEND.ensure()
    except connection.BackendUnavailable as exc:
        raise FaceError(f"finding the face needs the Kino backend: {exc}") from None


def find_face(path: str, first: int, last: int, client=None, send_side: int = SEND_SIDE) -> tuple:
    """The actor's face ``(x, y, w, h)`` in source pixels (origin top-left, y down) on frames
    ``first..last`` of ``path``, from the backend's ``face.find``; ``client`` defaults to the add-on's
    backend connection (started, or attached, as the preferences say); ``send_side``: the longest
    side of the frames sent."""
    client = client if client is not None else _client()  # no backend: say so before reading frames
    frames = clip_frames(path, first, last)
    height, width = frames[0].shape[:2]
    sent = [shrink(f, send_side) for f in frames]
    k = sent[0][1]
    buffers = [(buffer_spec(f"frame_{first + i}", small.nbytes, small.shape), small)
               for i, (small, _) in enumerate(sent)]
    try:
        body, _ = client.request(messages.FACE_FIND, FaceFind().to_body(), buffers, timeout=TIMEOUT_S)
    except BackendError as exc:
        name = os.path.basename(os.path.normpath(path))
        if exc.code == NO_FACE:
            raise FaceError(f"no face found in frames {first}:{last} of {name}: {REGION_HINT}") from None
        if exc.code == UNKNOWN_TYPE:
            version = (getattr(client, "hello", None) or {}).get("backend", "?")
            raise FaceError(f"the backend ({version}) cannot find faces (no face.find): update it, or "
                            f"{REGION_HINT}") from None
        raise FaceError(f"finding the face in {name} failed: {exc.message}") from None
    x, y, w, h = (float(v) * k for v in body["region"])
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(width), x + w), min(float(height), y + h)
    return tuple(round(v, 2) for v in (x0, y0, x1 - x0, y1 - y0))
