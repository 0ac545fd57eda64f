"""Where a job's time goes: wall seconds spent in each part of the pipeline, each part counted without
the parts it pulls frames from (stages are chained generators, so a stage's ``next()`` includes its
upstream's) and without the look it calls (the schedule stage calls the look).

``jobs`` records the result in ``provenance["timings"]["parts_s"]`` (so in ``kino.json``), beside the
time spent waiting for the client's frames (``input_wait``) and sending the results (``send``).
``bench pipeline`` reads it back (docs/performance.md).
"""
from __future__ import annotations

import time
from typing import Dict, Iterator, Optional

CTX_KEY = "kino.stage_clock"


class StageClock:
    """Accumulated wall seconds per part name; ``nested`` counts time that a part's own ``next()``
    contains but belongs to another part (the look inside the schedule stage)."""

    def __init__(self):
        self.seconds: Dict[str, float] = {}
        self.nested = 0.0

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + max(0.0, seconds)

    def timed_call(self, name: str, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``, its time added to ``name`` and to ``nested``."""
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            dt = time.perf_counter() - t0
            self.add(name, dt)
            self.nested += dt

    def summary(self, frames: int) -> dict:
        """{"parts_s": {name: total s}, "parts_s_per_frame": {name: s per frame}} rounded."""
        per = {k: round(v / frames, 4) for k, v in self.seconds.items()} if frames else {}
        return {"parts_s": {k: round(v, 4) for k, v in self.seconds.items()}, "parts_s_per_frame": per}


def clock_of(ctx) -> StageClock:
    """The job's clock, kept in ``ctx.cache`` (made on first use)."""
    clock = ctx.cache.get(CTX_KEY)
    if clock is None:
        clock = ctx.cache[CTX_KEY] = StageClock()
    return clock


class TimedUpstream:
    """Iterator wrapper that adds up the time spent waiting for the upstream's next item (``elapsed``)."""

    def __init__(self, upstream: Iterator, clock: Optional[StageClock] = None, name: str = ""):
        self._it = iter(upstream)
        self.elapsed = 0.0
        self._clock, self._name = clock, name

    def __iter__(self):
        return self

    def __next__(self):
        t0 = time.perf_counter()
        try:
            return next(self._it)
        finally:
            dt = time.perf_counter() - t0
            self.elapsed += dt
            if self._clock is not None:
                self._clock.add(self._name, dt)
