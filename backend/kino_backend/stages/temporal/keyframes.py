"""Keyframe mode of the temporal stage: stylize keyframes only, fill the frames between by flow.

Keyframes: the first frame of every segment (clip start or hard cut), then every K-th frame
(``keyframes="interval"``), or (``"motion"``) the first frame where more than ``motion_threshold`` of
the picture is no longer reliably reachable from the last keyframe, at most K (20 when K = 0) apart.
A segment's last frame (clip end, or the frame before a cut) is a keyframe too when it lies at
least K/2 frames after the previous one; a shorter tail is filled from that keyframe alone. So a
segment of n frames costs about n / K stylizations.

An in-between frame j between keyframes k0 < j < k1 gets both keyframes' outputs warped onto it: per
pixel along whichever is more reliable of the chained flow (j -> j-1 -> ... -> k0, composed first so
the keyframe is resampled once and stays sharp) and the direct flow (j -> k0), with a per-pixel
reliability r0; the same towards k1 gives r1. They are blended with weights (k1 - j) r0 and
(j - k0) r1 (the nearer keyframe counts more); where neither is reliable the nearer one wins. If more
than ``fallback_area`` of the frame is reachable from neither keyframe (r < 0.5 in both), that frame
is stylized too and fills those holes (counted in ``frames_stylized``, listed in
``fallback_frames``). Only the frames up to the next keyframe are buffered; their flows to the next
keyframe are worked out beside that keyframe's stylization. The filling itself is ``spans.Span``,
which the cluster runs span by span. The temporal stage then runs
the whole stream through the same flow-warped recursive blend as per-frame mode (``strength``), which
smooths the hand-over between keyframes.
"""
from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

from ..base import Frame, StageRun, look_takes_init
from .spans import Pending, Span
from .warp import blend


class KeyframeScheduler:
    """Keyframe mode of the temporal stage, streaming: stylizes keyframes only and hands the frames
    between two keyframes to a ``Span`` (spans.py), which fills them once the next keyframe is known."""

    def __init__(self, temporal):
        self.tr = temporal
        self.look: Optional[StageRun] = None
        p = temporal.params
        self.motion = p["keyframes"] == "motion"
        self.interval = int(p["keyframe_interval"]) or 20
        self.motion_threshold = float(p["motion_threshold"])
        self.strength = float(p["strength"])
        self.span: Optional[Span] = None  # the last keyframe and the frames after it
        self.prev_src = None  # the previous frame's source

    def run(self, frames: Iterator[Frame], look: StageRun) -> Iterator[Frame]:
        self.look = look
        if self.span is not None:
            self.span.look = look  # restored before the look was known
        for f in frames:
            src = np.asarray(f.image)
            lk = self.tr.link(self.prev_src, src)
            self.tr.note_cut(f, lk)
            if lk is None or lk.is_cut:
                yield from self._end_segment()
                key = self._mark_key(f, src, self.tr.stylize(self.look, f))
                self.prev_src = src
                yield key
            else:
                self.prev_src = src
                yield from self._step(f, src, lk)
        yield from self._end_segment()

    def checkpoint(self) -> Optional[dict]:
        """The state after the frame just handed on, or None while frames between keyframes are
        handed on (a resume then starts again from the last keyframe)."""
        span = self.span
        if span is None or span.pending or span.key_src is not self.prev_src:
            return None
        return {"key_out": span.key_out, "key_src": span.key_src}

    def restore(self, state: dict) -> None:
        self.span = Span(self.tr, self.look, state["key_out"], state["key_src"])
        self.prev_src = state["key_src"]

    def _step(self, f: Frame, src: np.ndarray, lk) -> Iterator[Frame]:
        pend = self.span.advance(f, src, lk)
        gap = len(self.span.pending) + 1
        lost = float((pend.r0 < 0.5).mean())
        if gap >= self.interval or (self.motion and lost > self.motion_threshold):
            yield from self._close(pend)
        else:
            self.span.pending.append(pend)

    def _mark_key(self, f: Frame, src: np.ndarray, out: np.ndarray) -> Frame:
        self.tr.prov["keyframes"].append(f.index)
        self.span = Span(self.tr, self.look, out, src)
        return f.replace(image=out, meta={**f.meta, "keyframe": True, "temporal_source": src})

    def _stylize_key(self, pend: Pending) -> np.ndarray:
        """Stylize a keyframe; looks that take an init get its predecessor's propagation mixed in."""
        a = self.strength
        if a <= 0 or not look_takes_init(self.look):
            return self.tr.stylize(self.look, pend.frame)
        init = blend(pend.src, pend.p0, pend.r0 * self.tr.params["init_blend"])
        return self.tr.stylize(self.look, pend.frame, init=init, init_strength=a)

    def _close(self, key: Pending) -> Iterator[Frame]:
        """``key`` becomes a keyframe; fill the pending frames from both keyframes. The direct flows
        between the pending frames and the new keyframe are worked out on the helper thread while the
        look stylizes it (a GPU look leaves the CPU free meanwhile); filling them then finds them cached."""
        ahead = self.tr.beside_look(self.span.prefetch_to, key.src)
        try:
            out = self._stylize_key(key)
        finally:
            ahead.result()
        yield from self.span.close(key, out)
        yield self._mark_key(key.frame, key.src, out)

    def _end_segment(self) -> Iterator[Frame]:
        """At a cut or the clip's end: the last buffered frame closes the segment as a keyframe when
        the tail is long enough, else the tail is filled from the last keyframe alone."""
        span = self.span
        if span is None:
            return
        if span.pending and len(span.pending) >= max(1, self.interval // 2):
            last = span.pending.pop()
            yield from self._close(last)
            return
        yield from span.tail()
