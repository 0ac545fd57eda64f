"""Tile condition: the frame itself, optionally blurred or downscaled-then-upscaled."""
from __future__ import annotations

import cv2
import numpy as np

from . import check_rgb


class TileAnnotator:
    """``downscale`` > 1 shrinks the frame by that factor and scales it back (the usual tile
    ControlNet input: the colours and layout without the fine detail); ``blur`` is a Gaussian sigma."""

    def __init__(self, downscale: float = 1.0, blur: float = 0.0):
        if downscale < 1.0:
            raise ValueError("tile downscale must be >= 1")
        self.downscale = downscale
        self.blur = blur

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        out = check_rgb(rgb).copy()
        h, w = out.shape[:2]
        if self.downscale > 1.0:
            small = cv2.resize(out, (max(1, round(w / self.downscale)), max(1, round(h / self.downscale))),
                               interpolation=cv2.INTER_AREA)
            out = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        if self.blur > 0:
            out = cv2.GaussianBlur(out, (0, 0), self.blur)
        return out
