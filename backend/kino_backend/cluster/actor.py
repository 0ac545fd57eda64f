"""The Ray actor around a ``WorkerCore``: ``ray::KinoWorker`` in the process list.

Two concurrency groups: ``work`` (one thread: one task at a time, streamed back as a Ray generator of
lists of items, ``worker.batched``) and ``control`` (``ping``, ``stats``, ``cancel`` answer while a
task runs, so a cancel reaches a running task). The actor restarts when its process dies
(``max_restarts=-1``); the driver resubmits what it was running to another worker. Its process starts
with Kino's malloc settings in its environment (``connect.start_workers``, ``malloc_tuning.ENV``).
"""
from __future__ import annotations

import ray

from .worker import WorkerCore, batched, run_at_normal_priority


@ray.remote(max_restarts=-1, concurrency_groups={"control": 1, "work": 1})
class KinoWorker:
    """A Kino worker on a Ray cluster: a warm backend that runs Kino tasks (``cluster/tasks.py``)."""

    def __init__(self, name: str):
        run_at_normal_priority()
        self.core = WorkerCore(name)

    @ray.method(concurrency_group="control")
    def ping(self) -> dict:
        return self.core.ping()

    @ray.method(concurrency_group="control")
    def stats(self) -> dict:
        return self.core.stats()

    @ray.method(concurrency_group="control")
    def cancel(self, job_id: str) -> bool:
        return self.core.cancel(job_id)

    @ray.method(concurrency_group="work")
    def run(self, task: dict, *args):
        yield from batched(self.core.run(task, *args))
