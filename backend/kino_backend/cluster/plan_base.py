"""How a job's frames are split into tasks so the result does not depend on the number of workers.

``choose_plan(workflow)`` picks one of:

- ``frames``: no temporal schedule (``--temporal off``, the ``none`` look) and every stage works on each
  frame alone: chunks of frames in parallel, each through the whole workflow.
- ``spans``: temporal keyframe mode every K frames with a look that ignores ``init`` (classic looks) and
  no other stage: cut checks, keyframes in parallel, then each span between two keyframes filled on
  its own, then the temporal post pass span after span (``plan_spans.py``).
- ``shots``: the other temporal modes (per-frame blending, motion keyframes, looks that take ``init``):
  cut checks, then each shot in order on one worker; shots in parallel.
- ``clip``: a stage that carries state from frame to frame (keying, face scores, diffusion with
  cross-frame attention, painted keyframes, ``temporal.hold``/``interpolate``...): the whole strip is
  one task on one worker.

A plan receives the job's input frames as they arrive (``add_input``), makes tasks when their inputs
are there (``take_ready``), takes the items the tasks yield (``on_item``: returns output frames to
send to Blender), and commits a task's results when it ends (``on_done``) or drops them when its
worker died (``on_failed``: the driver runs it again elsewhere).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Dict, List

from ..stages.temporal.post import merged_figure
from ..workflow import Workflow

_seq = itertools.count()
CHUNK = 4  # fewest frames per task in the frames plan
CUT_CHUNK = 8  # fewest frame pairs per cut check
MAX_CHUNK = 16  # most frames (or pairs) per task
TASKS_PER_WORKER = 4  # tasks per worker a clip is cut into (room to balance, few calls)


def chunk_for(n: int, workers: int, least: int) -> int:
    """Frames per task for ``n`` frames on ``workers`` workers: about ``TASKS_PER_WORKER`` tasks each,
    at least ``least`` and at most ``MAX_CHUNK`` frames. Each task costs a call, its arrays' lookups and
    its results' reports (about 3 ms on a 2-core machine: a tenth of a small frame's look), so a short
    clip on few workers gets fewer, longer tasks. The split never changes a result (each frame, or each
    pair, is computed alone)."""
    per = -(-max(1, n) // (TASKS_PER_WORKER * max(1, workers)))
    return max(least, min(MAX_CHUNK, per))


@dataclass
class Task:
    """One unit of work for a worker: ``kind`` (cluster/tasks.py), the job frames it reads, the handles
    of its arrays in order, extra fields for the worker (``spec``), whether its frames are output
    frames (``emits``), its scheduling ``priority``, and per attempt: items received, frames sent."""
    kind: str
    frames: List[int]
    args: list
    priority: tuple
    emits: bool = False
    spec: dict = field(default_factory=dict)
    key: str = ""
    attempts: int = 0
    sent: set = field(default_factory=set)  # output frames already sent (a retry does not send them again)
    items: list = field(default_factory=list)  # what this attempt yielded so far
    failed_on: set = field(default_factory=set)  # workers that died while running it
    made: int = 0  # frames this attempt made (a worker's throughput)
    seconds: float = 0.0  # how long its successful attempt ran (dispatch to last item)
    seq: int = field(default_factory=lambda: next(_seq))

    def message(self, job: dict) -> dict:
        """What the worker gets (the arrays travel beside it)."""
        return {"kind": self.kind, "job": job, "frames": list(self.frames), "skip": sorted(self.sent), **self.spec}


def choose_plan(workflow: Workflow) -> str:
    """``frames``, ``spans``, ``shots`` or ``clip`` (module docstring)."""
    look = workflow.look_step
    sched = workflow.schedule_step
    others = [s for s in workflow.enabled if s is not look and s.stage.role != "schedule"]
    if not all(s.stage.frame_independent(s.params, sched is not None) for s in [look] + others):
        return "clip"
    if sched is None:
        return "frames"
    if sched.name != "temporal":
        return "clip"
    p = sched.params
    if max(p.get("hold") or 1, p.get("interpolate") or 1) > 1:
        return "clip"  # holds and in-betweens follow the clip's own frame numbers
    if p["keyframe_interval"] <= 0 and p["keyframes"] != "motion":
        return "shots" if p["strength"] > 0 else "clip"  # strength 0: no cut is ever looked for
    if p["keyframes"] == "interval" and not others and (not look.stage.takes_init or p["strength"] <= 0):
        return "spans"
    return "shots"


class Plan:
    """The base of every plan: the inputs received (handles by frame), the tasks made and not yet
    taken, the records tasks left for the provenance. ``put(array)`` stores an array for later tasks."""
    kind = ""

    def __init__(self, workflow: Workflow, n: int, put: Callable, workers: int = 1):
        self.workflow = workflow
        self.n = n
        self.workers = max(1, workers)
        self.put = put
        self.src: Dict[int, object] = {}
        self.received = 0
        self.inputs_done = False
        self.emitted: set = set()
        self._ready: List[Task] = []
        self.open_tasks = 0  # made and not yet ended well
        self.records: List[tuple] = []  # (first frame, kind, record) of finished tasks

    # -- inputs ------------------------------------------------------------------------------------
    packs_inputs = False  # True: add_input gets the arrays themselves and the plan stores them (``put``)

    def add_input(self, index: int, handle) -> None:
        self.src[index] = handle
        self.received = max(self.received, index)
        self.advance()

    def end_inputs(self) -> None:
        self.inputs_done = True
        self.advance()

    # -- tasks -------------------------------------------------------------------------------------
    def cut_priority(self, first_pair: int) -> tuple:
        """The priority of the cut check whose first pair ends at ``first_pair`` (before all else)."""
        return (0, first_pair)

    def task(self, kind: str, frames: List[int], args: list, priority: tuple, emits: bool = False, **spec) -> Task:
        t = Task(kind, list(frames), list(args), priority, emits, spec, key=f"{kind}:{frames[0]}-{frames[-1]}")
        self._ready.append(t)
        self.open_tasks += 1
        return t

    def take_ready(self) -> List[Task]:
        out, self._ready = self._ready, []
        return out

    def on_item(self, task: Task, item: tuple) -> list:
        """Output frames to send now ``[(index, image, matte, meta)]``; other items wait for ``on_done``."""
        if item[0] == "frame" and task.emits:
            index = item[1]
            if index in self.emitted:
                return []
            self.emitted.add(index)
            task.sent.add(index)
            return [item[1:]]
        task.items.append(item)
        return []

    def on_failed(self, task: Task) -> None:
        task.items = []

    def on_done(self, task: Task) -> None:
        for item in task.items:
            if item[0] == "record":
                self.records.append((task.frames[0], task.kind, item[1]))
        self.commit(task)
        task.items = []
        self.open_tasks -= 1
        self.advance()

    @property
    def finished(self) -> bool:
        """Every frame sent and every task's record in."""
        return len(self.emitted) >= self.n and self.open_tasks == 0

    # -- to override ---------------------------------------------------------------------------------
    def advance(self) -> None:
        """Make the tasks whose inputs are there."""

    def commit(self, task: Task) -> None:
        """A task ended well: keep what it made (``task.items``)."""

    def provenance(self) -> dict:
        """The stages' provenance of the job, merged from the tasks' records."""
        return merge_stages([(r["provenance"], r.get("pairs")) for _, kind, r in sorted(self.records, key=lambda x: x[0])
                             if kind == "pipeline"])


def merge_stages(parts: List[tuple]) -> dict:
    """Stage records ``(provenance, figure pairs)`` of tasks over consecutive parts of a clip, in order:
    each stage's record from the first part, except ``temporal``, whose counts and lists cover the whole
    clip (``merge_temporal``)."""
    out: dict = {}
    for provenance, _ in parts:
        for name, record in provenance.items():
            out.setdefault(name, record)
    temporal = [(p["temporal"], pairs or ([], [])) for p, pairs in parts if "temporal" in p]
    if temporal:
        out["temporal"] = merge_temporal([r for r, _ in temporal], [pairs for _, pairs in temporal])
    return out


def merge_temporal(records: List[dict], pairs: List[tuple]) -> dict:
    """The temporal stage's record of a clip from the records of its consecutive parts."""
    merged = dict(records[0])
    for key in ("keyframes", "fallback_frames", "cuts"):
        merged[key] = [i for r in records for i in r.get(key, [])]
    for key in ("frames_stylized", "frames"):
        merged[key] = sum(r.get(key, 0) for r in records)
    merged["figure"] = merged_figure(merged.get("flow", "dis"), pairs)
    return merged


class ClipPlan(Plan):
    """The whole strip in one task, once every frame has arrived."""
    kind = "clip"

    def advance(self) -> None:
        if self.inputs_done and not getattr(self, "_made", False):
            self._made = True
            frames = list(range(1, self.n + 1))
            self.task("pipeline", frames, [self.src[i] for i in frames], (1, 1), emits=True)

    def commit(self, task: Task) -> None:
        self.src.clear()


class FramesPlan(Plan):
    """Chunks of frames in parallel (``chunk_for``), each through the whole workflow. A chunk's frames
    travel as one object (``packed``): one store and one lookup per task instead of one per frame."""
    kind = "frames"
    packs_inputs = True

    def __init__(self, workflow: Workflow, n: int, put: Callable, workers: int = 1, chunk: int = 0):
        super().__init__(workflow, n, put, workers)
        self.chunk = max(1, chunk or chunk_for(n, workers, CHUNK))
        self.next = 1

    def advance(self) -> None:
        while self.next <= self.n:
            end = min(self.next + self.chunk - 1, self.n)
            if self.received < end:
                return
            frames = list(range(self.next, end + 1))
            packed = self.put([self.src.pop(i) for i in frames])
            self.task("pipeline", frames, [packed], (1, self.next), emits=True, packed=True)
            self.next = end + 1

    def commit(self, task: Task) -> None:
        pass  # the chunk's object goes when its task does
