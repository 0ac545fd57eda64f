"""Sliding context windows over a clip and how their overlaps are blended (pure logic, numpy only).

A clip of ``n`` frames is covered by windows of ``length`` frames that start ``length - overlap``
apart; the last one is moved back to end on the clip's last frame (so every window is full and the
last overlap may be longer). A clip no longer than ``length`` is one window.

Each window's noise prediction is blended per denoising step with weights that ramp linearly across
an overlap: inside a window the weight is 1, over its first and last ``overlap`` frames it falls
towards 1 / (overlap + 1) -- except at the clip's ends, where no other window takes over. Every
frame's prediction is the weighted mean of its windows', so where one window hands over to the next
the result moves from one to the other a step at a time: no seam. With ``overlap`` 0 the windows
just follow each other (naive concatenation: what the ramps are there to avoid).
"""
from __future__ import annotations

from typing import List

import numpy as np


def context_windows(n: int, length: int, overlap: int) -> List[List[int]]:
    """Frame indices (0-based) of each window."""
    if n <= 0:
        return []
    length = max(1, int(length))
    if n <= length:
        return [list(range(n))]
    overlap = min(max(0, int(overlap)), length - 1)
    stride = length - overlap
    starts = list(range(0, n - length + 1, stride))
    if starts[-1] + length < n:
        starts.append(n - length)
    return [list(range(s, s + length)) for s in starts]


def window_weights(windows: List[List[int]], n: int, overlap: int) -> List[np.ndarray]:
    """Per window, the blending weight of each of its frames (float32, > 0)."""
    out = []
    for w in windows:
        length = len(w)
        pos = np.arange(length, dtype=np.float32)
        ramp = float(max(0, overlap)) + 1.0
        left = np.minimum(1.0, (pos + 1.0) / ramp) if w[0] > 0 else np.ones(length, np.float32)
        right = np.minimum(1.0, (length - pos) / ramp) if w[-1] < n - 1 else np.ones(length, np.float32)
        out.append(np.minimum(left, right).astype(np.float32))
    return out


def coverage(windows: List[List[int]], n: int) -> np.ndarray:
    """How many windows hold each frame (every frame at least one)."""
    c = np.zeros(n, np.int32)
    for w in windows:
        c[w] += 1
    return c
