"""Which frame of the clip each frame of a job is.

A job numbers its frames 1..N. A client that stylizes part of a clip says which with the job option
``clip_frames``: ``{"first": S, "count": L}`` — job frame 1 is clip frame S (``--frames S:E``
numbering, 1-based from the strip's first visible frame) and the whole clip has L frames. Job frame k
is clip frame ``S - 1 + k``. Without the option a job is the whole clip (job frame k = clip frame k).
Clients resume such jobs whole (job option ``"resume": "whole"``), since holds, in-betweens and
painted keyframes depend on the frames around each frame.
"""
from __future__ import annotations

from typing import List


class ClipNumbers:
    def __init__(self, first: int, total: int, frames: int):
        self.first = int(first)
        self.total = int(total)
        self.frames = int(frames)

    @classmethod
    def from_options(cls, options: dict, frames_total: int) -> "ClipNumbers":
        """Read the job options; a malformed ``clip_frames`` raises ``ValueError`` saying why."""
        clip = options.get("clip_frames") or {}
        if not isinstance(clip, dict):
            raise ValueError('job option clip_frames must be {"first": S, "count": L}')
        first = clip.get("first", 1)
        if isinstance(first, bool) or not isinstance(first, int) or first < 1:
            raise ValueError("clip_frames.first must be a whole number >= 1")
        total = clip.get("count", first - 1 + frames_total)
        if isinstance(total, bool) or not isinstance(total, int) or total < first - 1 + frames_total:
            raise ValueError(f"clip_frames.count ({total}) is shorter than the job: {frames_total} frames from "
                             f"clip frame {first}")
        return cls(first, total, frames_total)

    def of(self, index: int) -> int:
        """The clip frame number of job frame ``index`` (1-based)."""
        return self.first - 1 + index

    def all(self) -> List[int]:
        return list(range(self.first, self.first + self.frames))
