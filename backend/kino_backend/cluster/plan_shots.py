"""The shots plan: cut checks in parallel, then each shot (from a cut to the frame before the next)
through the whole workflow on one worker, in order; shots run in parallel. Exact for every temporal
mode, since the temporal stage starts afresh at a hard cut. Per-frame temporal mode parallelises
across shots, not within one."""
from __future__ import annotations

from typing import Callable

from ..workflow import Workflow
from .cuts import CutFinder
from .plan_base import Plan, Task, merge_stages


class ShotsPlan(Plan):
    kind = "shots"

    def __init__(self, workflow: Workflow, n: int, put: Callable, workers: int = 1):
        super().__init__(workflow, n, put, workers)
        self.finder = CutFinder(self)
        self.shot_start = 1  # the first frame of the next shot without a task

    def advance(self) -> None:
        self.finder.make_tasks()
        while self.shot_start <= self.n:
            cut = self.finder.next_cut(self.shot_start)
            if cut is not None:
                end = cut - 1
            elif self.finder.complete:
                end = self.n
            else:
                return
            if self.received < end:
                return
            frames = list(range(self.shot_start, end + 1))
            self.task("pipeline", frames, [self.src[i] for i in frames], (1, self.shot_start), emits=True)
            self.shot_start = end + 1

    def commit(self, task: Task) -> None:
        if task.kind == "cuts":
            self.finder.commit(task)
            return
        for i in task.frames:
            if i not in self.finder_frames_needed():
                self.src.pop(i, None)

    def finder_frames_needed(self) -> set:
        """Frames a cut check not yet made still reads (the pair before ``finder.next``)."""
        return {self.finder.next - 1} if self.finder.next <= self.n else set()

    def provenance(self) -> dict:
        parts = [(r["provenance"], r.get("pairs")) for _, kind, r in sorted(self.records, key=lambda x: x[0])
                 if kind == "pipeline"]
        merged = merge_stages(parts)
        if "temporal" in merged:
            merged["temporal"]["cuts"] = list(self.finder.cuts)
        return merged
