"""How white and how motion-following a noise sequence is (the noise benchmark and the tests).

- ``white_stats(noise)``: mean, standard deviation and the correlation of horizontally and vertically
  neighbouring values of one frame's noise (C, h, w). White unit Gaussian noise: std 1, correlations 0
  (within about 2/sqrt(C h w)).
- ``motion_terms`` / ``motion_error(prev, cur, forward, backward, min_motion=0)``: the warping error of
  the noise along the source flow, in the spirit of the clip warping error (``metrics warp-error``):
  ``cur`` warped back onto the previous frame with the forward flow (bilinear, on the latent grid: the
  flow is resampled to it and rescaled), squared difference to ``prev``, averaged over channels and the
  latent pixels whose source pixels are all visible (the metric's occlusion and motion-boundary test),
  whose flow stays inside the frame and, with ``min_motion``, that move at least that many latent pixels.

What to expect: where the picture moves by a latent pixel or more, fixed noise and its warped copy are
unrelated (about 1.44: 1 plus the variance of the bilinearly interpolated value); noise that moves
exactly with the picture still scores about 0.56 there, because bilinear interpolation of white noise
at a random sub-pixel position cannot predict the part of the pixel that came from its neighbours.
Below a latent pixel of motion the two are close to each other (fixed noise is almost the moved noise),
which is why the noise benchmark compares frames several frames apart, where the picture has moved.
"""
from __future__ import annotations

import cv2
import numpy as np

from .advect import resize_flow


def white_stats(noise: np.ndarray) -> dict:
    n = np.asarray(noise, np.float64)
    centred = n - n.mean()
    var = float((centred ** 2).mean())
    corr_x = float((centred[..., :, 1:] * centred[..., :, :-1]).mean() / var)
    corr_y = float((centred[..., 1:, :] * centred[..., :-1, :]).mean() / var)
    return {"mean": float(n.mean()), "std": float(np.sqrt(var)), "corr_x": corr_x, "corr_y": corr_y}


def latent_visible(forward: np.ndarray, backward: np.ndarray, height: int, width: int) -> np.ndarray:
    """(height, width) bool: latent pixels whose source pixels are all visible in the next frame."""
    from ..metrics.warp_error import occlusion_mask
    occluded = occlusion_mask(forward, backward).astype(np.float32)
    area = cv2.resize(occluded, (width, height), interpolation=cv2.INTER_AREA)
    return area <= 1e-6


def motion_error_map(prev: np.ndarray, cur: np.ndarray, forward: np.ndarray, backward: np.ndarray, *,
                     min_motion: float = 0.0) -> tuple:
    """(squared difference per latent pixel, averaged over channels (h, w), the pixels that count (h, w)
    bool) between ``prev`` and ``cur`` warped back along ``forward``: visible, inside the frame and
    moving by at least ``min_motion`` latent pixels."""
    c, h, w = prev.shape
    flow = resize_flow(forward, h, w)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + flow[..., 0], gy + flow[..., 1]
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    counted = latent_visible(forward, backward, h, w) & inside
    if min_motion > 0:
        counted &= np.hypot(flow[..., 0], flow[..., 1]) >= min_motion
    warped = np.stack([cv2.remap(np.ascontiguousarray(cur[i], np.float32), mx, my, cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE) for i in range(c)])
    return ((warped - prev).astype(np.float64) ** 2).mean(axis=0), counted


def motion_terms(prev: np.ndarray, cur: np.ndarray, forward: np.ndarray, backward: np.ndarray, *,
                 min_motion: float = 0.0) -> tuple:
    """(sum of squared differences, number of values) between ``prev`` and ``cur`` warped back along
    ``forward`` over the visible latent pixels that move by at least ``min_motion`` latent pixels."""
    err, counted = motion_error_map(prev, cur, forward, backward, min_motion=min_motion)
    if not counted.any():
        return 0.0, 0
    c = prev.shape[0]
    return float(err[counted].sum() * c), int(counted.sum()) * c


def motion_error(prev: np.ndarray, cur: np.ndarray, forward: np.ndarray, backward: np.ndarray, *,
                 min_motion: float = 0.0) -> float:
    """Mean squared error between ``prev`` and ``cur`` warped back along ``forward`` (see module doc);
    NaN when no pixel qualifies."""
    total, n = motion_terms(prev, cur, forward, backward, min_motion=min_motion)
    return total / n if n else float("nan")
