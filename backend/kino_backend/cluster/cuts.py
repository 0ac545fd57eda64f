"""Hard-cut checks over a clip in parallel: chunks of consecutive frame pairs, each checked by the
temporal stage's own cut test on a worker; the results are joined in order, so ``cuts`` holds every
cut up to ``known`` (the last frame whose pair with its predecessor is checked)."""
from __future__ import annotations

from typing import Dict, List, Tuple

from .plan_base import CUT_CHUNK, Plan, Task, chunk_for


class CutFinder:
    """Makes the cut-check tasks of a plan as frames arrive and joins their results in order."""

    def __init__(self, plan: Plan, chunk: int = 0):
        self.plan = plan
        self.chunk = max(1, chunk or chunk_for(plan.n - 1, plan.workers, CUT_CHUNK))
        self.next = 2  # the first frame whose pair (frame - 1, frame) has no task yet
        self.known = 1  # every pair up to this frame is checked
        self.cuts: List[int] = []  # frames that start a new shot, up to ``known``, in order
        self._results: Dict[int, Tuple[int, List[int]]] = {}

    def make_tasks(self) -> None:
        plan = self.plan
        while self.next <= plan.n:
            end = min(self.next + self.chunk - 1, plan.n)
            if plan.received < end:
                return
            frames = list(range(self.next - 1, end + 1))
            plan.task("cuts", frames, [plan.src[i] for i in frames], plan.cut_priority(self.next))
            self.next = end + 1

    def commit(self, task: Task) -> None:
        cuts = next(item[1] for item in task.items if item[0] == "cuts")
        self._results[task.frames[1]] = (task.frames[-1], list(cuts))
        while self.known + 1 in self._results:
            end, found = self._results.pop(self.known + 1)
            self.cuts.extend(found)
            self.known = end

    @property
    def complete(self) -> bool:
        return self.known >= self.plan.n

    def next_cut(self, after: int):
        """The first known cut after frame ``after`` (None when none is known)."""
        return next((c for c in self.cuts if c > after), None)
