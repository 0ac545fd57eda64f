"""Helpers for the diffusion tests (a uniquely named module: several test folders have a conftest)."""
from __future__ import annotations

import os

import numpy as np

FOOTAGE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "footage")


def textured(seed: int, h: int = 64, w: int = 64) -> np.ndarray:
    """A frame with shapes and gradients (edges for canny, colours for the VAE)."""
    import cv2
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 90)], axis=2).astype(np.uint8)
    for _ in range(4):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        x, y = (int(v) for v in rng.integers(4, min(h, w) - 20, 2))
        cv2.rectangle(img, (x, y), (x + 14, y + 12), c, -1)
    return img
