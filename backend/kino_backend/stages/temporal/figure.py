"""The clip's flicker figure, measured while the temporal stage runs: the warping error of docs/metrics.md
for the output and for the source, from the flows the stage already computed (no extra flow).

It is recorded in ``provenance["temporal"]["figure"]`` (so in ``kino.json``) and shown in the panel
after a job. Pairs across a detected hard cut are left out (the metric has no meaning there).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ...metrics.warp_error import occlusion_mask, pair_error


class ClipFigure:
    """The clip's flicker figure collected while the temporal stage runs (warping error of result and source)."""

    def __init__(self, flows, flow_name: str):
        self.flows = flows
        self.flow_name = flow_name
        self.out_errors: list = []
        self.src_errors: list = []
        self._prev: Optional[tuple] = None

    def add(self, out: np.ndarray, src: np.ndarray, after_cut: bool) -> None:
        prev = self._prev
        self._prev = (out, src)
        if prev is None or after_cut or prev[1].shape != src.shape:
            return
        prev_out, prev_src = prev
        forward = self.flows.flow(prev_src, src)
        backward = self.flows.flow(src, prev_src)
        visible = ~occlusion_mask(forward, backward)
        self.out_errors.append(pair_error(prev_out, out, forward, visible))
        self.src_errors.append(pair_error(prev_src, src, forward, visible))

    def summary(self) -> dict:
        def mean(values):
            good = [v for v in values if math.isfinite(v)]
            return round(float(np.mean(good)), 7) if good else None

        out, src = mean(self.out_errors), mean(self.src_errors)
        return {"metric": "warping error (docs/metrics.md), flow from the source", "flow": self.flow_name,
                "warp_error": out, "source_warp_error": src,
                "ratio_to_source": round(out / src, 3) if out is not None and src else None,
                "pairs": len(self.out_errors)}
