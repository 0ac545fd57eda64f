"""How the driver reaches its workers: ``RayExecutor`` (Kino workers as Ray actors, arrays in Ray's
object store) and ``LocalExecutor`` (workers in this process, arrays passed as they are: the same
scheduling without a cluster, for tests and debugging). Both give the driver:

- ``workers``: the workers' names;
- ``put(value)``: a handle for an array (or a small dict of arrays) that tasks may read;
- ``run(worker, message, args)``: the task's items, as the worker yields them (blocks the caller);
- ``alive(worker)``, ``cancel(job_id)`` (every worker stops that job's tasks), ``is_lost(exc)``.
"""
from __future__ import annotations

import threading
from typing import Dict, Iterator, List

from .worker import WorkerCore


class LocalExecutor:
    """``count`` Kino workers in this process (each task runs in the calling dispatcher thread)."""

    def __init__(self, count: int = 2, resources=None):
        self.cores: Dict[str, WorkerCore] = {f"local-{i}": WorkerCore(f"local-{i}", resources) for i in range(count)}
        self.workers: List[str] = list(self.cores)
        self.lost: set = set()  # tests: workers whose next task dies after ``die_after`` items
        self.die_after = 1
        self._lock = threading.Lock()
        self._busy = {name: threading.Lock() for name in self.cores}  # one task at a time, as an actor

    def put(self, value):
        return value

    def run(self, worker: str, message: dict, args: list) -> Iterator[tuple]:
        with self._busy[worker]:  # a task given to a busy worker waits for it (the actor's queue)
            for n, item in enumerate(self.cores[worker].run(message, *args), start=1):
                yield item
                with self._lock:
                    if worker in self.lost and n >= self.die_after:
                        self.lost.discard(worker)
                        raise WorkerLost(f"worker {worker} died (simulated)")

    def alive(self, worker: str, timeout: float = 2.0) -> bool:
        return True

    def cancel(self, job_id: str) -> None:
        for core in self.cores.values():
            core.cancel(job_id)

    def stats(self) -> List[dict]:
        return [core.stats() for core in self.cores.values()]

    @staticmethod
    def is_lost(exc: BaseException) -> bool:
        return isinstance(exc, WorkerLost)


class WorkerLost(RuntimeError):
    """A worker process died while running a task (LocalExecutor's stand-in for Ray's errors)."""


class RayExecutor:
    """Kino workers on a Ray cluster: ``handles`` maps worker names to ``KinoWorker`` actor handles."""

    def __init__(self, handles: Dict[str, object]):
        import ray

        self._ray = ray
        self.handles = dict(handles)
        self.workers: List[str] = list(self.handles)

    def put(self, value):
        return self._ray.put(value)

    def run(self, worker: str, message: dict, args: list) -> Iterator[tuple]:
        ray = self._ray
        for ref in self.handles[worker].run.remote(message, *args):
            yield from ray.get(ref)  # the worker sends its items in lists (worker.batched)

    def alive(self, worker: str, timeout: float = 2.0) -> bool:
        ray = self._ray
        try:
            ray.get(self.handles[worker].ping.remote(), timeout=timeout)
            return True
        except (ray.exceptions.RayError, TimeoutError):
            return False

    def cancel(self, job_id: str) -> None:
        for handle in self.handles.values():
            try:
                handle.cancel.remote(job_id)
            except self._ray.exceptions.RayError:
                pass  # a worker that is gone runs nothing

    def stats(self, timeout: float = 5.0) -> List[dict]:
        return worker_stats(self.handles, timeout)

    def is_lost(self, exc: BaseException) -> bool:
        e = self._ray.exceptions
        return isinstance(exc, (e.RayActorError, e.WorkerCrashedError, e.ObjectLostError, e.NodeDiedError))


def worker_stats(handles: Dict[str, object], timeout: float = 5.0) -> List[dict]:
    """Each worker's ``stats()`` (a worker that does not answer in time is listed as not answering)."""
    import ray

    refs = {name: h.stats.remote() for name, h in handles.items()}
    out = []
    for name, ref in refs.items():
        try:
            out.append(ray.get(ref, timeout=timeout))
        except (ray.exceptions.RayError, TimeoutError) as exc:
            out.append({"name": name, "state": f"not answering ({type(exc).__name__})"})
    return out

