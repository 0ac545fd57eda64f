"""Per-pixel quantities of flow fields, computed on contiguous planes (a flow's x and y parts split
apart): NumPy's reductions over the last axis of an (H, W, 2) array and ``np.gradient`` cost several
times more at 1080p. The results equal the textbook forms (``(f ** 2).sum(axis=2)``, ``np.gradient``)
up to float rounding; the temporal stage's trust map and the metric's occlusion test use them.
"""
from __future__ import annotations

import functools
from typing import Tuple

import cv2
import numpy as np


def planes(flow: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The x and y parts of an (H, W, 2) flow as two contiguous float32 (H, W) arrays."""
    u, v = cv2.split(np.ascontiguousarray(flow, np.float32))
    return u, v


@functools.lru_cache(maxsize=4)
def pixel_grid(h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
    """The pixel coordinates (x, y) of an h x w frame, float32, made once per size and shared
    read-only (do not write into them)."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.setflags(write=False)
    gy.setflags(write=False)
    return gx, gy


@functools.lru_cache(maxsize=4)
def _pixel_points(h: int, w: int) -> np.ndarray:
    """The pixel coordinates of an h x w frame as one (h, w, 2) float32 array (shared read-only)."""
    points = np.dstack(pixel_grid(h, w))
    points.setflags(write=False)
    return points


def sample_map(flow: np.ndarray) -> np.ndarray:
    """``cv2.remap``'s map for ``out(x) = image(x + flow(x))``: x + flow(x) as one (H, W, 2) float32
    array, passed as ``remap(image, map, None, ...)`` (the same result as two planes, a third of the
    time to make)."""
    return cv2.add(np.ascontiguousarray(flow, np.float32), _pixel_points(*flow.shape[:2]))


def sq_norm(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """|F|^2 per pixel from the flow's planes."""
    out = u * u
    out += v * v
    return out


def grad_sq(a: np.ndarray) -> np.ndarray:
    """(d a / dx)^2 + (d a / dy)^2 with ``np.gradient``'s differences: central inside, one-sided at the
    edges (along an axis of a single pixel the difference is 0)."""
    if a.shape[0] < 2 or a.shape[1] < 2:
        gx = np.gradient(a, axis=1) if a.shape[1] >= 2 else np.zeros_like(a)
        gy = np.gradient(a, axis=0) if a.shape[0] >= 2 else np.zeros_like(a)
        return gx * gx + gy * gy
    gx = np.empty_like(a)
    np.subtract(a[:, 2:], a[:, :-2], out=gx[:, 1:-1])
    gx[:, 1:-1] *= 0.5
    gx[:, 0] = a[:, 1] - a[:, 0]
    gx[:, -1] = a[:, -1] - a[:, -2]
    gy = np.empty_like(a)
    np.subtract(a[2:], a[:-2], out=gy[1:-1])
    gy[1:-1] *= 0.5
    gy[0] = a[1] - a[0]
    gy[-1] = a[-1] - a[-2]
    gx *= gx
    gy *= gy
    gx += gy
    return gx


def clip01(a: np.ndarray) -> np.ndarray:
    """``a`` clipped to [0, 1] in place (``np.clip`` allocates and is slower); returns ``a``."""
    np.minimum(np.maximum(a, 0.0, out=a), 1.0, out=a)
    return a
