"""Letterbox and pillarbox bars: black, flat rows/columns at the frame edges that are not part of the
picture. Shared by the keyer (backend) and ``scripts/kino composite`` (which crops them from both
plates, so the actor's body reaches the frame edge instead of ending above a keyed-out bar).
"""
from __future__ import annotations

from typing import Iterable, Optional, Tuple

import numpy as np

Rect = Tuple[int, int, int, int]


def detect_bars(image: np.ndarray, max_fraction: float = 0.15, level: int = 24) -> Optional[Rect]:
    """Find black bars: whole rows/columns at the frame edges that are near black and flat, next to a
    picture that is not (a dark or black-screen frame has no bars). Returns the picture area
    (X, Y, W, H) without the bars, or None when there are none."""
    h, w = image.shape[:2]
    m = image.max(axis=2).astype(np.int16) if image.ndim == 3 else image.astype(np.int16)

    def dark(line: np.ndarray) -> bool:
        return not (np.percentile(line, 99) > level or line.std() > 6)

    def run(lines: np.ndarray, limit: int) -> int:
        n = 0
        for line in lines[:limit]:
            if not dark(line):
                break
            n += 1
        return 0 if n >= limit else n  # darkness that goes on past the limit is a dark shot, not a bar

    top = run(m, int(h * max_fraction))
    bottom = run(m[::-1], int(h * max_fraction))
    left = run(m.T, int(w * max_fraction))
    right = run(m.T[::-1], int(w * max_fraction))
    if top + bottom + left + right == 0 or top + bottom >= h or left + right >= w:
        return None
    return (left, top, w - left - right, h - top - bottom)


def picture_area(images: Iterable[np.ndarray]) -> Optional[Rect]:
    """The picture area every frame agrees on: bars only where all frames have them (None: no bars)."""
    rects = [detect_bars(i) for i in images]
    if not rects or any(r is None for r in rects):
        return None
    x0 = min(r[0] for r in rects)
    y0 = min(r[1] for r in rects)
    x1 = max(r[0] + r[2] for r in rects)
    y1 = max(r[1] + r[3] for r in rects)
    return (x0, y0, x1 - x0, y1 - y0)
