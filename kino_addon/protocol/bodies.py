"""Typed bodies of the requests whose fields both sides handle: ``job.submit`` (``JobSubmit`` with its
``FrameSpec``) and ``face.find`` (``FaceFind``).

The client builds one and sends ``to_body()``; the backend reads the body it received with
``from_body(body)``, which checks the type and range of every field and raises ``BodyError`` (a
``BackendError``: ``INVALID_PARAMS`` with ``details.fields``) whose code and message the backend sends
back as they are. ``X.from_body(x.to_body()) == x`` for every valid ``x``; ``to_body`` writes the keys
in the order of ``docs/protocol.md``. What only the backend can judge (a workflow against its stages, the
buffers, ``options.cluster`` against an installed Ray) stays with the backend. Standard library only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from .errors import INVALID_PARAMS, BackendError
from .quoting import quote

MAX_SIDE = 16384  # px: the largest width or height of a job's frames
MAX_FRAMES = 10_000_000  # frames of one job
MAX_SEED = 2**63 - 1
MIN_CONFIDENCE_RANGE = (0.05, 0.99)  # face.find.min_confidence


class BodyError(BackendError):
    """A request body field of the wrong type or out of range: ``INVALID_PARAMS``, with ``details.fields``
    mapping the field (``"frames.count"``) to what it must be."""

    def __init__(self, name: str, message: str, must: str):
        super().__init__(INVALID_PARAMS, message, details={"fields": {name: must}})


def int_field(body: dict, key: str, lo: int, hi: int, where: str) -> int:
    """``body[key]``, an integer (not a bool) in ``lo..hi``; a missing one is refused too."""
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise BodyError(f"{where}.{key}", f"{where}.{key} must be an integer in {lo}..{hi}, got {quote(value)}",
                        f"must be an integer in {lo}..{hi}")
    return value


def text_field(body: dict, key: str, where: str) -> Optional[str]:
    """An optional string field; a path must not hold a NUL character (no file system accepts it)."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or "\0" in value:
        raise BodyError(f"{where}.{key}", f"{where}.{key} must be a text (a name or path), got {quote(value)}",
                        "must be a string")
    return value


@dataclass(frozen=True)
class FrameSpec:
    """``frames`` of a ``job.submit``: ``count`` frames of ``width`` x ``height`` px, numbered from
    ``first``, which is always 1 (clip frame numbers travel in ``options.clip_frames``)."""
    count: int
    width: int
    height: int
    first: int = 1

    def to_body(self) -> Dict[str, int]:
        return {"count": self.count, "first": self.first, "width": self.width, "height": self.height}

    @classmethod
    def from_body(cls, value: Any) -> "FrameSpec":
        if not isinstance(value, dict):
            raise BodyError("frames", "frames must be {count, first: 1, width, height}", "missing")
        count = int_field(value, "count", 1, MAX_FRAMES, "frames")
        width = int_field(value, "width", 1, MAX_SIDE, "frames")
        height = int_field(value, "height", 1, MAX_SIDE, "frames")
        first = value.get("first", 1)
        if first != 1 or isinstance(first, bool) or not isinstance(first, int):
            raise BodyError("frames.first", f"frames.first must be 1 (job frames are numbered from 1; clip frame "
                                            f"numbers go in options.clip_frames), got {quote(first)}", "must be 1")
        return cls(count, width, height)


@dataclass(frozen=True)
class JobSubmit:
    """The body of ``job.submit``: ``{workflow, frames, options}``.

    ``workflow`` travels as the client built it (``{version, look, stages}``); the backend checks it
    against its stages. ``options`` is the object of per-feature options of ``docs/protocol.md``; the
    generic ones are checked here: ``seed`` (an integer, default 0), ``device`` and ``models_dir`` (text).
    """
    workflow: Any
    frames: FrameSpec
    options: Dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return self.options.get("seed", 0)

    @property
    def resume_state(self) -> Any:
        """``options.resume_state``: the stages' state of a resumed job (None for a fresh job)."""
        return self.options.get("resume_state")

    @property
    def cluster(self) -> Any:
        """``options.cluster``: a Ray cluster's ``HOST:PORT`` (the backend checks it), or None."""
        return self.options.get("cluster")

    def job_options(self) -> Dict[str, Any]:
        """The options the job runs with: all but ``resume_state`` (which the backend takes apart)."""
        return {k: v for k, v in self.options.items() if k != "resume_state"}

    def to_body(self) -> Dict[str, Any]:
        return {"workflow": self.workflow, "frames": self.frames.to_body(), "options": dict(self.options)}

    @classmethod
    def from_body(cls, body: dict) -> "JobSubmit":
        frames = FrameSpec.from_body(body.get("frames"))
        options = body.get("options") or {}  # null, {} or an empty value: no options
        if not isinstance(options, dict):
            raise BodyError("options", "options must be an object", "not an object")
        if "seed" in options:
            int_field(options, "seed", 0, MAX_SEED, "options")
        for key in ("device", "models_dir"):
            text_field(options, key, "options")
        return cls(body.get("workflow"), frames, dict(options))


@dataclass(frozen=True)
class FaceFind:
    """The body of ``face.find``: ``{min_confidence?}`` (the frames travel as buffers). None: the
    backend's default (0.5), and the body is ``{}``."""
    min_confidence: Optional[float] = None

    def to_body(self) -> Dict[str, float]:
        return {} if self.min_confidence is None else {"min_confidence": self.min_confidence}

    @classmethod
    def from_body(cls, body: dict) -> "FaceFind":
        if "min_confidence" not in body:
            return cls()
        value = body["min_confidence"]
        lo, hi = MIN_CONFIDENCE_RANGE
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or not lo <= value <= hi):
            raise BodyError("face.find.min_confidence",
                            f"face.find.min_confidence must be a number in {lo}..{hi}, got {value!r}",
                            f"must be in {lo}..{hi}")
        return cls(float(value))
