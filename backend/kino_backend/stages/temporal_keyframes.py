"""Keyframe mode of the temporal stage: stylize keyframes only, fill the frames between by flow.

Keyframes: the first frame of every segment (clip start or hard cut), then every K-th frame
(``keyframes="interval"``), or (``"motion"``) the first frame where more than ``motion_threshold`` of
the picture is no longer reliably reachable from the last keyframe, at most K (20 when K = 0) apart.

An in-between frame j between keyframes k0 < j < k1 gets both keyframes' outputs warped onto it along
chained flows (the flows are composed first, so each keyframe is resampled once and stays sharp):
P0 along j -> j-1 -> ... -> k0, P1 along j -> j+1 -> ... -> k1, each with a chained per-pixel
reliability r0, r1. They are blended with weights (k1 - j) r0 and (j - k0) r1 (nearer keyframe
counts more); where neither is reliable the temporally nearer one wins. If more than
``fallback_area`` of the frame is reachable from neither keyframe (r < 0.5 in both), that frame is
stylized too and its stylization fills those holes (counted in ``frames_stylized`` and listed in
``fallback_frames``). A keyframe itself is blended with P0 as in per-frame mode (``strength``).
Frames after a segment's last keyframe (clip end, or just before a cut) come from that keyframe only.
Only up to K frames are buffered.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional

import numpy as np

from .base import Frame, StageRun
from .temporal_warp import chain, warp


@dataclass
class Pending:
    """An in-between frame waiting for its next keyframe."""

    frame: Frame
    src: np.ndarray
    p0: np.ndarray  # previous keyframe's output warped onto this frame (uint8)
    r0: np.ndarray  # its reliability (float16)
    fwd: Optional[np.ndarray]  # flow this frame -> next frame (set when the next frame arrives)
    r_fwd: Optional[np.ndarray]  # reliability of that step (float16)


class KeyframeScheduler:
    def __init__(self, run, look: StageRun):
        self.tr = run
        self.look = look
        p = run.params
        self.motion = p["keyframes"] == "motion"
        self.interval = int(p["keyframe_interval"]) or 20
        self.motion_threshold = float(p["motion_threshold"])
        self.fallback_area = float(p["fallback_area"])
        self.strength = float(p["strength"])
        self.pending: List[Pending] = []
        self.key_out = None  # last keyframe's output
        self.acc_flow = self.acc_rel = None  # current frame -> last keyframe
        self.since_key = 0

    def run(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        prev_src = None
        for f in frames:
            src = np.asarray(f.image)
            lk = self.tr.link(prev_src, src)
            self.tr.note_cut(f, lk)
            if lk is None or lk.is_cut:
                yield from self._flush_one_sided()
                yield self._start_segment(f, src)
            else:
                if self.pending:
                    self.pending[-1].fwd = lk.push()
                    self.pending[-1].r_fwd = lk.rel_backward().astype(np.float16)
                self.acc_flow, self.acc_rel = chain(self.acc_flow, self.acc_rel, lk.pull, lk.rel)
                self.since_key += 1
                if self._is_keyframe():
                    yield from self._close_segment(f, src, lk)
                else:
                    p0 = np.clip(warp(self.key_out, self.acc_flow, cubic=True) + 0.5, 0, 255).astype(np.uint8)
                    self.pending.append(Pending(f, src, p0, self.acc_rel.astype(np.float16), None, None))
            prev_src = src
        yield from self._flush_one_sided()

    def _is_keyframe(self) -> bool:
        if self.since_key >= self.interval:
            return True
        return self.motion and float((self.acc_rel < 0.5).mean()) > self.motion_threshold

    def _mark_key(self, f: Frame, src: np.ndarray, out: np.ndarray) -> Frame:
        self.tr.prov["keyframes"].append(f.index)
        self.key_out = out
        h, w = out.shape[:2]
        self.acc_flow = np.zeros((h, w, 2), np.float32)
        self.acc_rel = np.ones((h, w), np.float32)
        self.since_key = 0
        return f.replace(image=out, meta={**f.meta, "keyframe": True, "temporal_source": src})

    def _start_segment(self, f: Frame, src: np.ndarray) -> Frame:
        return self._mark_key(f, src, self.tr.stylize(self.look, f))

    def _close_segment(self, f: Frame, src: np.ndarray, lk) -> Iterator[Frame]:
        from .temporal import blend

        p0 = warp(self.key_out, self.acc_flow, cubic=True)
        a = self.strength
        init = blend(src, p0, self.acc_rel * self.tr.params["init_blend"]) if a > 0 else None
        stylized = self.tr.stylize(self.look, f, init=init, init_strength=a if a > 0 else None)
        out = blend(stylized, p0, a * self.acc_rel) if a > 0 else stylized
        key_frame = self._mark_key(f, src, out)
        # backward chain from the new keyframe: flow j -> new keyframe
        h, w = out.shape[:2]
        flow1, rel1 = np.zeros((h, w, 2), np.float32), np.ones((h, w), np.float32)
        filled = []
        n = len(self.pending)
        for i in range(n - 1, -1, -1):
            pend = self.pending[i]
            flow1, rel1 = chain(flow1, rel1, pend.fwd, pend.r_fwd.astype(np.float32))
            p1 = warp(out, flow1, cubic=True)
            d0, d1 = i + 1, n - i
            filled.append(self._fill(pend, p1, rel1, d0, d1))
        self.pending = []
        yield from reversed(filled)
        yield key_frame

    def _fill(self, pend: Pending, p1: np.ndarray, r1: np.ndarray, d0: int, d1: int) -> Frame:
        r0 = pend.r0.astype(np.float32)
        t0, t1 = d1 / (d0 + d1), d0 / (d0 + d1)
        w0 = t0 * (r0 + 1e-3)
        w1 = t1 * (r1 + 1e-3)
        mix = (pend.p0.astype(np.float32) * w0[..., None] + p1 * w1[..., None]) / (w0 + w1)[..., None]
        return self._with_fallback(pend, mix, np.maximum(r0, r1))

    def _with_fallback(self, pend: Pending, mix: np.ndarray, cover: np.ndarray) -> Frame:
        from .temporal import blend

        if float((cover < 0.5).mean()) > self.fallback_area:
            self.tr.prov["fallback_frames"].append(pend.frame.index)
            stylized = self.tr.stylize(self.look, pend.frame)
            out = blend(stylized, mix, np.clip(cover, 0.0, 1.0))
        else:
            out = np.clip(mix + 0.5, 0, 255).astype(np.uint8)
        return pend.frame.replace(image=out, meta={**pend.frame.meta, "temporal_source": pend.src})

    def _flush_one_sided(self) -> Iterator[Frame]:
        for pend in self.pending:
            yield self._with_fallback(pend, pend.p0.astype(np.float32), pend.r0.astype(np.float32))
        self.pending = []
