"""The contract every stage implements.

A job runs a workflow: an ordered list of stages. The runner (``kino_backend.workflow``) builds the
frame pipeline from them like this::

    frames in -> prepare() of each enabled stage, in workflow order
              -> the schedule stage (temporal) or the plain per-frame scheduler, which calls the
                 look stage's stylize() for the frames it chooses
              -> finish() of each enabled stage, in reverse workflow order
              -> frames out

Frames are ``Frame`` objects holding 8-bit RGB ``numpy`` arrays (H, W, 3). Everything is streamed:
``prepare``/``finish``/``schedule`` take an iterator of frames and yield frames in order, so a long clip
never has to sit in memory, and a stage that needs look-ahead (keyframes) buffers only what it needs.

Heavy libraries (torch, diffusers) are imported lazily inside ``open()``; importing a stage module
only needs numpy and cv2.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from kino_addon.protocol.errors import INVALID_PARAMS, WIRE_CODES
from kino_addon.protocol.quoting import clip, quote

PARAM_KINDS = ("int", "float", "bool", "str", "enum", "path", "image", "list")
INT_LIMIT = 2**63 - 1  # an int parameter fits a 64-bit integer whatever its own min/max say
ROLES = ("prepare", "look", "schedule", "finish")


class ParamError(ValueError):
    """A parameter value that fails validation; ``field`` names the parameter."""

    def __init__(self, field: str, message: str):
        message = clip(message, 2000)  # a stage that quotes a huge value whole still answers briefly
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class StageError(RuntimeError):
    """A failure inside a stage, carried to the client as a wire error.

    ``code`` is one of the protocol error codes (``MODEL_MISSING``, ``OUT_OF_MEMORY``,
    ``INVALID_PARAMS``, ``INTERNAL`` ...). The message must say how to fix the problem.
    """

    def __init__(self, code: str, message: str, *, frame: Optional[int] = None, stage: Optional[str] = None):
        if code not in WIRE_CODES:
            raise ValueError(f"StageError code {code!r} is not a wire error code; use a constant of "
                             "kino_addon.protocol.errors")
        super().__init__(message)
        self.code = code
        self.message = message
        self.frame = frame
        self.stage = stage


class Cancelled(Exception):
    """Raised (via ``JobContext.check_cancelled``) when the job was cancelled."""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a stage, as advertised in ``session.hello`` (docs/protocol.md)."""

    name: str
    kind: str
    default: Any
    help: str
    min: Optional[float] = None
    max: Optional[float] = None
    choices: Optional[Sequence[str]] = None
    item_kind: Optional[str] = None  # for kind "list": the kind of each item (e.g. "str")

    def __post_init__(self):
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"unknown ParamSpec kind {self.kind!r}")
        if self.kind == "enum" and not self.choices:
            raise ValueError(f"enum parameter {self.name!r} needs choices")

    def to_json(self) -> dict:
        out = {"name": self.name, "kind": self.kind, "default": self.default, "help": self.help}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.choices is not None:
            out["choices"] = list(self.choices)
        if self.item_kind is not None:
            out["item_kind"] = self.item_kind
        return out

    def coerce(self, value: Any) -> Any:
        """Return the value converted to this parameter's type, or raise ParamError. Whatever JSON
        can carry (NaN, infinities, huge numbers, lists, objects) ends here as a ParamError."""
        k = self.kind
        if value is None:
            if k in ("path", "image", "str"):
                return None if self.default is None else self.default
            raise ParamError(self.name, "a value is required")
        if k == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "on", "off", "1", "0", "yes", "no"):
                return value.lower() in ("true", "on", "1", "yes")
            raise ParamError(self.name, f"expected true or false, got {quote(value)}")
        if k in ("int", "float"):
            return self._number(value)
        if k == "enum":
            if not isinstance(value, (str, int, float)) or value not in self.choices:
                raise ParamError(self.name, f"{quote(value)} is not one of {', '.join(map(str, self.choices))}")
            return value
        if k in ("str", "path", "image"):
            if not isinstance(value, str):
                raise ParamError(self.name, f"expected a text, got {quote(value)}")
            if k != "str" and "\0" in value:
                raise ParamError(self.name, f"a file path cannot contain a NUL character, got {quote(value)}")
            return value
        if k == "list":
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(v, (str, int, float)) for v in items):
                raise ParamError(self.name, f"expected a list of texts, got {quote(value)}")
            return list(items)
        raise ParamError(self.name, f"unsupported kind {k}")

    def _number(self, value: Any):
        """An int or float parameter: finite, a whole number for int, within min..max."""
        kind = "a whole number" if self.kind == "int" else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ParamError(self.name, f"expected {kind}, got {quote(value)}")
        num: Any = value
        if not isinstance(value, int):
            try:
                num = float(value)
            except (ValueError, OverflowError):
                raise ParamError(self.name, f"expected {kind}, got {quote(value)}") from None
            if not math.isfinite(num):
                raise ParamError(self.name, f"expected a finite number, got {quote(value)}")
            if self.kind == "int":
                if num != int(num):
                    raise ParamError(self.name, f"expected a whole number, got {quote(value)}")
                num = int(num)
        if self.kind == "int" and not -INT_LIMIT <= num <= INT_LIMIT:
            raise ParamError(self.name, f"{quote(value, 40)} is too large for a whole-number parameter")
        if self.min is not None and num < self.min:
            raise ParamError(self.name, f"{quote(num, 40)} is below the minimum {self.min}")
        if self.max is not None and num > self.max:
            raise ParamError(self.name, f"{quote(num, 40)} is above the maximum {self.max}")
        if self.kind == "float":
            try:
                return float(num)
            except OverflowError:
                raise ParamError(self.name, f"{quote(num, 40)} is too large") from None
        return num


@dataclass
class Frame:
    """One frame flowing through the pipeline.

    ``index`` is 1-based within the job. ``source`` is the frame as it arrived (never modified);
    ``image`` is the working image each stage transforms. ``matte`` (float32 HxW in [0, 1]) is set by
    a keying stage. ``meta`` carries per-frame data between stages (e.g. the stabilize transform,
    ``"keyframe": True``).
    """

    index: int
    source: np.ndarray
    image: np.ndarray
    matte: Optional[np.ndarray] = None
    meta: dict = field(default_factory=dict)

    def replace(self, **changes) -> "Frame":
        return dataclasses.replace(self, **changes)


@dataclass
class JobContext:
    """What a stage may use from the job around it. Built by the job runner (``jobs._context``).

    Settings reach stages only through here: ``device`` (the job's ``options.device``, else the
    backend's default) and ``models_dir`` (the job's ``options.models_dir``, else the backend's
    ``KINO_MODELS_DIR``) are resolved once, before any stage opens.
    """

    job_id: str
    frames_total: int
    width: int
    height: int
    seed: int = 0
    device: str = "cpu"
    options: dict = field(default_factory=dict)  # job.submit options (e.g. models_dir, transforms)
    cache: dict = field(default_factory=dict)  # per-job scratch shared between stages
    provenance: dict = field(default_factory=dict)  # stages record models, hashes, seeds here
    is_cancelled: Callable[[], bool] = lambda: False
    report: Callable[..., None] = lambda **kw: None  # report(frame=, step=, steps_total=, stage=)
    resources: Any = None  # backend-wide resources (model registry, warm model cache)
    models_dir: Optional[str] = None  # where relative model paths are looked up

    def __post_init__(self):
        if self.models_dir is None and isinstance(self.options.get("models_dir"), str):
            self.models_dir = self.options["models_dir"] or None

    def check_cancelled(self) -> None:
        if self.is_cancelled():
            raise Cancelled()


class StageRun:
    """A stage opened for one job with validated parameters. Override what the role needs."""

    def __init__(self, stage: "Stage", params: dict, ctx: JobContext):
        self.stage = stage
        self.params = params
        self.ctx = ctx

    # role "prepare" (and optionally "finish": a stage may do both, e.g. stabilize / restore)
    def prepare(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        return frames

    def finish(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        return frames

    # role "look"
    def stylize(self, frame: Frame, init: Optional[np.ndarray] = None, init_strength: Optional[float] = None) -> np.ndarray:
        """Return the stylized image (uint8 HxWx3, same size as ``frame.image``).

        ``init`` (optional) is an image the temporal stage proposes as the starting point (the warped
        previous stylized frame mixed with the current one); looks that can use it (diffusion img2img)
        should, ``init_strength`` in [0, 1] says how much to trust it. Classic looks may ignore it.
        """
        raise NotImplementedError

    # role "schedule"
    def schedule(self, frames: Iterator[Frame], look: "StageRun") -> Iterator[Frame]:
        """Yield stylized frames, calling ``look.stylize`` for the frames it chooses."""
        for f in frames:
            yield f.replace(image=look.stylize(f))

    # resume (any role)
    def checkpoint(self) -> Optional[dict]:
        """What this stage carries into the next frame, taken right after a frame left the pipeline:
        ``{name: numpy array | JSON value}``; ``{}`` when nothing (the default: frames are independent);
        None when no clean point exists right now (e.g. between keyframes). A job resumed from it with
        ``restore`` must produce exactly the frames the uninterrupted job would have."""
        return {}

    def held(self) -> int:
        """Frames this stage has taken in but not handed on yet (look-ahead). While it holds some, the
        stages before it have already gone past the last frame out: their state is not a checkpoint."""
        return 0

    def restore(self, state: dict) -> None:
        """Continue from a ``checkpoint`` of an earlier job with the same workflow (before any frame)."""
        if state:
            raise StageError(INVALID_PARAMS, f"stage {self.stage.name!r} keeps no state to resume from",
                             stage=self.stage.name)

    def close(self) -> None:
        """Release per-job resources (models stay warm in ``ctx.resources``)."""


def unknown_param_message(key: Any, stage: str, valid: Sequence[str]) -> str:
    """What a user reads for a parameter name ``stage`` does not have: the closest valid name first."""
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6) if isinstance(key, str) and len(key) < 200 else []
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{quote(key, 60)} is not a parameter of stage {stage!r}: {hint}its parameters are {', '.join(valid) or 'none'}"


def look_takes_init(look) -> bool:
    """Whether an opened look (a ``StageRun``, or a wrapper with its ``stage``) uses the ``init`` the
    temporal stage proposes (``Stage.takes_init``: diffusion); others are not given one."""
    return bool(getattr(getattr(look, "stage", None), "takes_init", True))


class Stage:
    """A stage type: name, role, parameter schema; ``open`` makes a ``StageRun`` for a job."""

    name: str = ""
    role: str = "look"
    label: str = ""
    help: str = ""
    params: Sequence[ParamSpec] = ()
    run_class: type = StageRun
    #: A look that uses the ``init`` the temporal stage proposes (diffusion img2img). Looks that ignore it
    #: (classic) let a cluster stylize keyframes without waiting for the keyframe before.
    takes_init: bool = True

    def frame_independent(self, params: dict, temporal: bool = False) -> bool:
        """True when each frame's result depends on that frame alone (no state carried from frame to
        frame): a cluster may then run frames on different workers (docs/cluster.md). ``temporal``: the
        workflow runs the temporal stage too. The safe default is False: the cluster keeps the whole
        strip on one worker."""
        return False

    def spec(self) -> dict:
        return {"name": self.name, "role": self.role, "label": self.label or self.name.title(),
                "help": self.help, "params": [p.to_json() for p in self.params]}

    def validate(self, params: dict) -> dict:
        """Fill defaults and coerce; raise ``ParamError`` per bad field (first one)."""
        known = {p.name: p for p in self.params}
        for key in params:
            if key not in known:
                raise ParamError(clip(str(key), 100), unknown_param_message(key, self.name, sorted(known)))
        return {p.name: p.coerce(params.get(p.name, p.default)) if (p.name in params or p.default is not None) else None
                for p in self.params}

    def open(self, params: dict, ctx: JobContext) -> StageRun:
        return self.run_class(self, params, ctx)
