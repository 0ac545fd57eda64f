"""Optical flow at a working resolution: frames larger than ``max_side`` on their longer side get their
flow computed on copies shrunk to it (``INTER_AREA``), and a full-size caller gets the flow grown back
(bilinear, vectors scaled by the size ratio).

DIS is coarse-to-fine: at 1920x1080 a flow computed at 960x540 and grown back is as good as the full
one for warping a stylized frame (the fine levels mostly fit sensor noise), at a quarter of the cost.
The temporal stage also works out its reliability map, cut score and flicker figure at the working
size (``small``), and grows only the two maps it applies at full size (the warp flow and the trust).

Measured on this project's 2-core machine, 1920x1080 (``python -m kino_backend bench pipeline``):
DIS 135 ms per flow at full size, 32 ms at 960x540.
"""
from __future__ import annotations

import threading
import weakref
from typing import Tuple

import cv2
import numpy as np

from .cache import FlowCache, image_key

DEFAULT_MAX_SIDE = 960
REMEMBERED = 16  # working copies kept (with their content keys): a keyframe span (K=10) and its two keyframes, with slack
CTX_KEY = "kino.work_flows"


def work_size(width: int, height: int, max_side: int) -> Tuple[int, int]:
    """(w, h) of the working copy: the frame itself when ``max_side`` is 0 or the frame fits."""
    longest = max(width, height)
    if max_side <= 0 or longest <= max_side:
        return width, height
    s = max_side / float(longest)
    return max(8, int(round(width * s))), max(8, int(round(height * s)))


def shrink(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """``image`` resized to ``size`` (w, h) by pixel-area averaging (itself when already that size)."""
    h, w = image.shape[:2]
    if (w, h) == tuple(size):
        return image
    return cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA)


def grow_map(values: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """A per-pixel map (trust, mask) resized bilinearly to ``size`` (w, h)."""
    h, w = values.shape[:2]
    if (w, h) == tuple(size):
        return values
    return cv2.resize(values, tuple(size), interpolation=cv2.INTER_LINEAR)


def resize_flow(flow: np.ndarray, size: Tuple[int, int], interpolation: int) -> np.ndarray:
    """A flow resized to ``size`` (w, h) with ``interpolation``, its vectors scaled by the size ratio."""
    h, w = flow.shape[:2]
    if (w, h) == tuple(size):
        return flow
    out = cv2.resize(flow, tuple(size), interpolation=interpolation)
    out[..., 0] *= size[0] / float(w)
    out[..., 1] *= size[1] / float(h)
    return out


def grow_flow(flow: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """A working-size flow grown to the frame's ``size`` (w, h): bilinear, vectors scaled."""
    return resize_flow(flow, size, cv2.INTER_LINEAR)


def shrink_flow(flow: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """A flow shrunk to ``size`` (w, h) by area averaging, vectors scaled."""
    return resize_flow(flow, size, cv2.INTER_AREA)


class WorkFlows:
    """The clip's flows at the working resolution, with the ``FlowCache`` interface for full-size frames.

    ``flow(a, b)`` / ``pair(a, b)`` take full-size frames and return full-size flows (computed small,
    cached small, grown on each call). ``small(image)`` is the working copy of a frame (read-only; the
    last ``REMEMBERED`` are remembered by identity with their content keys, so a frame used by several
    consumers is shrunk and hashed once); ``small_flow`` the cached flow between two working copies.
    ``computed`` counts flows actually calculated.
    """

    def __init__(self, cache: FlowCache, max_side: int = DEFAULT_MAX_SIDE):
        self.cache = cache
        self.backend = cache.backend
        self.max_side = int(max_side)
        self._shrunk: list = []  # [(weak ref to a frame, its working copy, the copy's key)], newest last
        self._lock = threading.Lock()  # the temporal stage's helper thread uses the same object

    @property
    def computed(self) -> int:
        return self.cache.computed

    def size_of(self, image: np.ndarray) -> Tuple[int, int]:
        h, w = image.shape[:2]
        return work_size(w, h, self.max_side)

    def small(self, image: np.ndarray) -> np.ndarray:
        with self._lock:
            for ref, copy, _key in self._shrunk:
                if ref() is image:
                    return copy
        copy = shrink(image, self.size_of(image))
        if copy is image:  # already small enough: a copy of our own, so its key below stays true
            copy = image.copy()
        copy.flags.writeable = False
        key = image_key(copy)
        with self._lock:
            # the frame itself is only weakly referenced: remembering it must not keep it alive
            self._shrunk = (self._shrunk + [(weakref.ref(image), copy, key)])[-REMEMBERED:]
        return copy

    def _key(self, small: np.ndarray):
        """The content key of a working copy made by ``small`` (hashed once), else None."""
        with self._lock:
            for _img, copy, key in self._shrunk:
                if copy is small:
                    return key
        return None

    def small_flow(self, a_small: np.ndarray, b_small: np.ndarray) -> np.ndarray:
        return self.cache.flow(a_small, b_small, key_a=self._key(a_small), key_b=self._key(b_small))

    def flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        h, w = a.shape[:2]
        return grow_flow(self.cache.flow(self.small(a), self.small(b)), (w, h))

    def pair(self, a: np.ndarray, b: np.ndarray):
        return self.flow(a, b), self.flow(b, a)


def work_flows_for(cache: dict, flows: FlowCache, max_side: int = DEFAULT_MAX_SIDE) -> WorkFlows:
    """The job's ``WorkFlows`` over ``flows`` at ``max_side`` kept in ``ctx.cache`` (made on first use),
    so every stage of a job shares one set of working copies and flows."""
    key = (getattr(flows.backend, "key", flows.backend.name), int(max_side))
    store = cache.setdefault(CTX_KEY, {})
    if key not in store:
        store[key] = WorkFlows(flows, max_side)
    return store[key]
