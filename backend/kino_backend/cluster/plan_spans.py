"""The spans plan: temporal keyframe mode (every K frames) over a cluster, with the single-machine
result.

1. Cut checks over chunks of frame pairs (``CutFinder``), in parallel.
2. Keyframes placed exactly where ``KeyframeScheduler`` puts them: the first frame of each shot, then
   every K-th frame; a shot's last frame too when it lies at least K/2 after the last keyframe.
   Each keyframe is stylized by its own task, in parallel (the look ignores ``init``).
3. Each span between two keyframes of a shot is filled by its own task (``spans.fill_between``); a
   shot's tail shorter than K/2 is filled from its last keyframe alone.
4. The temporal post pass (smoothing, deflicker, figure) runs over units "a keyframe and the filled
   frames after it", each starting from the state the unit before it left: in order within a shot,
   shots in parallel. Its frames are the output frames.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional

from ..workflow import Workflow
from .cuts import CutFinder
from .plan_base import Plan, Task, merge_temporal


class SpansPlan(Plan):
    kind = "spans"

    def __init__(self, workflow: Workflow, n: int, put: Callable, workers: int = 1):
        super().__init__(workflow, n, put, workers)
        self.finder = CutFinder(self)
        self.interval = int(workflow.schedule_step.params["keyframe_interval"]) or 20
        self.keys: List[int] = []
        self.last_key: Optional[int] = None  # the last keyframe placed
        self.placed_all = False
        self.spans: List[tuple] = []  # (k0, k1 or None for a tail, last frame)
        self.units: Dict[int, dict] = {}  # keyframe -> {"end": last frame, "prev": unit before it in the shot}
        self.unit_prev: Dict[int, Optional[int]] = {}
        self.key_out: Dict[int, object] = {}
        self.fills: Dict[int, object] = {}
        self.carry: Dict[int, object] = {}
        self._todo_keys: List[int] = []  # keyframes, spans (their k0), units (their keyframe) without a task
        self._todo_spans: List[tuple] = []
        self._todo_units: List[int] = []
        self.fallbacks: Dict[int, list] = {}  # span start -> its fallback frames
        self.pairs: Dict[int, tuple] = {}  # unit keyframe -> figure pairs
        self.temporal_record: Optional[dict] = None

    # -- keyframe placement (KeyframeScheduler's rule) -------------------------------------------------
    def _place(self) -> None:
        if self.last_key is None:
            self._add_key(1, shot_start=True)
        while not self.placed_all:
            k = self.last_key
            cut = self.finder.next_cut(k)
            candidate = k + self.interval
            if cut is not None and cut <= candidate:
                self._end_shot(cut - 1)
                self._add_key(cut, shot_start=True)
            elif candidate <= min(self.finder.known, self.n):
                self._add_key(candidate)
            elif self.finder.complete:
                self._end_shot(self.n)
                self.placed_all = True
            else:
                return

    def _add_key(self, k: int, shot_start: bool = False) -> None:
        prev = self.last_key
        self.keys.append(k)
        self._todo_keys.append(k)
        self.unit_prev[k] = None
        if not shot_start:
            self._add_span((prev, k, k))
            self._add_unit(prev, k - 1)
            self.unit_prev[k] = prev
        self.last_key = k

    def _add_span(self, span: tuple) -> None:
        self.spans.append(span)
        self._todo_spans.append(span)

    def _add_unit(self, k: int, end: int) -> None:
        self.units[k] = {"end": end, "prev": self.unit_prev[k]}
        self._todo_units.append(k)

    def _end_shot(self, end: int) -> None:
        k = self.last_key
        tail = end - k
        if tail >= max(1, self.interval // 2):
            self._add_key(end)
            self._add_unit(end, end)
        else:
            if tail > 0:
                self._add_span((k, None, end))
            self._add_unit(k, end)

    # -- tasks -----------------------------------------------------------------------------------------
    # Priorities go by frame, then cut check < keyframe < span < post pass: a worker finishes the work
    # on the start of the clip before it checks cuts further on, so a span finds the flows the cut
    # checks of its frames computed still in the worker's flow cache (bounded: checking the whole clip
    # first would push them out, and they would be computed again).
    def cut_priority(self, first_pair: int) -> tuple:
        return (first_pair - 1, 0)

    def _have(self, first: int, last: int) -> bool:
        return self.received >= last

    def advance(self) -> None:
        self.finder.make_tasks()
        self._place()
        self._todo_keys = [k for k in self._todo_keys if not self._key_task(k)]
        self._todo_spans = [s for s in self._todo_spans if not self._span_task(*s)]
        self._todo_units = [k for k in self._todo_units if not self._post_task(k, self.units[k])]

    def _key_task(self, k: int) -> bool:
        if not self._have(k, k):
            return False
        self.task("keys", [k], [self.src[k]], (k, 1))
        return True

    def _span_task(self, k0: int, k1: Optional[int], end: int) -> bool:
        if not self._have(k0, end) or k0 not in self.key_out or (k1 is not None and k1 not in self.key_out):
            return False
        if end == k0 + 1 and k1 is not None:  # two keyframes side by side: nothing to fill
            self.fallbacks[k0] = []
            return True
        frames = list(range(k0, end + 1))
        args = [self.src[i] for i in frames] + [self.key_out[k0]] + ([self.key_out[k1]] if k1 is not None else [])
        self.task("span", frames, args, (k0, 2), tail=k1 is None)
        return True

    def _post_task(self, k: int, unit: dict) -> bool:
        frames = list(range(k, unit["end"] + 1))
        prev = unit["prev"]
        if k not in self.key_out or any(i not in self.fills for i in frames[1:]):
            return False
        if prev is not None and prev not in self.carry:
            return False
        args = [self.src[i] for i in frames] + [self.key_out[k]] + [self.fills[i] for i in frames[1:]]
        if prev is not None:
            args.append(self.carry[prev])
        cuts = [c for c in self.finder.cuts if k <= c <= unit["end"]]
        self.task("post", frames, args, (k, 3), emits=True, carry=prev is not None, cuts=cuts)
        return True

    # -- results ---------------------------------------------------------------------------------------
    def commit(self, task: Task) -> None:
        if task.kind == "cuts":
            self.finder.commit(task)
            return
        frames = {item[1]: item[2] for item in task.items if item[0] == "frame"}
        record = next((item[1] for item in task.items if item[0] == "record"), {})
        if task.kind == "keys":
            for k, image in frames.items():
                self.key_out[k] = self.put(image)
        elif task.kind == "span":
            for i, image in frames.items():
                self.fills[i] = self.put(image)
            self.fallbacks[task.frames[0]] = record.get("fallback_frames", [])
        elif task.kind == "post":
            self._unit_done(task.frames[0], record)

    def _unit_done(self, k: int, record: dict) -> None:
        unit = self.units[k]
        self.carry[k] = self.put(record["carry"])
        self.pairs[k] = record["pairs"]
        self.temporal_record = self.temporal_record or record["temporal"]
        if unit["prev"] is not None:
            self.carry.pop(unit["prev"], None)
        for i in range(k, unit["end"] + 1):
            if i != self.finder.next - 1:  # a cut check not yet made still reads that frame
                self.src.pop(i, None)
            self.fills.pop(i, None)
        self.key_out.pop(k, None)

    def provenance(self) -> dict:
        fallback = [i for k0 in sorted(self.fallbacks) for i in self.fallbacks[k0]]
        base = dict(self.temporal_record or {})
        merged = merge_temporal([base], [self.pairs[k] for k in sorted(self.pairs)])
        merged.update(keyframes=list(self.keys), cuts=list(self.finder.cuts), fallback_frames=fallback,
                      frames_stylized=len(self.keys) + len(fallback), frames=self.n)
        return {"temporal": merged}
