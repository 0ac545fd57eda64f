"""Streaming a clip through keyframe propagation: buffer the frames since the last keyframe, and when
the next keyframe (or a hard cut, or the clip's end) arrives, make them from the keyframes around them.

Only the current run's source frames are held. A hard cut (motion-compensated residual above
``cut_threshold``) ends a run: nothing is carried across it. A shot with no keyframe at all gets the
nearest keyframe's global colour mapping applied to its source (reported as fully filled).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, List, Optional

import numpy as np

from .carry import Step, step_between
from .fill import global_model
from .segment import Key, propagate_segment


@dataclass
class Item:
    number: int  # the frame's number in the clip
    src: np.ndarray  # its source image, uint8 HxWx3
    payload: Any = None  # whatever the caller wants back with the result


@dataclass
class Result:
    item: Item
    image: np.ndarray  # uint8 HxWx3
    fill: float  # fraction of the frame filled (seen by no keyframe)
    kind: str  # "key", "both", "left", "right", or "model" (no keyframe in its shot)


class Propagator:
    """``run(items)`` yields one ``Result`` per item, in order.

    ``is_key(item)`` says whether an item is a keyframe; ``key_image(item)`` returns its image (read
    from disk, or stylized) — it is called once per keyframe, when the keyframe arrives.
    """

    def __init__(self, flows, is_key: Callable[[Item], bool], key_image: Callable[[Item], np.ndarray], *,
                 cut_threshold: float = 0.08, refine: bool = True):
        self.flows = flows
        self.is_key = is_key
        self.key_image = key_image
        self.cut_threshold = float(cut_threshold)
        self.refine = refine
        self.cuts: List[int] = []  # numbers of frames that start a new shot (after the first)
        self._last_key: Optional[Key] = None
        self._orphans: List[Item] = []

    def run(self, items: Iterable[Item]) -> Iterator[Result]:
        left: Optional[Key] = None
        pending: List[Item] = []
        steps: List[Step] = []
        prev: Optional[Item] = None
        for item in items:
            step = None
            if prev is not None and prev.src.shape == item.src.shape:
                step = step_between(self.flows, prev.src, item.src)
            if step is None or step.cut > self.cut_threshold:
                if step is not None:
                    self.cuts.append(item.number)
                yield from self._close(left, pending, steps, None)
                left, pending, steps = None, [], []
            else:
                steps.append(step)
            if self.is_key(item):
                key = Key(item.src, np.asarray(self.key_image(item), np.uint8))
                yield from self._close(left, pending, steps, key)
                yield Result(item, key.image, 0.0, "key")
                left, pending, steps = key, [], []
            else:
                pending.append(item)
            prev = item
        yield from self._close(left, pending, steps, None)
        yield from self._drain_orphans()
        if self._orphans:
            raise ValueError(f"no keyframe among the {len(self._orphans)} frames given; at least one is needed")

    def _close(self, left: Optional[Key], pending: List[Item], steps: List[Step],
               right: Optional[Key]) -> Iterator[Result]:
        if right is not None:
            self._last_key = right
            yield from self._drain_orphans()
        if not pending:
            return
        if left is None and right is None:
            self._orphans.extend(pending)
            if self._last_key is not None:
                yield from self._drain_orphans()
            return
        made = propagate_segment(self.flows, left, [p.src for p in pending], right, refine=self.refine, steps=steps)
        for item, filled in zip(pending, made):
            yield Result(item, filled.image, filled.fill, filled.sides)

    def _drain_orphans(self) -> Iterator[Result]:
        key = self._last_key
        if key is None:
            return
        for item in self._orphans:
            image = np.clip(global_model(key.src, key.image, item.src) + 0.5, 0, 255).astype(np.uint8)
            yield Result(item, image, 1.0, "model")
        self._orphans = []
