"""What the temporal stage does to the scheduled frames, one frame at a time in order: keyframe mode's
smoothing blend (the previous output warped along the flow, ``keyframe_smoothing``), deflicker, and
the clip's flicker figure.

Each of the three carries state from one frame to the next; ``carry()`` returns it and a new
``PostPass`` can start from it, so the cluster runs the pass span after span (each span on any
worker) with the same result as one pass over the whole clip. Hard cuts reset all three.
"""
from __future__ import annotations

from typing import Collection, List, Optional


from ..base import Frame
from .deflicker import Deflicker
from .figure import ClipFigure
from .warp import blend, warp


class PostPass:
    """The temporal stage's per-frame pass after scheduling. ``smoothing``: the keyframe-mode blend
    strength (None in per-frame mode, which has no such blend); ``cuts``: the frames that start a new
    shot; ``carry``: the state left by the pass over the frames just before (None at the clip's start)."""

    def __init__(self, temporal, smoothing: Optional[float], cuts: Collection[int], carry: Optional[dict] = None):
        self.tr = temporal
        self.smoothing = smoothing
        self.cuts = cuts
        carry = carry or {}
        self.prev_src = carry.get("prev_src")  # source of the previous frame
        self.prev_smoothed = carry.get("prev_smoothed")  # its output after the smoothing blend
        self.deflicker: Optional[Deflicker] = None
        if temporal.params["deflicker"]:
            self.deflicker = Deflicker()
            self.deflicker._state, self.deflicker._n = carry.get("deflicker", (None, 0))
        self.figure = ClipFigure(temporal.flows, temporal.params["flow"])
        self.figure._prev = carry.get("figure_prev")

    def apply(self, f: Frame) -> Frame:
        """The frame after smoothing, deflicker and the figure (``steady`` then ``measure``)."""
        return self.measure(self.steady(f))

    def steady(self, f: Frame) -> Frame:
        """Keyframe mode's smoothing blend, then deflicker (with ``hold``/``interpolate``: the rendered
        frames only)."""
        src = f.meta.get("temporal_source")
        prev_src, self.prev_src = self.prev_src, src
        if self.smoothing is not None:
            f = self._smooth(f, src, prev_src)
        if self.deflicker is not None:
            f = self._deflicker(f, src, prev_src)
        return f

    def measure(self, f: Frame) -> Frame:
        """The clip figure and the frame count over the output frames; ``temporal_source`` leaves the meta."""
        src = f.meta.get("temporal_source")
        if src is not None:
            self.figure.add(f.image, src, after_cut=f.index in self.cuts)
        prov = self.tr.prov
        prov["frames"] += 1
        prov["figure"] = self.figure.summary()
        meta = dict(f.meta)
        meta.pop("temporal_source", None)
        return f.replace(meta=meta)

    def _smooth(self, f: Frame, src, prev_src) -> Frame:
        a = float(self.smoothing)
        lk = self.tr.link(prev_src, src) if a > 0 and f.index not in self.cuts else None
        out = f.image if lk is None else blend(f.image, warp(self.prev_smoothed, lk.pull, cubic=True), a * lk.rel)
        self.prev_smoothed = out
        return f.replace(image=out)

    def _deflicker(self, f: Frame, src, prev_src) -> Frame:
        df = self.deflicker
        back = None
        if prev_src is not None and f.index not in self.cuts and prev_src.shape == src.shape:
            back = self.tr.flows.flow(src, prev_src)
        else:
            df.reset()
        return f.replace(image=df.apply(f.image, src, back))

    def carry(self) -> dict:
        """The state the next frame needs (plain arrays and numbers: it travels between workers)."""
        df = self.deflicker
        return {"prev_src": self.prev_src, "prev_smoothed": self.prev_smoothed,
                "deflicker": (df._state, df._n) if df is not None else (None, 0),
                "figure_prev": self.figure._prev}

    def pair_errors(self) -> tuple:
        """The figure's per-pair errors of this pass (output, source), in frame order."""
        return list(self.figure.out_errors), list(self.figure.src_errors)


def merged_figure(flow_name: str, parts: List[tuple]) -> dict:
    """The clip's figure from the per-pair errors of passes over consecutive parts of it, in order."""
    figure = ClipFigure(None, flow_name)
    for out_errors, src_errors in parts:
        figure.out_errors.extend(out_errors)
        figure.src_errors.extend(src_errors)
    return figure.summary()
