"""Rendering only some frames ("anchors") and making the rest from them: holds and in-betweens.

Anchors are the clip frames 1, 1+N, 1+2N, ... (aligned to the clip's own numbering, so on twos frames
1-2, 3-4, ... are identical), plus the first frame of the job and of every shot (a hold never shows
the previous shot). For in-betweens the last frame of the job and of every shot is an anchor too, so
every filled frame lies between two rendered frames of its own shot.

``run_on_anchors`` feeds only the anchors to ``inner`` (the look and its temporal treatment) and
puts the other frames back in order around its outputs, made by ``make(left, between, right)``.
"""
from __future__ import annotations

from collections import deque
from typing import Callable, Iterable, Iterator, List, Optional, Tuple

from ..stages.base import Frame

Pair = Tuple[Frame, Frame]  # (the anchor as it went in, the anchor's output)


def classify(frames: Iterable[Frame], every: int, number_of: Callable[[int], int],
             is_cut: Callable[[Frame, Frame], bool], ends: bool) -> Iterator[Tuple[Frame, bool, bool]]:
    """``(frame, is_anchor, starts_shot)`` for each frame, one frame behind (a frame before a cut is
    known only when the next one arrives)."""
    held: Optional[list] = None
    prev: Optional[Frame] = None
    for f in frames:
        cut = prev is not None and is_cut(prev, f)
        if held is not None:
            yield held[0], held[1] or (ends and cut), held[2]
        start = prev is None or cut
        held = [f, start or (number_of(f.index) - 1) % every == 0, start]
        prev = f
    if held is not None:
        yield held[0], held[1] or ends, held[2]


def run_on_anchors(frames: Iterable[Frame], inner: Callable[[Iterator[Frame]], Iterator[Frame]],
                   make: Callable[[Pair, List[Frame], Optional[Pair]], Iterable[Frame]], *, every: int,
                   number_of: Callable[[int], int], is_cut: Callable[[Frame, Frame], bool],
                   ends: bool) -> Iterator[Frame]:
    """Yield every frame in order: anchors as ``inner`` made them, the others from ``make``. ``right``
    is None when no later anchor of the same shot exists."""
    queue: deque = deque()

    def feed() -> Iterator[Frame]:
        for f, anchor, start in classify(frames, every, number_of, is_cut, ends):
            queue.append((f, anchor, start))
            if anchor:
                yield f

    left: Optional[Pair] = None
    for out in inner(feed()):
        between = []
        while queue and not (queue[0][1] and queue[0][0].index == out.index):
            between.append(queue.popleft()[0])
        if not queue:
            raise RuntimeError(f"the look returned frame {out.index}, which was not sent to it")
        anchor, _, start = queue.popleft()
        if between:
            yield from make(left, between, None if start else (anchor, out))
        yield out
        left = (anchor, out)
    rest = [q[0] for q in queue]
    if rest:
        yield from make(left, rest, None)


def held(left: Pair, between: List[Frame], right: Optional[Pair]) -> Iterator[Frame]:
    """A hold: each frame shows the anchor before it."""
    image = left[1].image
    for f in between:
        yield f.replace(image=image, meta={**f.meta, "held": left[0].index})
