"""Deflicker: steady the low-frequency colour of the stylized output while following the source.

At a coarse scale (about 1/16 of the width) the look adds an offset to the source: ``offset_t =
low(out_t) - low(src_t)``. Flicker is that offset jumping from frame to frame. We keep a temporally
smoothed offset (carried along with the motion by the flow), and shift each frame's low frequencies
to it. Real lighting changes live in ``low(src_t)`` and so pass through; the texture of the look
(high frequencies) is never touched. The first frames after a start or a cut use a running mean,
so the first frame's own flicker does not linger.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from .warp import warp


class Deflicker:
    """Recursive low-frequency brightness steadying: keeps a smoothed coarse gain map across frames."""

    def __init__(self, smooth: float = 0.75, coarse: int = 16):
        self.smooth = float(smooth)
        self.coarse = int(coarse)
        self._state: Optional[np.ndarray] = None
        self._n = 0

    def reset(self) -> None:
        self._state = None
        self._n = 0

    def _low(self, image: np.ndarray, size) -> np.ndarray:
        small = cv2.resize(image.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (0, 0), 1.0)

    def apply(self, out: np.ndarray, src: np.ndarray, back: Optional[np.ndarray] = None) -> np.ndarray:
        """Return ``out`` deflickered; ``back`` is the flow src_t -> src_{t-1} (None = no motion)."""
        h, w = out.shape[:2]
        sw = max(2, min(w, self.coarse))
        sh = max(2, min(h, int(round(h * sw / w))))
        offset = self._low(out, (sw, sh)) - self._low(src, (sw, sh))
        self._n += 1
        if self._state is None:
            self._state = offset
            return out
        state = self._state
        if back is not None:
            small_flow = cv2.resize(back, (sw, sh), interpolation=cv2.INTER_AREA)
            small_flow *= np.array([sw / w, sh / h], np.float32)
            state = warp(state, small_flow)
        keep = min(self.smooth, (self._n - 1) / self._n)  # a running mean while warming up
        self._state = keep * state + (1.0 - keep) * offset
        correction = cv2.resize(self._state - offset, (w, h), interpolation=cv2.INTER_CUBIC)
        return np.clip(out.astype(np.float32) + correction + 0.5, 0, 255).astype(np.uint8)
