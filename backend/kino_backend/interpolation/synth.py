"""Making the frame at time t from frames 0 and 1 and their flows; and the two plain baselines."""
from __future__ import annotations

from typing import Iterator, Tuple

import cv2
import numpy as np

from ..stages.temporal.warp import reliability, warp
from .motion import PairFlows, candidates

MATCH_WINDOW = 5  # px: the two ends of a candidate motion are compared over this square
AGREEMENT = 8.0  # colour disagreement (0-255) at which a candidate's weight falls to 1/e
SEEN_FLOOR = 0.1  # a frame's share where it does not see the content (a little, for continuity)
GHOST_LOW, GHOST_HIGH = 24.0, 48.0  # best disagreement (0-255) where mixing gives way to one frame
STILL_SPEED = 1.0  # px: flows around a pixel all slower than this make the still candidate count there
STILL_BONUS = 4.0  # colour levels (0-255) off the still candidate's match cost (measured: bench interpolate)


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def _like(x: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """The made frame in the inputs' type: uint8, or float32 in 0..255 levels (16-bit and RGBA inputs)."""
    return _u8(x) if frame.dtype == np.uint8 else np.clip(x, 0, 255).astype(np.float32)


def _sample(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` read bicubically along ``flow``, within 0..255 levels whatever its type."""
    out = warp(image, flow, cubic=True)
    return out if image.dtype == np.uint8 else np.clip(out, 0.0, 255.0, out=out)


def _samples(i0: np.ndarray, i1: np.ndarray, t: float, flows: PairFlows) -> Iterator[Tuple]:
    """Each candidate motion's two samples and their mixing weights: ``(a, b, valid, w0, w1, bonus)``.

    The two flow candidates mix by time and by visibility (content about to be covered, or just
    uncovered, comes from the one frame that sees it). The still candidate (no motion, the frames as
    they are, mixed by time) counts where the flows around the pixel stay under ``STILL_SPEED``: there
    it needs no resampling, which blurs texture and cannot average the sensor noise as evenly, so its
    match cost gets ``STILL_BONUS`` off. The frames are sampled bicubically (as the temporal stage and the
    keyframes look warp pictures): bilinear sampling at a half-pixel offset averages two pixels and
    softens texture (measured: bench interpolate, docs/keyframes.md)."""
    seen_in_1 = reliability(flows.f01, flows.f10)  # a frame-0 pixel is visible in frame 1
    seen_in_0 = reliability(flows.f10, flows.f01)  # a frame-1 pixel is visible in frame 0
    for to0, to1, valid in candidates(i0, i1, flows, t):
        yield (_sample(i0, to0), _sample(i1, to1), valid,
               (1.0 - t) * (SEEN_FLOOR + warp(seen_in_0, to1)),
               t * (SEEN_FLOOR + warp(seen_in_1, to0)), 0.0)
    speed = np.maximum(np.linalg.norm(flows.f01, axis=2), np.linalg.norm(flows.f10, axis=2))
    still = cv2.dilate(speed, np.ones((MATCH_WINDOW, MATCH_WINDOW), np.uint8)) < STILL_SPEED
    if still.any():
        ones = np.ones(i0.shape[:2], np.float32)
        yield i0.astype(np.float32), i1.astype(np.float32), still, (1.0 - t) * ones, t * ones, STILL_BONUS


def interpolate_pair(i0: np.ndarray, i1: np.ndarray, t: float, flows: PairFlows) -> np.ndarray:
    """The frame at time ``t`` (0 < t < 1) between ``i0`` and ``i1`` (uint8 RGB).

    Each candidate motion (``_samples``) samples both frames; the candidates are weighted by how well
    their two ends agree. A wrong motion thus gets little weight instead of leaving a double image;
    where no candidate makes the two frames agree (motion the flow missed), the one frame that sees the
    content (the nearer one when both do) is shown alone: a jump, never a ghost."""
    num = np.zeros(i0.shape, np.float32)
    den = np.zeros(i0.shape[:2], np.float32)
    best_cost = np.full(i0.shape[:2], np.inf, np.float32)
    nearer = np.zeros(i0.shape, np.float32)
    for a, b, valid, w0, w1, bonus in _samples(i0, i1, t, flows):
        mix = (a * w0[..., None] + b * w1[..., None]) / (w0 + w1)[..., None]
        agree = cv2.blur(np.abs(a - b).mean(axis=2), (MATCH_WINDOW, MATCH_WINDOW))
        cost = np.where(valid, np.maximum(agree - bonus, 0.0), np.inf)
        weight = np.exp(-cost / AGREEMENT).astype(np.float32) + 1e-12 * valid
        num += mix * weight[..., None]
        den += weight
        better = cost < best_cost
        one = np.where((w0 >= w1)[..., None], a, b)  # the frame that sees it (the nearer one on a tie)
        nearer[better] = one[better]
        best_cost = np.minimum(best_cost, cost)
    missing = den < 1e-9  # nothing landed from either frame (rare): the straight-line guess
    out = num / np.maximum(den, 1e-12)[..., None]
    if missing.any():
        out[missing] = symmetric_warp(i0, i1, t, flows.f01, flows.f10)[missing]
        nearer[missing] = (i0 if t <= 0.5 else i1)[missing]
    cost = cv2.GaussianBlur(np.where(np.isfinite(best_cost), best_cost, GHOST_HIGH), (0, 0), 2.0)
    ghost = np.clip((cost - GHOST_LOW) / (GHOST_HIGH - GHOST_LOW), 0.0, 1.0)[..., None]
    return _like(out * (1.0 - ghost) + nearer * ghost, i0)


def plain_blend(i0: np.ndarray, i1: np.ndarray, t: float) -> np.ndarray:
    """Baseline: a cross-fade."""
    return _like(i0.astype(np.float32) * (1.0 - t) + i1.astype(np.float32) * t, i0)


def symmetric_warp(i0: np.ndarray, i1: np.ndarray, t: float, f01: np.ndarray, f10: np.ndarray, *,
                   cubic: bool = False) -> np.ndarray:
    """Baseline: both frames moved by their own flow read at the target pixel (bilinear sampling; bicubic
    with ``cubic``), then cross-faded."""
    a = warp(i0, -t * f01, cubic=cubic)
    b = warp(i1, -(1.0 - t) * f10, cubic=cubic)
    return _like(a * (1.0 - t) + b * t, i0)
