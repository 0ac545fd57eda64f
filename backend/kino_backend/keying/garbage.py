"""Garbage mattes: a user rectangle (outside = background) and automatic letterbox-bar detection."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from kino_addon.core.bars import detect_bars  # noqa: F401  (one implementation, shared with the add-on)
from kino_addon.protocol.quoting import quote

Rect = Tuple[int, int, int, int]


def parse_rect(text, width: Optional[int] = None, height: Optional[int] = None) -> Optional[Rect]:
    """``"X,Y,W,H"`` (source px, origin top-left) or a 4-sequence -> tuple; ``None``/"" -> None."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        x, y, w, h = (int(round(float(p))) for p in parts)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"garbage matte {quote(text)} must be X,Y,W,H in source pixels, e.g. 40,0,400,480") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"garbage matte {quote(text)}: width and height must be positive")
    if width is not None and height is not None and (x >= width or y >= height or x + w <= 0 or y + h <= 0):
        raise ValueError(f"garbage matte {quote(text)} lies outside the {width}x{height} frame")
    return (x, y, w, h)


def garbage_mask(shape: Sequence[int], rect: Optional[Rect], bars: Optional[Rect] = None) -> np.ndarray:
    """float32 (H, W): 1 inside the rectangle (and inside the picture area ``bars``), 0 outside."""
    h, w = int(shape[0]), int(shape[1])
    mask = np.ones((h, w), np.float32)
    for r in (rect, bars):
        if r is None:
            continue
        x, y, rw, rh = r
        keep = np.zeros((h, w), np.float32)
        keep[max(0, y):max(0, min(h, y + rh)), max(0, x):max(0, min(w, x + rw))] = 1.0
        mask *= keep
    return mask
