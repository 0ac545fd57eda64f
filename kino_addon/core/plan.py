"""Which frames a job covers, where they go, and what is already done.

A strip covers timeline frames ``[frame_final_start, frame_final_end)``. A job stylizes a contiguous
part of it (``--frames START:END``, 1-based inclusive, relative to the strip's first visible frame)
and numbers its outputs 1..N: output ``n`` is timeline frame ``first + n - 1`` and lands in
``frame_%04d.png``. The output folder is ``<base>/<strip>_<look>_<hash>`` where the hash covers the
source identity, the exact workflow, the options and the frame range: the same settings give the same
folder (so a re-run resumes), any change gives a new one.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass

from .file_stamps import workflow_files
from .png import check_png

FRAME_PATTERN = "frame_{:04d}.png"
_FRAME_RE = re.compile(r"^frame_(\d{4,})\.png$")


class PlanError(ValueError):
    """Bad frame range or empty strip; the message says what to change."""


MAX_FRAME = 2 ** 31 - 1  # Blender's frame properties are 32-bit


def parse_frame_range(text: str) -> tuple:
    """``"START:END"`` (1-based, inclusive) -> (start, end)."""
    m = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text or "")
    if not m:
        raise PlanError(f"--frames must look like START:END (1-based, inclusive), got {text!r}")
    start, end = (min(int(v), MAX_FRAME) for v in m.groups())  # past any clip: the clip's end applies
    if start < 1 or end < start:
        raise PlanError(f"--frames {text}: START must be >= 1 and END >= START")
    return start, end


@dataclass(frozen=True)
class FramePlan:
    """Timeline frames ``first .. first+count-1`` -> outputs 1..count."""

    first: int
    count: int

    @classmethod
    def for_strip(cls, final_start: int, final_end: int, frame_range: tuple | None = None) -> "FramePlan":
        length = int(final_end) - int(final_start)
        if length <= 0:
            raise PlanError("the strip is empty (it shows no frames): lengthen it or pick another strip")
        if frame_range is None:
            return cls(int(final_start), length)
        start, end = frame_range
        if start > length:
            raise PlanError(f"frame range {start}:{end} starts after the strip's last frame ({length})")
        end = min(end, length)
        return cls(int(final_start) + start - 1, end - start + 1)

    @property
    def timeline_frames(self) -> list:
        return list(range(self.first, self.first + self.count))

    def timeline_frame(self, number: int) -> int:
        if not 1 <= number <= self.count:
            raise IndexError(f"output frame {number} is outside 1..{self.count}")
        return self.first + number - 1


def frame_path(folder: str, number: int) -> str:
    return os.path.join(folder, FRAME_PATTERN.format(number))


def existing_frames(folder: str) -> list:
    """Output numbers of the ``frame_NNNN.png`` files in ``folder`` (unchecked)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for m in map(_FRAME_RE.match, names) if m)


def missing_frames(folder: str, count: int, width: int | None = None, height: int | None = None) -> list:
    """Output numbers in 1..count whose file is absent or not a valid PNG of the expected size."""
    present = set(existing_frames(folder))
    return [n for n in range(1, count + 1)
            if n not in present or not check_png(frame_path(folder, n), width, height)]


def safe_name(text: str, limit: int = 48) -> str:
    """A file-name-safe version of a strip or look name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return (cleaned or "strip")[:limit]


def settings_hash(source: dict, workflow: dict, options: dict, frames: tuple, length: int = 8) -> str:
    """Short stable hash of everything that changes the result, the files the parameters name included
    (``file_stamps``: a model replaced under the same name; not ``options.cluster``: a job gives the same
    frames on a cluster as on the backend alone, so either resumes the other)."""
    options = {k: v for k, v in options.items() if k != "cluster"}
    blob = json.dumps({"source": source, "workflow": workflow, "options": options, "frames": list(frames),
                       "inputs": workflow_files(workflow)}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(blob.encode("utf-8")).hexdigest()[:length]


def output_folder(base: str, strip_name: str, look: str, digest: str) -> str:
    return os.path.join(base, f"{safe_name(strip_name)}_{safe_name(look)}_{digest}")
