"""Canny edge condition with thresholds chosen from the image's median brightness."""
from __future__ import annotations

import cv2
import numpy as np

from . import check_rgb


def auto_thresholds(gray: np.ndarray, sigma: float = 0.33) -> tuple[int, int]:
    """Lower/upper hysteresis thresholds at (1 -/+ sigma) x median, clamped to [0, 255]."""
    med = float(np.median(gray))
    low = int(max(0.0, (1.0 - sigma) * med))
    high = int(min(255.0, (1.0 + sigma) * med))
    return low, max(high, low + 1)


class CannyAnnotator:
    """White edges on black, 3 channels, same size as the input."""

    def __init__(self, sigma: float = 0.33, blur: int = 3):
        self.sigma = sigma
        self.blur = blur

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(check_rgb(rgb), cv2.COLOR_RGB2GRAY)
        if self.blur > 1:
            gray = cv2.GaussianBlur(gray, (self.blur, self.blur), 0)
        low, high = auto_thresholds(gray, self.sigma)
        edges = cv2.Canny(gray, low, high)
        return np.repeat(edges[:, :, None], 3, axis=2)
