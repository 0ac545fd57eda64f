"""In-betweens for a whole sequence: ``(n - 1) * K + 1`` frames from ``n``, the inputs at positions
1, K+1, 2K+1, ... unchanged; hard cuts detected and held across instead of interpolated."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, List, Optional

import numpy as np

from ..flow import DISFlow, FlowCache
from ..stages.temporal.warp import cut_score
from .motion import PairFlows
from .synth import interpolate_pair

CUT_THRESHOLD = 0.08  # motion-compensated mean residual (0-1) above which two frames are different shots


@dataclass
class Report:
    factor: int
    inputs: int = 0
    outputs: int = 0
    cuts: List[int] = field(default_factory=list)  # input numbers (1-based) that start a new shot
    held_pairs: int = 0


def motion_view(frame: np.ndarray) -> np.ndarray:
    """What flows and cuts are measured on: the frame itself when it is uint8 RGB, else its colour as uint8
    RGB (a premultiplied RGBA or a float frame in 0..255 levels: ``interpolation.formats``)."""
    if frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    rgb = frame[..., :3] if frame.ndim == 3 else np.repeat(frame[..., None], 3, axis=2)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


class Interpolator:
    """``run(frames)`` yields every output frame in order; ``report`` says what was done. Frames are uint8
    RGB, or float32 RGB / premultiplied RGBA in 0..255 levels (``interpolation.formats``: 16-bit and
    transparent frames); the made frames have the inputs' type and channels, the inputs come back as they
    were given."""

    def __init__(self, factor: int, *, cut_threshold: float = CUT_THRESHOLD, curved: bool = True,
                 flows: Optional[FlowCache] = None):
        if factor < 1:
            raise ValueError(f"--factor must be 1 or more, got {factor}")
        self.factor = int(factor)
        self.cut_threshold = float(cut_threshold)
        self.curved = curved
        self.flows = flows or FlowCache(DISFlow())

    def is_cut(self, a: np.ndarray, b: np.ndarray) -> bool:
        a, b = motion_view(a), motion_view(b)
        return cut_score(a, b, self.flows.flow(b, a)) > self.cut_threshold

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.flows.flow(self._views[id(a)], self._views[id(b)])

    def run(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Stream the frames through: only four input frames are held at a time."""
        self.report = Report(self.factor)
        source = iter(frames)
        shape = None
        self._views: dict = {}  # id(frame) -> its motion_view, for the frames held

        def take() -> Optional[np.ndarray]:
            nonlocal shape
            f = next(source, None)
            if f is None:
                return None
            self.report.inputs += 1
            shape = shape or f.shape
            if f.shape != shape:
                raise ValueError(f"input frame {self.report.inputs} is {f.shape[1]}x{f.shape[0]} but frame 1 is "
                                 f"{shape[1]}x{shape[0]}; all frames must have the same size")
            self._views[id(f)] = motion_view(f)
            return f

        prev, a = None, take()
        b = take() if a is not None else None
        c = take() if b is not None else None
        cut_pa, cut_ab = False, self._cut(a, b, 2)
        while a is not None:
            yield self._out(a)
            cut_bc = self._cut(b, c, self.report.inputs) if c is not None else False
            if b is not None:
                yield from self._between(prev, a, b, c, cut_pa, cut_ab, cut_bc)
            prev, a, b = a, b, c
            cut_pa, cut_ab = cut_ab, cut_bc
            self._views = {id(x): self._views[id(x)] for x in (prev, a, b) if x is not None}  # the frames held
            c = take() if b is not None else None

    def _cut(self, a, b, number: int) -> bool:
        if a is None or b is None:
            return False
        cut = cut_score(self._views[id(a)], self._views[id(b)], self._flow(b, a)) > self.cut_threshold
        if cut:
            self.report.cuts.append(number)
        return cut

    def _out(self, image: np.ndarray) -> np.ndarray:
        self.report.outputs += 1
        return image

    def _between(self, prev, a, b, c, cut_pa: bool, cut_ab: bool, cut_bc: bool) -> Iterator[np.ndarray]:
        k = self.factor
        if k == 1:
            return
        if cut_ab:  # never across a cut: each side is held up to the middle
            self.report.held_pairs += 1
            for j in range(1, k):
                yield self._out(a if j / k < 0.5 else b)
            return
        flows = PairFlows(self._flow(a, b), self._flow(b, a))
        if self.curved and prev is not None and not cut_pa:
            flows.f0p = self._flow(a, prev)
        if self.curved and c is not None and not cut_bc:
            flows.f12 = self._flow(b, c)
        for j in range(1, k):
            yield self._out(interpolate_pair(a, b, j / k, flows))
