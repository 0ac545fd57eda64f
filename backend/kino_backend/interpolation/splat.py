"""Forward splatting: pushing values from source pixels to (sub-pixel) target positions."""
from __future__ import annotations

import numpy as np


def splat(values: np.ndarray, weight: np.ndarray, px: np.ndarray, py: np.ndarray, shape) -> tuple:
    """Bilinear forward splat of per-pixel ``values`` (H, W, C) with ``weight`` (H, W) to positions
    (``px``, ``py``). Returns ``(weighted sum (H, W, C), weight sum (H, W), plain coverage (H, W))``:
    coverage counts the bilinear shares alone (how much landed), independent of ``weight``."""
    h, w = shape[:2]
    c = values.shape[2]
    x0 = np.floor(px).astype(np.int64)
    y0 = np.floor(py).astype(np.int64)
    fx = (px - x0).astype(np.float32).ravel()
    fy = (py - y0).astype(np.float32).ravel()
    x0, y0 = x0.ravel(), y0.ravel()
    vals = values.reshape(-1, c)
    wt = weight.ravel().astype(np.float32)
    acc = np.zeros((h * w, c), np.float64)
    wsum = np.zeros(h * w, np.float64)
    cover = np.zeros(h * w, np.float64)
    for dx, dy, share in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        idx = (yi * w + xi)[ok]
        s = share[ok]
        sw = s * wt[ok]
        cover += np.bincount(idx, weights=s, minlength=h * w)
        wsum += np.bincount(idx, weights=sw, minlength=h * w)
        for k in range(c):
            acc[:, k] += np.bincount(idx, weights=sw * vals[ok, k], minlength=h * w)
    return (acc.reshape(h, w, c).astype(np.float32), wsum.reshape(h, w).astype(np.float32),
            cover.reshape(h, w).astype(np.float32))
