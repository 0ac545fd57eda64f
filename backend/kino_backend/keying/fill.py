"""Push-pull (pyramid normalized convolution) fill: spread known values into unknown areas.

Used for the clean plate (the screen colour behind the actor, interpolated from the visible screen)
and for the local foreground colour near soft edges (spread out from the solid foreground).
"""
from __future__ import annotations

import cv2
import numpy as np


def push_pull(values: np.ndarray, weights: np.ndarray, start_level: int = 0, saturate: float = 0.25) -> np.ndarray:
    """Fill ``values`` (H, W, C float32) where ``weights`` (H, W in [0, 1]) is low.

    Known pixels keep (roughly) their value from level ``start_level`` on: ``start_level`` > 0 gives a
    smoothed estimate (2**level px), right for smooth screen lighting. ``saturate`` is the pooled
    weight at which a level trusts its own estimate fully.
    """
    v = values.astype(np.float32)
    w = np.clip(weights.astype(np.float32), 0.0, 1.0)
    vw_levels, w_levels = [v * w[..., None]], [w]
    while min(w_levels[-1].shape[:2]) > 4:
        vw_levels.append(cv2.pyrDown(vw_levels[-1]))
        w_levels.append(cv2.pyrDown(w_levels[-1]))
        if vw_levels[-1].ndim == 2:
            vw_levels[-1] = vw_levels[-1][..., None]
    top_w = w_levels[-1]
    if float(top_w.sum()) <= 1e-8:
        raise ValueError("nothing to fill from: no known pixels")
    mean = vw_levels[-1].reshape(-1, v.shape[2]).sum(0) / max(float(top_w.sum()), 1e-8)
    est = np.broadcast_to(mean, vw_levels[-1].shape).astype(np.float32)
    for lvl in range(len(w_levels) - 1, -1, -1):
        if lvl != len(w_levels) - 1:
            h, wd = w_levels[lvl].shape[:2]
            est = cv2.pyrUp(est, dstsize=(wd, h))
            if est.ndim == 2:
                est = est[..., None]
        wl = w_levels[lvl]
        own = vw_levels[lvl] / np.maximum(wl, 1e-6)[..., None]
        conf = np.clip(wl / saturate, 0.0, 1.0)[..., None]
        if lvl >= start_level:
            est = conf * own + (1.0 - conf) * est
    return est.astype(np.float32)
