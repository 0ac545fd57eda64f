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
``fallback_frames``). Only the frames up to the next keyframe are buffered. The temporal stage then runs
the whole stream through the same flow-warped recursive blend as per-frame mode (``strength``), which
smooths the hand-over between keyframes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional

import numpy as np

from ..base import Frame, StageRun
from .warp import blend, chain, reliability, warp


@dataclass
class Pending:
    """An in-between frame waiting for its next keyframe."""

    frame: Frame
    src: np.ndarray
    p0: np.ndarray  # previous keyframe's output warped onto this frame (float32)
    r0: np.ndarray  # its reliability
    push: Optional[np.ndarray] = None  # flow this frame -> next frame (set when the next arrives)
    r_push: Optional[np.ndarray] = None  # reliability of that step


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


class KeyframeScheduler:
    """Keyframe mode of the temporal stage: stylizes keyframes only, holds the frames between them
    (with their flows accumulated from the last keyframe), and fills them from both neighbouring keyframes."""

    def __init__(self, temporal, look: StageRun):
        self.tr = temporal
        self.look = look
        p = temporal.params
        self.motion = p["keyframes"] == "motion"
        self.interval = int(p["keyframe_interval"]) or 20
        self.motion_threshold = float(p["motion_threshold"])
        self.fallback_area = float(p["fallback_area"])
        self.strength = float(p["strength"])
        self.pending: List[Pending] = []
        self.key_out = self.key_src = None  # last keyframe's output and source
        self.acc_flow = self.acc_rel = None  # chained flow current frame -> last keyframe

    def run(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        prev_src = None
        for f in frames:
            src = np.asarray(f.image)
            lk = self.tr.link(prev_src, src)
            self.tr.note_cut(f, lk)
            if lk is None or lk.is_cut:
                yield from self._end_segment()
                yield self._mark_key(f, src, self.tr.stylize(self.look, f))
            else:
                yield from self._step(f, src, lk)
            prev_src = src
        yield from self._end_segment()

    def _step(self, f: Frame, src: np.ndarray, lk) -> Iterator[Frame]:
        if self.pending:
            self.pending[-1].push = lk.push()
            self.pending[-1].r_push = lk.rel_backward()
        self.acc_flow, self.acc_rel = chain(self.acc_flow, self.acc_rel, lk.pull, lk.rel)
        p0, r0 = self._reach(self.key_out, self.key_src, src, self.acc_flow, self.acc_rel)
        pend = Pending(f, src, p0, r0)
        gap = len(self.pending) + 1
        lost = float((r0 < 0.5).mean())
        if gap >= self.interval or (self.motion and lost > self.motion_threshold):
            yield from self._close(pend)
        else:
            self.pending.append(pend)

    def _reach(self, key_out, key_src, src, chained_flow, chained_rel):
        """The keyframe's output warped onto ``src`` along the better (per pixel) of the chained and
        the direct flow, and its reliability."""
        back = self.tr.flows.flow(src, key_src)
        fwd = self.tr.flows.flow(key_src, src)
        rel_direct = reliability(back, fwd)
        direct = rel_direct > chained_rel
        flow = np.where(direct[..., None], -warp(fwd, back), chained_flow)
        return warp(key_out, flow, cubic=True), np.maximum(rel_direct, chained_rel)

    def _mark_key(self, f: Frame, src: np.ndarray, out: np.ndarray) -> Frame:
        self.tr.prov["keyframes"].append(f.index)
        self.key_out, self.key_src = out, src
        h, w = out.shape[:2]
        self.acc_flow = np.zeros((h, w, 2), np.float32)
        self.acc_rel = np.ones((h, w), np.float32)
        return f.replace(image=out, meta={**f.meta, "keyframe": True, "temporal_source": src})

    def _stylize_key(self, pend: Pending) -> np.ndarray:
        """Stylize a keyframe; looks that take an init get its predecessor's propagation mixed in."""
        a = self.strength
        if a <= 0:
            return self.tr.stylize(self.look, pend.frame)
        init = blend(pend.src, pend.p0, pend.r0 * self.tr.params["init_blend"])
        return self.tr.stylize(self.look, pend.frame, init=init, init_strength=a)

    def _close(self, key: Pending) -> Iterator[Frame]:
        """``key`` becomes a keyframe; fill the pending frames from both keyframes."""
        out = self._stylize_key(key)
        h, w = out.shape[:2]
        flow1, rel1 = np.zeros((h, w, 2), np.float32), np.ones((h, w), np.float32)
        n, filled = len(self.pending), []
        for i in range(n - 1, -1, -1):
            pend = self.pending[i]
            flow1, rel1 = chain(flow1, rel1, pend.push, pend.r_push)
            p1, r1 = self._reach(out, key.src, pend.src, flow1, rel1)
            filled.append(self._fill(pend, p1, r1, i + 1, n - i))
        self.pending = []
        yield from reversed(filled)
        yield self._mark_key(key.frame, key.src, out)

    def _fill(self, pend: Pending, p1: np.ndarray, r1: np.ndarray, d0: int, d1: int) -> Frame:
        w0 = (d1 / (d0 + d1)) * (pend.r0 + 1e-3)
        w1 = (d0 / (d0 + d1)) * (r1 + 1e-3)
        mix = (pend.p0 * w0[..., None] + p1 * w1[..., None]) / (w0 + w1)[..., None]
        return self._with_fallback(pend, mix, np.maximum(pend.r0, r1))

    def _with_fallback(self, pend: Pending, mix: np.ndarray, cover: np.ndarray) -> Frame:
        if float((cover < 0.5).mean()) > self.fallback_area:
            self.tr.prov["fallback_frames"].append(pend.frame.index)
            out = blend(self.tr.stylize(self.look, pend.frame), mix, np.clip(cover, 0.0, 1.0))
        else:
            out = to_uint8(mix)
        return pend.frame.replace(image=out, meta={**pend.frame.meta, "temporal_source": pend.src})

    def _end_segment(self) -> Iterator[Frame]:
        """At a cut or the clip's end: the last buffered frame closes the segment as a keyframe when
        the tail is long enough, else the tail is filled from the last keyframe alone."""
        if self.pending and len(self.pending) >= max(1, self.interval // 2):
            last = self.pending.pop()
            yield from self._close(last)
            return
        for pend in self.pending:
            yield self._with_fallback(pend, pend.p0, pend.r0)
        self.pending = []
