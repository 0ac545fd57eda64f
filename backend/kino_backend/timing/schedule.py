"""``Timing``: the temporal stage's ``hold`` and ``interpolate`` options around any look.

``hold = N`` renders clip frames 1, 1+N, ... and repeats each for N frames ("on twos" for N = 2).
``interpolate = K`` renders the same anchors (plus each shot's last frame) and makes the frames
between them by carrying the two rendered frames along the SOURCE's motion (the propagation used by
painted keyframes): far better than guessing the motion between two stylized frames, since the true
in-between source frames are known.
"""
from __future__ import annotations

from typing import Callable, Iterator, List, Optional

import numpy as np

from ..propagation import Key, propagate_segment
from ..stages.base import Frame
from .anchors import Pair, held, run_on_anchors
from .numbers import ClipNumbers


class Timing:
    def __init__(self, hold: int, interpolate: int, numbers: ClipNumbers, flows,
                 is_cut: Callable[[Frame, Frame], bool], prov: dict):
        if hold > 1 and interpolate > 1:
            raise ValueError("temporal.hold and temporal.interpolate cannot both be above 1: hold repeats the "
                             "rendered frames, interpolate fills between them; pick one")
        self.every = max(hold, interpolate, 1)
        self.interpolating = interpolate > 1
        self.numbers = numbers
        self.flows = flows
        self.is_cut = is_cut
        self.prov = prov
        prov.update({"hold": hold, "interpolate": interpolate, "rendered_frames": 0, "made_frames": 0})

    @property
    def active(self) -> bool:
        return self.every > 1

    def run(self, frames: Iterator[Frame], inner: Callable[[Iterator[Frame]], Iterator[Frame]]) -> Iterator[Frame]:
        def counted(stream):
            for out in inner(stream):
                self.prov["rendered_frames"] += 1
                yield out

        return run_on_anchors(frames, counted, self._make, every=self.every, number_of=self.numbers.of,
                              is_cut=self.is_cut, ends=self.interpolating)

    def _make(self, left: Optional[Pair], between: List[Frame], right: Optional[Pair]) -> Iterator[Frame]:
        if self.interpolating and left is not None:
            made = self._in_between(left, between, right)
        else:
            made = held(left, between, right)
        for f in made:
            self.prov["made_frames"] += 1
            yield f.replace(meta={**f.meta, "temporal_source": np.asarray(f.image)}) \
                if "temporal_source" not in f.meta else f

    def _in_between(self, left: Pair, between: List[Frame], right: Optional[Pair]) -> Iterator[Frame]:
        srcs = [np.asarray(f.image) for f in between]
        lk = Key(np.asarray(left[0].image), left[1].image)
        rk = Key(np.asarray(right[0].image), right[1].image) if right is not None else None
        for f, src, m in zip(between, srcs, propagate_segment(self.flows, lk, srcs, rk)):
            yield f.replace(image=m.image, meta={**f.meta, "interpolated": True, "temporal_source": src})
