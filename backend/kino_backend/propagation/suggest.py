"""Which frames to paint next: where the most had to be filled."""
from __future__ import annotations

from typing import Dict, Iterable, List

MIN_FILL = 0.01  # frames filled less than this need no keyframe


def suggest_frames(fill: Dict[int, float], keys: Iterable[int], count: int = 3, min_gap: int = 3) -> List[int]:
    """Up to ``count`` frame numbers, largest fill first, each at least ``min_gap`` frames away from the
    painted keyframes and from each other (a keyframe there fixes its neighbours too)."""
    taken = list(keys)
    out: List[int] = []
    for number, frac in sorted(fill.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(out) >= count or frac < MIN_FILL:
            break
        if all(abs(number - t) >= min_gap for t in taken):
            out.append(number)
            taken.append(number)
    return out
