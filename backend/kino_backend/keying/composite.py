"""Straight alpha-over on sRGB-encoded values (what the sequencer's Alpha Over strip does)."""
from __future__ import annotations

import numpy as np


def alpha_over(foreground: np.ndarray, background: np.ndarray, matte: np.ndarray) -> np.ndarray:
    """``matte * fg + (1 - matte) * bg`` on 8-bit sRGB values; returns uint8 (H, W, 3).

    ``foreground`` is the straight (un-premultiplied) actor colour, ``matte`` float in [0, 1] (H, W)
    or uint8 (H, W) / (H, W, 1).
    """
    if foreground.shape != background.shape:
        raise ValueError(f"foreground {foreground.shape} and background {background.shape} differ in size; "
                         "scale the background to the actor's size first")
    a = np.asarray(matte)
    if a.ndim == 3:
        a = a[..., 0]
    a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else np.clip(a.astype(np.float32), 0.0, 1.0)
    if a.shape != foreground.shape[:2]:
        raise ValueError(f"matte {a.shape} does not match the image {foreground.shape[:2]}")
    a = a[..., None]
    out = a * foreground.astype(np.float32) + (1.0 - a) * background.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
