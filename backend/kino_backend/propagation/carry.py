"""Moving a keyframe's image onto another frame along composed flow, and how far to trust it.

Flows follow Kino's convention (``A(x) ~ B(x + F(x))`` for a flow F from A to B). ``Chain`` composes
the flows between consecutive source frames into the flow from the current frame to the keyframe; the
keyframe's image is then resampled once along it (``carry``), never frame by frame, so a long gap does
not blur the painting.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from ..flow.dis import to_gray
from ..stages.temporal.warp import cut_score, warp

PHOTO_SCALE = 12.0  # mean absolute colour difference (0-255) at which trust falls to 1/e
REFINE_SIDE = 640  # the refinement runs at most at this longer side (its cost grows with the pixels)


@dataclass
class Step:
    """The flows between two consecutive source frames ``a`` (earlier) and ``b``."""

    pull: np.ndarray  # b -> a: carries something of frame a onto frame b
    push: np.ndarray  # a -> b: carries something of frame b onto frame a
    cut: float  # motion-compensated residual (0..1): above the cut threshold a and b are different shots


def step_between(flows, a: np.ndarray, b: np.ndarray) -> Step:
    """Flows between consecutive frames ``a`` -> ``b`` (from the clip's flow cache). Each direction is
    the other's inverse resampled (B'(x) = -F(x + B(x))), so carrying forward and back agree."""
    fwd = flows.flow(a, b)
    back = flows.flow(b, a)
    return Step(pull=-warp(fwd, back), push=-warp(back, fwd), cut=cut_score(a, b, back))


class Chain:
    """The composed flow from the current frame to a keyframe, one step at a time."""

    def __init__(self, shape):
        h, w = shape[:2]
        self.flow = np.zeros((h, w, 2), np.float32)

    def add(self, step_flow: np.ndarray) -> np.ndarray:
        """Move one frame further from the keyframe: ``step_flow`` maps the new frame onto the previous
        one; returns the flow new frame -> keyframe."""
        self.flow = step_flow + warp(np.ascontiguousarray(self.flow), step_flow)
        return self.flow


class Refiner:
    """One variational refinement of a composed flow directly against the keyframe's source frame:
    it removes the drift that composing many small flows accumulates."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._vr: Optional[object] = None

    def __call__(self, src: np.ndarray, key_src: np.ndarray, flow: np.ndarray) -> np.ndarray:
        if not self.enabled:
            return flow
        if self._vr is None:
            vr = cv2.VariationalRefinement_create()
            vr.setFixedPointIterations(5)
            vr.setSorIterations(5)
            self._vr = vr
        flow = np.ascontiguousarray(flow, dtype=np.float32)
        h, w = flow.shape[:2]
        scale = min(1.0, REFINE_SIDE / max(h, w))
        a, b = to_gray(src), to_gray(key_src)
        if scale == 1.0:
            out = flow.copy()
            self._vr.calc(a, b, out)
            return out
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
        b = cv2.resize(b, size, interpolation=cv2.INTER_AREA)
        factor = np.array([size[0] / w, size[1] / h], np.float32)
        small = cv2.resize(flow, size, interpolation=cv2.INTER_AREA) * factor
        refined = small.copy()
        self._vr.calc(a, b, refined)
        delta = cv2.resize(refined - small, (w, h), interpolation=cv2.INTER_LINEAR) / factor
        return flow + delta


def photo_trust(src: np.ndarray, moved_src: np.ndarray, flow: np.ndarray, scale: float = PHOTO_SCALE) -> np.ndarray:
    """Per-pixel trust (0..1) that ``flow`` found the right place: the keyframe's source moved along it
    (``moved_src``) must look like the current source. A global colour shift (exposure) is forgiven;
    samples that fall outside the keyframe get no trust."""
    diff = moved_src - src.astype(np.float32)
    diff -= diff.reshape(-1, diff.shape[-1]).mean(axis=0)
    err = cv2.GaussianBlur(np.abs(diff).mean(axis=2), (0, 0), 1.0)
    trust = np.exp(-(err / scale) ** 2)
    h, w = flow.shape[:2]
    gx = np.arange(w, dtype=np.float32)[None, :] + flow[..., 0]
    gy = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]
    inside = (gx >= -0.5) & (gx <= w - 0.5) & (gy >= -0.5) & (gy <= h - 0.5)
    return (trust * inside).astype(np.float32)


def carry(key_image: np.ndarray, key_src: np.ndarray, src: np.ndarray, flow: np.ndarray):
    """``(image, trust)``: the keyframe's image resampled once (bicubic) along ``flow`` (current frame ->
    keyframe), float32, and the per-pixel trust in it."""
    image = warp(key_image, flow, cubic=True)
    moved_src = warp(key_src, flow)
    return image, photo_trust(src, moved_src, flow)
