"""One Kino worker's state, without Ray (the actor in ``actor.py`` wraps it): a warm backend
``Resources`` (models loaded once, kept across jobs), a cache per job (flows computed by one task are
reused by the next task of the same job on this worker), the jobs cancelled, and its throughput.
"""
from __future__ import annotations

import collections
import os
import socket
import threading
import time
from typing import Iterable, Iterator, List, Optional

from kino_addon.core.malloc_tuning import ENV as MALLOC_ENV
from kino_addon.core.processes import page_faults

from ..job_events import error_from_exception
from ..resources import Resources
from ..stages.base import Cancelled, JobContext
from .tasks import COUNTED, run_task

JOB_CACHES = 2  # per-job caches kept (the running job and the one before)
RATE_WINDOW = 30.0  # seconds over which the recent frames/s is measured
FLUSH_S = 0.25  # frames that come quicker than this travel together, at most this long after the last send


def batched(items: Iterable[tuple], flush_s: float = FLUSH_S, clock=time.monotonic) -> Iterator[List[tuple]]:
    """A task's items in lists, so a fast task makes a few results instead of one per frame (each result
    a worker streams costs an object and a report to the driver: ~1 ms, a tenth of a small frame's look).

    An item goes out at once when it is not a frame (cuts, a record, an error, a cancel: the last ones),
    when it took ``flush_s`` or longer since the one before (a slow look streams every frame as it is
    made), or when the list is ``flush_s`` old; the rest wait for the next item or the end of the task.
    """
    batch: List[tuple] = []
    last_sent = last_item = clock()
    for item in items:
        now = clock()
        batch.append(item)
        if item[0] != "frame" or now - last_item >= flush_s or now - last_sent >= flush_s:
            yield batch
            batch, last_sent = [], now
        last_item = now
    if batch:
        yield batch


class WorkerCore:
    """A Kino worker: runs tasks (``run``), answers ``ping``/``stats``/``cancel`` from another thread."""

    def __init__(self, name: str, resources: Optional[Resources] = None):
        self.name = name
        self.resources = resources or Resources()
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self._lock = threading.Lock()
        self._caches: "collections.OrderedDict[str, dict]" = collections.OrderedDict()
        self._cancelled: "collections.OrderedDict[str, threading.Event]" = collections.OrderedDict()
        self._recent: collections.deque = collections.deque()  # (time, frames) of finished tasks
        self.tasks = self.frames = 0
        self.busy_s = 0.0
        self.current: Optional[str] = None
        self.started = time.time()

    # -- control (any thread) --------------------------------------------------------------------
    def ping(self) -> dict:
        return {"name": self.name, "pid": self.pid, "host": self.host, "device": self.resources.default_device(),
                "gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),  # Ray gives each GPU worker its own
                "nice": os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else None,
                "malloc_tuned": all(os.environ.get(k) == v for k, v in MALLOC_ENV.items())}

    def cancel(self, job_id: str) -> bool:
        self._flag(job_id).set()
        return True

    def stats(self) -> dict:
        now = time.time()
        with self._lock:
            while self._recent and now - self._recent[0][0] > RATE_WINDOW:
                self._recent.popleft()
            recent = sum(n for _, n in self._recent)
            window = min(RATE_WINDOW, now - self.started)
            return {**self.ping(), "tasks": self.tasks, "frames": self.frames, "busy_s": round(self.busy_s, 3),
                    "frames_per_s": round(self.frames / self.busy_s, 3) if self.busy_s > 0 else None,
                    "recent_frames_per_s": round(recent / window, 3) if window > 0 else None,
                    "page_faults": page_faults(),
                    "working_on": self.current}

    # -- work (the work thread) -------------------------------------------------------------------
    def run(self, task: dict, *args) -> Iterator[tuple]:
        """Run one task; a failure becomes an ``("error", wire error)`` item, a cancel ``("cancelled",)``."""
        job = task["job"]
        flag = self._flag(job["job_id"])
        ctx = self._context(job, flag)
        t0, made = time.monotonic(), 0
        self.current = f"{job['job_id']}:{task['kind']}"
        try:
            for item in run_task(task, args, ctx):
                if item[0] == "frame" and task["kind"] in COUNTED:
                    made += 1
                yield item
        except Cancelled:
            yield ("cancelled",)
        except Exception as exc:  # the driver turns it into the job's error (code, stage, frame kept)
            yield ("error", error_from_exception(exc))
        finally:
            self.current = None
            with self._lock:
                self.tasks += 1
                self.frames += made
                self.busy_s += time.monotonic() - t0
                self._recent.append((time.time(), made))

    def _flag(self, job_id: str) -> threading.Event:
        with self._lock:
            flag = self._cancelled.get(job_id)
            if flag is None:
                flag = self._cancelled[job_id] = threading.Event()
                while len(self._cancelled) > 64:
                    self._cancelled.popitem(last=False)
            return flag

    def _context(self, job: dict, flag: threading.Event) -> JobContext:
        """The job's context on this worker: its options, this worker's device unless the job names one,
        the job's models folder when it exists here (else this worker's ``KINO_MODELS_DIR``)."""
        options = dict(job.get("options") or {})
        options.pop("cluster", None)
        device = options.get("device") if isinstance(options.get("device"), str) else None
        if device in (None, "", "auto"):
            device = self.resources.default_device()
        models_dir = options.get("models_dir") if isinstance(options.get("models_dir"), str) else None
        if not (models_dir and os.path.isdir(os.path.expanduser(models_dir))):
            models_dir = self.resources.models_dir or models_dir
        with self._lock:
            cache = self._caches.pop(job["job_id"], None) or {}
            self._caches[job["job_id"]] = cache
            while len(self._caches) > JOB_CACHES:
                self._caches.popitem(last=False)
        return JobContext(job_id=job["job_id"], frames_total=job["frames_total"], width=job["width"],
                          height=job["height"], seed=job.get("seed", 0), device=device, options=options,
                          cache=cache, is_cancelled=flag.is_set, resources=self.resources, models_dir=models_dir)


def run_at_normal_priority() -> Optional[int]:
    """Undo the niceness Ray adds to its workers (15, unless the cluster was started with
    ``RAY_worker_niceness=0``, as ``kino cluster start`` does): where this process may (root, or
    CAP_SYS_NICE), it runs at its parent's (the raylet's) niceness, like the local backend beside
    Blender; a node niced on purpose stays niced. Returns the niceness it runs at."""
    if not hasattr(os, "getpriority"):
        return None
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        parent = os.getpriority(os.PRIO_PROCESS, os.getppid())
    except OSError:
        parent = 0
    if mine > parent:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, parent)
        except OSError:
            pass  # not allowed: ``cluster status`` shows the niceness (docs/cluster.md says how to set it)
    return os.getpriority(os.PRIO_PROCESS, 0)
