"""Workflows: validate a ``workflow`` object and run it as a streamed frame pipeline.

A workflow is ``{"version": 1, "look": name, "stages": [{"name", "enabled", "params"}]}`` (contract
§2). Validation fills every parameter (each ``Stage.validate``) and collects per-field errors as
``{"stage.param": "message"}``. Running composes, for the enabled stages::

    prepare() in workflow order -> schedule(look) -> finish() in reverse order

where the schedule is the enabled stage with role "schedule", else a plain per-frame loop. The
pass-through look ``none`` always uses the plain loop, so it returns frames untouched.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional

import numpy as np

from kino_addon.protocol.quoting import clip, quote

from .stage_clock import StageClock, TimedUpstream, clock_of
from .stages import all_stages
from .stages.base import Cancelled, Frame, JobContext, ParamError, Stage, StageError, StageRun
from kino_addon.protocol.errors import INTERNAL, INVALID_PARAMS

log = logging.getLogger("kino.workflow")
WORKFLOW_VERSION = 1
PASSTHROUGH_LOOK = "none"  # the look that passes frames through untouched (kino_addon uses the same name)


class WorkflowError(ValueError):
    """An invalid workflow; ``fields`` maps ``"stage.param"`` (or ``"workflow.x"``) to a message."""

    def __init__(self, fields: Dict[str, str]):
        self.fields = dict(fields)
        items = list(self.fields.items())
        summary = "; ".join(f"{k}: {v}" for k, v in items[:5])
        more = f" (and {len(items) - 5} more problems in the workflow)" if len(items) > 5 else ""
        super().__init__(summary + more)  # what is wrong first: the code (INVALID_PARAMS) travels beside it


@dataclass
class Step:
    """One stage of a validated workflow: the stage, whether it runs, its validated parameters."""
    stage: Stage
    enabled: bool
    params: dict

    @property
    def name(self) -> str:
        return self.stage.name


@dataclass
class Workflow:
    """A validated workflow: the look's name and its steps in order."""
    look: str
    steps: List[Step]

    @property
    def enabled(self) -> List[Step]:
        return [s for s in self.steps if s.enabled]

    @property
    def look_step(self) -> Step:
        return next(s for s in self.enabled if s.stage.role == "look")

    @property
    def schedule_step(self) -> Optional[Step]:
        if self.look_step.name == PASSTHROUGH_LOOK:
            return None
        return next((s for s in self.enabled if s.stage.role == "schedule"), None)

    def to_json(self) -> dict:
        """The workflow with every parameter filled (what provenance records)."""
        return {"version": WORKFLOW_VERSION, "look": self.look,
                "stages": [{"name": s.name, "enabled": s.enabled, "params": dict(s.params)} for s in self.steps]}


def _check(stage: Stage, params: dict) -> dict:
    """``stage.validate``; a value a stage's own checks trip over becomes a ParamError too (and is logged:
    the stage's check should have said what is wrong itself)."""
    try:
        return stage.validate(params)
    except ParamError:
        raise
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        log.warning("stage %s could not check %s: %s", stage.name, quote(params, 200), clip(str(exc), 300))
        key = next(iter(params), "params") if len(params) == 1 else "params"
        raise ParamError(clip(str(key), 100), f"{quote(params.get(key))} cannot be used here ({clip(str(exc), 200)})") \
            from None


def _validate_params(stage: Stage, params: dict, fields: Dict[str, str]) -> dict:
    try:
        return _check(stage, dict(params))
    except ParamError as first:
        found = False
        for key, value in params.items():  # find every bad field, not only the first
            try:
                _check(stage, {key: value})
            except ParamError as exc:
                fields[f"{stage.name}.{clip(exc.field, 100)}"] = exc.message
                found = True
        if not found:
            fields[f"{stage.name}.{clip(first.field, 100)}"] = first.message
        return {}


def _check_stage_entry(i: int, entry, registry: Dict[str, Stage], fields: Dict[str, str]) -> Optional[Step]:
    where = f"workflow.stages[{i}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        fields[where] = 'must be an object {"name": str, "enabled": bool, "params": {}}'
        return None
    name = entry["name"]
    if name not in registry:
        fields[f"{where}.name"] = f"unknown stage {quote(name)}; registered stages: {', '.join(sorted(registry))}"
        return None
    enabled, params = entry.get("enabled", True), entry.get("params") or {}
    if not isinstance(enabled, bool):
        fields[f"{name}.enabled"] = "must be true or false"
        return None
    if not isinstance(params, dict):
        fields[f"{name}.params"] = "must be an object of parameter values"
        return None
    return Step(registry[name], enabled, _validate_params(registry[name], params, fields))


def validate_workflow(data, known_looks: Optional[Iterable[str]] = None,
                      registry: Optional[Dict[str, Stage]] = None) -> Workflow:
    """Check a workflow object; return it with every parameter filled, or raise ``WorkflowError``."""
    registry = all_stages() if registry is None else registry
    if not isinstance(data, dict):
        raise WorkflowError({"workflow": "must be an object {\"version\": 1, \"look\": ..., \"stages\": [...]}"})
    fields: Dict[str, str] = {}
    if data.get("version") != WORKFLOW_VERSION:
        fields["workflow.version"] = f"must be {WORKFLOW_VERSION}, got {quote(data.get('version'))}"
    if known_looks is None:
        from .presets import look_names
        known_looks = look_names(registry)
    known_looks = set(known_looks) | {n for n, s in registry.items() if s.role == "look"}
    look = data.get("look")
    if not isinstance(look, str) or look not in known_looks:
        fields["workflow.look"] = f"unknown look {quote(look)}; valid looks: {', '.join(sorted(known_looks))}"
    entries = data.get("stages")
    if not isinstance(entries, list) or not entries:
        fields["workflow.stages"] = "must be a non-empty list of stages"
        entries = []
    steps = [s for s in (_check_stage_entry(i, e, registry, fields) for i, e in enumerate(entries)) if s]
    seen = [s.name for s in steps]
    for name in {n for n in seen if seen.count(n) > 1}:
        fields[f"{name}"] = "stage listed more than once"
    looks_on = [s.name for s in steps if s.enabled and s.stage.role == "look"]
    if entries and len(looks_on) != 1 and not any(k.startswith("workflow.stages[") for k in fields):
        fields["workflow.stages"] = (f"exactly one enabled look stage is needed, found {len(looks_on)}"
                                     + (f" ({', '.join(looks_on)})" if looks_on else ""))
    schedules = [s.name for s in steps if s.enabled and s.stage.role == "schedule"]
    if len(schedules) > 1:
        fields["workflow.stages"] = f"at most one enabled schedule stage, found {', '.join(schedules)}"
    if fields:
        raise WorkflowError(fields)
    return Workflow(look=look, steps=steps)


# -- running -------------------------------------------------------------------------------------

def annotate(exc: BaseException, stage: Optional[str], frame: Optional[int]) -> None:
    """Record where an exception happened (the innermost stage wins)."""
    if isinstance(exc, StageError):
        exc.stage = exc.stage or stage
        exc.frame = exc.frame if exc.frame is not None else frame
    if getattr(exc, "kino_where", None) is None:
        try:
            exc.kino_where = (stage, frame)
        except AttributeError:
            pass


class _Tracked(TimedUpstream):
    """Iterator wrapper that remembers the index of the last frame handed downstream (and, as a
    ``TimedUpstream``, how long the upstream took to hand it)."""

    def __init__(self, upstream: Iterator[Frame]):
        super().__init__(upstream)
        self.last: Optional[int] = None

    def __next__(self) -> Frame:
        frame = super().__next__()
        self.last = frame.index
        return frame


def _guard(name: str, step_fn, upstream: Iterator[Frame], clock: Optional[StageClock] = None,
           calls_look: bool = False) -> Iterator[Frame]:
    """``step_fn`` over ``upstream``, failures located (stage, frame); with a ``clock`` the step's own
    time (without its upstream's, and for the schedule step (``calls_look``) without the look's) is
    added to ``name``."""
    tracked = _Tracked(upstream)
    it = None
    try:
        it = iter(step_fn(tracked))
        while True:
            t0, up0, nested0 = time.perf_counter(), tracked.elapsed, clock.nested if calls_look else 0.0
            try:
                frame = next(it)
            except StopIteration:
                return
            finally:
                if clock is not None:
                    inner = (tracked.elapsed - up0) + ((clock.nested - nested0) if calls_look else 0.0)
                    clock.add(name, time.perf_counter() - t0 - inner)
            yield frame
    except (Cancelled, GeneratorExit):
        raise
    except Exception as exc:
        annotate(exc, name, tracked.last)
        raise
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


class _LookCall:
    """Wraps the look's StageRun: checks the stylized image and records failures with stage + frame."""

    def __init__(self, run: StageRun, clock: Optional[StageClock] = None):
        self._run = run
        self._clock = clock

    def __getattr__(self, item):
        return getattr(self._run, item)

    def stylize(self, frame: Frame, *args, **kwargs) -> np.ndarray:
        name = self._run.stage.name
        try:
            self._run.ctx.check_cancelled()
            if self._clock is None:
                out = self._run.stylize(frame, *args, **kwargs)
            else:
                out = self._clock.timed_call(name, self._run.stylize, frame, *args, **kwargs)
        except Cancelled:
            raise
        except Exception as exc:
            annotate(exc, name, frame.index)
            raise
        if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.shape != frame.image.shape:
            got = f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}"
            raise StageError(INTERNAL, f"look {name!r} returned {got}, expected uint8 {frame.image.shape}",
                             frame=frame.index, stage=name)
        return out


def _plain_schedule(frames: Iterator[Frame], look: _LookCall) -> Iterator[Frame]:
    for frame in frames:
        yield frame.replace(image=look.stylize(frame))


class Pipeline:
    """The opened stages of one job. Use as a context manager: ``close()`` of every opened
    StageRun is always called, even when a stage fails or the job is cancelled."""

    def __init__(self, workflow: Workflow, ctx: JobContext):
        self.workflow = workflow
        self.ctx = ctx
        self.runs: Dict[str, StageRun] = {}

    def __enter__(self) -> "Pipeline":
        schedule = self.workflow.schedule_step
        for step in self.workflow.enabled:
            if step.stage.role == "schedule" and step is not schedule:
                continue  # a schedule stage the pass-through look does not use
            try:
                self.runs[step.name] = step.stage.open(dict(step.params), self.ctx)
            except BaseException as exc:
                annotate(exc, step.name, None)
                self.close()
                raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        for name, run in reversed(list(self.runs.items())):
            try:
                run.close()
            except Exception:  # one failing close must not skip the others
                log.exception("close() of stage %s failed", name)
        self.runs.clear()

    @property
    def look(self) -> _LookCall:
        """The opened look stage, wrapped like ``run`` calls it (checked output, errors located)."""
        return _LookCall(self.runs[self.workflow.look_step.name], clock_of(self.ctx))

    def prepare(self, frames: Iterator[Frame], include_look: bool = True) -> Iterator[Frame]:
        """The frames after each stage's ``prepare`` in workflow order (the first part of ``run``);
        ``include_look=False`` leaves out the look's own (it only stylizes ahead, never changes a frame)."""
        stream: Iterator[Frame] = frames
        clock = clock_of(self.ctx)
        for name, run in self.runs.items():
            if include_look or run.stage.role != "look":
                stream = _guard(name, run.prepare, stream, clock)
        return stream

    def checkpoint(self) -> Optional[dict]:
        """Every stage's state right after the frame that just left ``run`` ({stage: state}), or None
        when a stage has no clean point now (``StageRun.checkpoint``)."""
        states, earlier_state = {}, False
        for name, run in self.runs.items():  # workflow order: each stage feeds the next
            if earlier_state and run.held():
                return None  # an earlier stage already went past the frame that just left
            state = run.checkpoint()
            if state is None:
                return None
            states[name] = state
            earlier_state = earlier_state or bool(state)
        return states

    def restore(self, states: dict) -> None:
        """Continue from ``checkpoint()`` of an earlier job with this workflow (before ``run``)."""
        unknown = sorted(set(states) - set(self.runs))
        if unknown:
            raise StageError(INVALID_PARAMS, f"the resume state names stages this job does not run: "
                             f"{', '.join(unknown)}", stage="resume")
        for name, run in self.runs.items():
            try:
                run.restore(states.get(name) or {})
            except (KeyError, TypeError, ValueError) as exc:
                raise StageError(INVALID_PARAMS, f"the resume state of stage {name!r} is unusable ({exc})",
                                 stage=name) from None

    def run(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        runs = self.runs
        look = self.look
        schedule = self.workflow.schedule_step
        stream = self.prepare(frames)
        clock = clock_of(self.ctx)
        if schedule is None:
            stream = _guard(look.stage.name, lambda s: _plain_schedule(s, look), stream, clock, calls_look=True)
        else:
            sched_run = runs[schedule.name]
            stream = _guard(schedule.name, lambda s: sched_run.schedule(s, look), stream, clock, calls_look=True)
        for name, run in reversed(list(runs.items())):
            stream = _guard(name, run.finish, stream, clock)
        return stream
