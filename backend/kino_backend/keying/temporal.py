"""Temporal smoothing of a matte sequence: edges that chatter from frame to frame (sensor noise, hair,
compression) are steadied by a motion-compensated recursive filter.

For frame t the previous *smoothed* matte is warped along the optical flow of the plates (t -> t-1,
DIS) and mixed in with weight ``strength x reliability x photo-consistency``: 0 where the flow's
forward-backward check fails (occlusions, motion boundaries), where the warped previous plate does not
look like this plate, and on a hard cut (nothing is carried over). Moving edges follow the flow, so
the filter does not lag; static ones average over about ``(1 + s) / (1 - s)`` frames.

Measured by ``python -m kino_backend bench keying --json`` (its ``temporal`` part: 30 consecutive
frames of the greenscreen_actor clip at 512 px): edge flicker 0.0134 -> 0.0096 (ratio 0.72) at
strength 0.5, keying 240 -> 387 ms CPU per frame (the two DIS flows).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

CUT_SCORE = 0.1  # motion-compensated residual above which two frames are different shots
PHOTO_LEVELS = 10.0  # plate difference (8-bit levels) at which the warped history is trusted e^-1


class MatteSmoother:
    """Feed the plates (uint8 RGB) and raw mattes (float [0, 1]) in order; get steadier mattes back."""

    def __init__(self, strength: float, flows=None):
        """``flows``: anything with ``flow(a, b)`` (e.g. a ``flow.FlowCache``); by default a small private
        DIS cache."""
        self.strength = float(strength)
        self.flows = flows
        self._plate: Optional[np.ndarray] = None
        self._matte: Optional[np.ndarray] = None
        self.cuts: list[int] = []
        self._count = 0

    def _flows(self):
        if self.flows is None:
            from ..flow import DISFlow, FlowCache
            self.flows = FlowCache(DISFlow(), max_bytes=128 * 2**20)
        return self.flows

    def __call__(self, plate: np.ndarray, matte: np.ndarray) -> np.ndarray:
        self._count += 1
        out = np.asarray(matte, np.float32)
        if self.strength > 0 and self._plate is not None and self._plate.shape == plate.shape:
            out = self._blend(plate, out)
        self._plate, self._matte = plate, out
        return out

    def checkpoint(self) -> dict:
        """The state the next frame needs (a resumed job continues from it)."""
        return {"smoother_plate": self._plate, "smoother_matte": self._matte, "smoother_count": self._count,
                "smoother_cuts": list(self.cuts)}

    def restore(self, state: dict) -> None:
        self._plate, self._matte = state.get("smoother_plate"), state.get("smoother_matte")
        self._count = int(state.get("smoother_count") or 0)
        self.cuts = [int(c) for c in state.get("smoother_cuts") or []]

    def _blend(self, plate: np.ndarray, matte: np.ndarray) -> np.ndarray:
        from ..stages.temporal.warp import cut_score, reliability, warp
        flows = self._flows()
        back = flows.flow(plate, self._plate)  # t -> t-1
        if cut_score(self._plate, plate, back) > CUT_SCORE:
            self.cuts.append(self._count)
            return matte
        rel = reliability(back, flows.flow(self._plate, plate))
        diff = np.abs(warp(self._plate, back) - plate.astype(np.float32)).mean(axis=2)
        weight = self.strength * rel * np.exp(-(diff / PHOTO_LEVELS) ** 2)
        history = warp(self._matte, back)
        return np.clip(matte + weight * (history - matte), 0.0, 1.0).astype(np.float32)
