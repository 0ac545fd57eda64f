"""One span of keyframe mode: the frames after a keyframe k0, filled once the next keyframe k1 (or the
segment's end) is known. A span depends only on k0's and k1's stylized outputs and the source frames
from k0 to k1, so the single-machine scheduler (``keyframes.KeyframeScheduler``, streaming) and the
cluster (``kino_backend.cluster``, spans in parallel) run exactly this code and get the same frames.

Forward pass (``advance``, one frame at a time): the flow from each frame back to k0 is chained along
the consecutive flows, and k0's output is carried onto the frame (``p0``, trust ``r0``). Closing the
span at k1 (``close``) chains the flows the other way from k1 and blends both carried keyframes;
a span that ends without a second keyframe (``tail``) is filled from k0 alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import cv2
import numpy as np

from ...flow.scaled import grow_flow, grow_map
from ..base import Frame, StageRun
from .warp import blend, chain, reliability, warp


PREFETCH_FRAMES = 12  # 24 flows, under half the flow cache (64 flows at the working size)


@dataclass
class Pending:
    """An in-between frame waiting for its next keyframe."""

    frame: Frame
    src: np.ndarray
    p0: Optional[np.ndarray]  # previous keyframe's output warped onto this frame (float32)
    r0: Optional[np.ndarray]  # its reliability
    push: Optional[np.ndarray] = None  # flow this frame -> next frame (working size; set when the next arrives)
    r_push: Optional[np.ndarray] = None  # reliability of that step (working size)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Rounded to nearest and saturated (OpenCV: a fifth of NumPy's clip-and-cast time at 1080p)."""
    return cv2.convertScaleAbs(np.maximum(image, 0.0))


def reach(flows, key_out, key_src, src, chained_flow, chained_rel):
    """The keyframe's output warped onto ``src`` along the better (per pixel) of the chained and the
    direct flow, and its reliability. The flows and trusts are at the working resolution (``WorkFlows``);
    the one resampling of the keyframe is at full size."""
    small_src, small_key = flows.small(src), flows.small(key_src)
    back = flows.small_flow(small_src, small_key)
    fwd = flows.small_flow(small_key, small_src)
    rel_direct = reliability(back, fwd)
    direct = rel_direct > chained_rel
    flow = np.where(direct[..., None], -warp(fwd, back), chained_flow)
    size = (src.shape[1], src.shape[0])
    return (warp(key_out, grow_flow(flow, size), cubic=True),
            grow_map(np.maximum(rel_direct, chained_rel), size))


class Span:
    """The frames after keyframe k0 (its output ``key_out`` and source ``key_src``): the chained flow
    of the latest frame back to k0, and the in-between frames held in ``pending``.

    ``temporal`` is the opened temporal stage (its flow cache, ``stylize`` and provenance), ``look``
    the look stage (for fallback frames)."""

    def __init__(self, temporal, look: StageRun, key_out: np.ndarray, key_src: np.ndarray):
        self.tr = temporal
        self.look = look
        self.key_out, self.key_src = key_out, key_src
        self.fallback_area = float(temporal.params["fallback_area"])
        w, h = temporal.flows.size_of(key_src)  # chained at the working resolution
        self.acc_flow = np.zeros((h, w, 2), np.float32)
        self.acc_rel = np.ones((h, w), np.float32)
        self.pending: List[Pending] = []

    def advance(self, f: Frame, src: np.ndarray, link, carry_key: bool = True) -> Pending:
        """The next frame after the last one added (``link``: the flows from that one to this one).
        Returns its ``Pending``; the caller appends it to ``pending`` or closes the span with it.
        ``carry_key=False`` skips carrying k0 onto it (a frame known to be the next keyframe, whose
        look takes no init)."""
        if self.pending:
            self.pending[-1].push = link.push_s()
            self.pending[-1].r_push = link.rel_backward_s()
        self.acc_flow, self.acc_rel = chain(self.acc_flow, self.acc_rel, link.pull_s, link.rel_s)
        if not carry_key:
            return Pending(f, src, None, None)
        p0, r0 = reach(self.tr.flows, self.key_out, self.key_src, src, self.acc_flow, self.acc_rel)
        return Pending(f, src, p0, r0)

    def prefetch_to(self, key_src: np.ndarray) -> None:
        """Work out the direct flows between the pending frames (nearest the keyframe first, as ``close``
        uses them) and the next keyframe's source ``key_src`` into the clip's flow cache, at most
        ``PREFETCH_FRAMES`` frames' worth so they never push each other out of it."""
        flows = self.tr.flows
        small_key = flows.small(key_src)
        for pend in self.pending[::-1][:PREFETCH_FRAMES]:
            small_src = flows.small(pend.src)
            flows.small_flow(small_src, small_key)
            flows.small_flow(small_key, small_src)

    def close(self, key: Pending, out: np.ndarray) -> List[Frame]:
        """``key`` is the next keyframe, stylized as ``out``: the pending frames filled from both
        keyframes, in order."""
        w, h = self.tr.flows.size_of(key.src)
        flow1, rel1 = np.zeros((h, w, 2), np.float32), np.ones((h, w), np.float32)
        n, filled = len(self.pending), []
        for i in range(n - 1, -1, -1):
            pend = self.pending[i]
            flow1, rel1 = chain(flow1, rel1, pend.push, pend.r_push)
            p1, r1 = reach(self.tr.flows, out, key.src, pend.src, flow1, rel1)
            filled.append(self._fill(pend, p1, r1, i + 1, n - i))
        self.pending = []
        return filled[::-1]

    def tail(self) -> List[Frame]:
        """The segment ended before another keyframe: the pending frames filled from k0 alone."""
        out = [self._with_fallback(pend, pend.p0, pend.r0) for pend in self.pending]
        self.pending = []
        return out

    def _fill(self, pend: Pending, p1: np.ndarray, r1: np.ndarray, d0: int, d1: int) -> Frame:
        w0 = (d1 / (d0 + d1)) * (pend.r0 + 1e-3)
        w1 = (d0 / (d0 + d1)) * (r1 + 1e-3)
        w0 /= w0 + w1  # normalised first: OpenCV's blend divides by (w0 + w1 + 1e-5)
        mix = cv2.blendLinear(pend.p0, p1, w0, 1.0 - w0)  # a sixth of NumPy's time at 1080p
        return self._with_fallback(pend, mix, np.maximum(pend.r0, r1))

    def _with_fallback(self, pend: Pending, mix: np.ndarray, cover: np.ndarray) -> Frame:
        if float((cover < 0.5).mean()) > self.fallback_area:
            self.tr.prov["fallback_frames"].append(pend.frame.index)
            out = blend(self.tr.stylize(self.look, pend.frame), mix, np.clip(cover, 0.0, 1.0))
        else:
            out = to_uint8(mix)
        return pend.frame.replace(image=out, meta={**pend.frame.meta, "temporal_source": pend.src})


def fill_between(temporal, look: StageRun, frames: List[Frame], key0_out: np.ndarray,
                 key1_out: Optional[np.ndarray]) -> List[Frame]:
    """A whole span at once (the cluster's span task): ``frames`` from keyframe k0 to keyframe k1
    inclusive (prepared sources in ``image``), the two keyframes' outputs; returns the frames strictly
    between them, filled. ``key1_out=None``: ``frames`` run from k0 to the segment's end, filled from
    k0 alone (a tail). The result equals what ``KeyframeScheduler`` yields for these frames."""
    srcs = [np.asarray(f.image) for f in frames]
    span = Span(temporal, look, key0_out, srcs[0])
    last = len(frames) - 1
    key = None
    for j in range(1, len(frames)):
        link = temporal.link(srcs[j - 1], srcs[j])
        is_key = key1_out is not None and j == last
        pend = span.advance(frames[j], srcs[j], link, carry_key=not is_key)
        if is_key:
            key = pend
        else:
            span.pending.append(pend)
    return span.close(key, key1_out) if key is not None else span.tail()
