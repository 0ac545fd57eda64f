"""Where a clip's shots begin, so AnimateDiff never denoises across a hard cut.

A context window that spans a cut makes the motion module link two unrelated shots: the second shot's
frames change with what the first one shows. ``ShotStarts`` runs the temporal stage's own cut test
(motion-compensated colour residual above ``cut_threshold``, on the same working copies and flows, so
with the temporal stage on its flows are found in the shared cache) on each pair of consecutive frames
as the look takes them in; a change of frame size starts a shot too. ``split_at_shots`` then cuts the
list of frames to denoise into one list per shot.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from ..noise.clip import CUT_THRESHOLD

CHECK_SIDE = 480  # px: the longer side of the working copies when no temporal stage shares its flows


class ShotStarts:
    """Feed frames in clip order (``add``); ``starts`` lists the positions (0-based) that begin a shot."""

    def __init__(self, plan: Optional[dict]):
        if plan and plan.get("flows") is not None:
            self.flows = plan["flows"]
        else:
            from ..flow import DISFlow, FlowCache
            from ..flow.scaled import WorkFlows
            self.flows = WorkFlows(FlowCache(DISFlow()), CHECK_SIDE)
        self.threshold = float((plan or {}).get("cut_threshold", CUT_THRESHOLD))
        self.starts: List[int] = []
        self._prev: Optional[np.ndarray] = None
        self._count = 0

    def add(self, image: np.ndarray) -> bool:
        """Note the next frame; True when it begins a shot (the first frame, a cut, a new size)."""
        image = np.asarray(image)
        prev, self._prev = self._prev, image
        position, self._count = self._count, self._count + 1
        if prev is None or prev.shape != image.shape:
            self.starts.append(position)
            return True
        from ..stages.temporal.warp import cut_score
        a, b = self.flows.small(prev), self.flows.small(image)
        score = cut_score(a, b, self.flows.small_flow(b, a))
        if score > self.threshold:
            self.starts.append(position)
            return True
        return False


def split_at_shots(selected: Sequence[int], starts: Sequence[int]) -> List[List[int]]:
    """``selected`` (increasing positions) cut into runs with no shot start between neighbours: a new
    run begins at ``s`` when a shot starts after the previous selected position and at or before ``s``."""
    runs: List[List[int]] = []
    bounds = sorted(starts)
    for s in selected:
        if runs and not any(runs[-1][-1] < b <= s for b in bounds):
            runs[-1].append(s)
        else:
            runs.append([s])
    return runs


def keyframe_positions(n: int, starts: Sequence[int], interval: int) -> List[int]:
    """The positions the temporal stage's keyframe mode (``keyframes="interval"``) stylizes in a clip of
    ``n`` frames whose shots begin at ``starts``: each shot's first frame, every ``interval``-th after
    it, and the shot's last frame when it lies at least ``interval // 2`` (at least 1) after the
    previous keyframe."""
    bounds = sorted(set(starts) | {0}) + [n]
    keys: List[int] = []
    for s, e in zip(bounds[:-1], bounds[1:]):
        if s >= e:
            continue
        shot = list(range(s, e, interval))
        if e - 1 - shot[-1] >= max(1, interval // 2):
            shot.append(e - 1)
        keys.extend(shot)
    return keys
