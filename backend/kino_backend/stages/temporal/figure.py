"""The clip's flicker figure, measured while the temporal stage runs: the warping error of docs/metrics.md
for the output and for the source, from the flows the stage already computed (no extra flow), at the
flows' working resolution (``flow_resolution``) and at most ``FIGURE_SIDE`` (480) pixels on the longer
side: larger frames are measured on shrunk copies (the figure is a report; ``bench temporal`` and
``metrics warp-error`` measure at full size).

It is recorded in ``provenance["temporal"]["figure"]`` (so in ``kino.json``) and shown in the panel
after a job. Pairs across a detected hard cut are left out (the metric has no meaning there).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ...flow.scaled import shrink, shrink_flow, work_size
from ...metrics.warp_error import occlusion_mask, pair_error

FIGURE_SIDE = 480  # the figure's pairs are measured on copies at most this large (a report, not the output)


class ClipFigure:
    """The clip's flicker figure collected while the temporal stage runs (warping error of result and source)."""

    def __init__(self, flows, flow_name: str, max_side: int = FIGURE_SIDE):
        self.flows = flows
        self.max_side = int(max_side)
        self.flow_name = flow_name
        self.out_errors: list = []
        self.src_errors: list = []
        self._prev: Optional[tuple] = None
        self._pending: list = []  # add_later futures not yet waited for

    def add(self, out: np.ndarray, src: np.ndarray, after_cut: bool) -> None:
        """Measure the pair (previous frame, this one), at the flows' working resolution (``WorkFlows``:
        frames larger than it are shrunk, both the output and the source)."""
        flows = self.flows
        work = flows.small(src)
        size = work_size(work.shape[1], work.shape[0], self.max_side)
        out, small = shrink(out, size), shrink(work, size)
        prev = self._prev
        self._prev = (out, small, work)
        if prev is None or after_cut or prev[2].shape != work.shape:
            return
        prev_out, prev_src, prev_work = prev
        forward = shrink_flow(flows.small_flow(prev_work, work), size)
        backward = shrink_flow(flows.small_flow(work, prev_work), size)
        visible = ~occlusion_mask(forward, backward)
        self.out_errors.append(pair_error(prev_out, out, forward, visible))
        self.src_errors.append(pair_error(prev_src, small, forward, visible))

    def add_later(self, pool, out: np.ndarray, src: np.ndarray, after_cut: bool) -> None:
        """``add`` on ``pool`` (one worker: pairs stay in order), beside the look's next frame;
        ``flush`` waits for it."""
        self._pending.append(pool.submit(self.add, out, src, after_cut))

    def flush(self) -> None:
        """Wait for every ``add_later``; the first failure is raised here."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def summary(self) -> dict:
        def mean(values):
            good = [v for v in values if math.isfinite(v)]
            return round(float(np.mean(good)), 7) if good else None

        out, src = mean(self.out_errors), mean(self.src_errors)
        return {"metric": "warping error (docs/metrics.md), flow from the source", "flow": self.flow_name,
                "warp_error": out, "source_warp_error": src,
                "ratio_to_source": round(out / src, 3) if out is not None and src else None,
                "pairs": len(self.out_errors)}
