"""Which frame of the clip each frame of a job is.

A job numbers its frames 1..N. Clients that stylize part of a clip, or resume one, say which clip
frames those are with two job options:

- ``clip_frames``: ``{"first": S, "count": L}`` — output frame 1 is clip frame S (``--frames S:E``
  numbering, 1-based from the strip's first visible frame) and the whole clip has L frames;
- ``output_numbers``: ``[n1, n2, ...]`` — on a resume the job carries only these output frames.

Job frame k is then clip frame ``S - 1 + output_numbers[k - 1]`` (``S - 1 + k`` without the list).
Without the options a job is the whole clip: job frame k is clip frame k, and the clip has N frames.
"""
from __future__ import annotations

from typing import List


class ClipNumbers:
    def __init__(self, first: int, total: int, outputs: List[int]):
        self.first = int(first)
        self.total = int(total)
        self.outputs = list(outputs)

    @classmethod
    def from_options(cls, options: dict, frames_total: int) -> "ClipNumbers":
        """Read the job options; malformed ones raise ``ValueError`` naming the option."""
        clip = options.get("clip_frames") or {}
        if not isinstance(clip, dict):
            raise ValueError("option clip_frames must be {\"first\": S, \"count\": L}")
        outputs = options.get("output_numbers")
        if outputs is None:
            outputs = list(range(1, frames_total + 1))
        if not isinstance(outputs, list) or len(outputs) != frames_total or \
                not all(isinstance(n, int) and n >= 1 for n in outputs):
            raise ValueError(f"option output_numbers must list {frames_total} output frame numbers (>= 1)")
        first = clip.get("first", 1)
        if not isinstance(first, int) or first < 1:
            raise ValueError("clip_frames.first must be a whole number >= 1")
        total = clip.get("count", first - 1 + max(outputs, default=0))
        if not isinstance(total, int) or total < first - 1 + max(outputs, default=0):
            raise ValueError(f"clip_frames.count ({total}) is shorter than the frames of the job")
        return cls(first, total, outputs)

    def of(self, index: int) -> int:
        """The clip frame number of job frame ``index`` (1-based)."""
        return self.first - 1 + self.outputs[index - 1]

    def all(self) -> List[int]:
        return [self.first - 1 + n for n in self.outputs]
