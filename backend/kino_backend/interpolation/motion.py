"""Where each pixel of frames 0 and 1 is at time t, and the motion through each pixel of the new frame.

A pixel's path is quadratic when the frames before 0 and after 1 are known (acceleration from three
frames, as in quadratic video interpolation: handheld footage is rarely uniform motion), straight
otherwise. Both frames' pixels are forward-splatted to their place at time t, carrying where they
came from and where they go: two candidate motions for every pixel of the new frame. Where several
pixels land on one place, the one whose match between the frames is consistent wins (the occluder, not
what it covers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from ..stages.temporal.warp import grid, warp
from .splat import splat

CONSISTENCY = 0.1  # splat weight exp(-CONSISTENCY * colour error (0-255)) of a pixel's match


@dataclass
class PairFlows:
    """Flows around a pair of frames: ``f01`` frame 0 -> 1, ``f10`` 1 -> 0, and (optional, for curved
    paths) ``f0p`` frame 0 -> the frame before it and ``f12`` frame 1 -> the frame after it."""

    f01: np.ndarray
    f10: np.ndarray
    f0p: Optional[np.ndarray] = None
    f12: Optional[np.ndarray] = None


def path(f_next: np.ndarray, f_prev: Optional[np.ndarray], s: float) -> np.ndarray:
    """Displacement at time ``s`` (0..1 towards the next frame) of a pixel moving by ``f_next`` over one
    frame, with ``f_prev`` (the flow to the frame before) giving its acceleration; straight without it."""
    if f_prev is None:
        return s * f_next
    velocity = 0.5 * (f_next - f_prev)
    accel = f_next + f_prev
    return velocity * s + 0.5 * accel * s * s


def match_error(a: np.ndarray, b: np.ndarray, flow_ab: np.ndarray) -> np.ndarray:
    """Per-pixel colour error (0-255) of ``a`` against ``b`` moved back along ``flow_ab``."""
    return np.abs(warp(b, flow_ab) - a.astype(np.float32)).mean(axis=2)


def _project(disp: np.ndarray, err: np.ndarray, to_a: np.ndarray, to_b: np.ndarray) -> Tuple:
    """Splat each pixel to ``x + disp``, carrying its offsets to both frames. Returns (offset to frame
    0, offset to frame 1, where something landed) at each pixel of the new frame."""
    h, w = disp.shape[:2]
    gx, gy = grid(h, w)
    carried = np.concatenate([to_a, to_b], axis=2)
    acc, wsum, cover = splat(carried, np.exp(-CONSISTENCY * err), gx + disp[..., 0], gy + disp[..., 1], (h, w))
    value = acc / np.maximum(wsum, 1e-8)[..., None]
    return value[..., :2], value[..., 2:], (cover > 0.3) & (wsum > 1e-6)


def candidates(i0: np.ndarray, i1: np.ndarray, flows: PairFlows, t: float) -> List[Tuple]:
    """Two candidate motions through each pixel at time ``t``: ``[(to frame 0, to frame 1, valid)]``,
    one projected from each frame."""
    d0 = path(flows.f01, flows.f0p, t)  # frame-0 pixels at time t
    d1 = path(flows.f10, flows.f12, 1.0 - t)  # frame-1 pixels at time t
    from0 = _project(d0, match_error(i0, i1, flows.f01), -d0, flows.f01 - d0)
    from1 = _project(d1, match_error(i1, i0, flows.f10), flows.f10 - d1, -d1)
    return [from0, from1]
