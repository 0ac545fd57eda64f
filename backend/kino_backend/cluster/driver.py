"""Run one backend job over a cluster's Kino workers: the backend that Blender talks to is the driver.

Threads: the job's input frames are stored for the workers as they arrive (``put``); ``SLOTS``
dispatchers per worker each take the most urgent ready task (``TaskPool``), run it there and stream
its items back; the job's thread (``ClusterRun.run``) feeds everything to the plan, sends output
frames to Blender as soon as they exist (``job.frame``, in any order) and reports progress with the
worker count and frames/s.

Faults: a task whose worker died (process killed, node lost) goes back to the pool and runs on
another worker (a worker it failed on gets it only when no other is there); what it already sent is
not sent again, and finished tasks are never run again (their results are kept by the driver).
Cancel: every worker is told to stop the job's tasks (each stops at its next frame), waiting tasks
are dropped.
"""
from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
import uuid
from typing import List, Optional

from kino_addon.protocol import messages as msg_types
from kino_addon.protocol.errors import INTERNAL, WIRE_CODES

from .. import checkpoint
from ..stages.base import Cancelled, Frame, StageError
from .plan_base import Task
from .plans import make_plan
from .tasks import COUNTED

log = logging.getLogger("kino.cluster")
MAX_ATTEMPTS = 4  # a task that lost this many workers fails the job
NO_WORKER_TIMEOUT = 120.0  # seconds with every worker gone before the job fails
CANCEL_WAIT = 15.0


SLOTS = 2  # tasks a worker holds at once: the next one waits in its queue, arguments fetched, no gap


class TaskPool:
    """Ready tasks by priority; ``get(worker)`` prefers tasks that have not failed on that worker.

    A worker holds up to ``SLOTS`` tasks (one runs, the next waits in the worker's queue, so it starts
    the moment the first ends instead of after a round trip to the driver). A second task goes to a
    worker only while no other worker that answers is without one, so queueing never leaves a worker idle.
    """

    def __init__(self, workers: List[str], down: Optional[dict] = None):
        self.workers = workers
        self.down = down if down is not None else {}
        self.held = {w: 0 for w in workers}
        self._heap: list = []
        self._cond = threading.Condition()
        self.closed = False

    def add(self, tasks) -> None:
        with self._cond:
            for t in tasks:
                heapq.heappush(self._heap, (t.priority, t.seq, t))
            self._cond.notify_all()

    def get(self, worker: str, timeout: float = 0.2) -> Optional[Task]:
        """The most urgent task for ``worker``, waiting up to ``timeout``; None when there is none. A
        task given out counts as held by ``worker`` until ``release``."""
        with self._cond:
            task = self._pick(worker)
            if task is None and not self.closed:
                self._cond.wait(timeout)
                task = self._pick(worker)
            if task is not None:
                self.held[worker] = self.held.get(worker, 0) + 1
            return task

    def release(self, worker: str) -> None:
        with self._cond:
            self.held[worker] = max(0, self.held.get(worker, 0) - 1)
            self._cond.notify_all()

    def _may_queue(self, worker: str) -> bool:
        if worker in self.down:  # lost: its other slot waits until it answers again
            return False
        held = self.held.get(worker, 0)
        if held == 0:
            return True
        return held < SLOTS and all(self.held.get(w, 0) > 0 or w in self.down for w in self.workers if w != worker)

    def _pick(self, worker: str) -> Optional[Task]:
        if self.closed or not self._may_queue(worker):
            return None
        for entry in sorted(self._heap):
            t = entry[2]
            if worker not in t.failed_on or len(t.failed_on) >= len(self.workers):
                self._heap.remove(entry)
                heapq.heapify(self._heap)
                return t
        return None

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._heap.clear()
            self._cond.notify_all()


class ClusterRun:
    """One job on the cluster (module docstring). ``job``, ``ctx`` and ``progress`` are the local
    backend's (jobs.py); ``executor`` reaches the workers."""

    def __init__(self, job, ctx, progress, executor, plan_kind: Optional[str] = None):
        self.job, self.ctx, self.progress, self.executor = job, ctx, progress, executor
        self.uid = f"{job.id}-{uuid.uuid4().hex[:10]}"  # unique over every backend using the cluster
        options = {k: v for k, v in job.options.items() if k != "cluster"}
        self.spec = {"job_id": self.uid, "workflow": job.workflow.to_json(), "frames_total": job.frames_total,
                     "width": job.width, "height": job.height, "seed": job.seed, "options": options}
        self.plan = make_plan(job.workflow, job.frames_total, executor.put, plan_kind, len(executor.workers))
        # Checkpoints (resume): the frames plan's are empty (no stage keeps state); the other plans send
        # none, so an interrupted job is computed again from its first frame (exact, as with holds).
        self.stateless = self.plan.kind == "frames" and checkpoint.wanted_every(job.options) > 0
        self.workers = list(executor.workers)
        self.events: "queue.Queue[tuple]" = queue.Queue()
        self.down: dict = {}  # worker -> since when it does not answer
        self.pool = TaskPool(self.workers, self.down)
        self._last_end = {w: 0.0 for w in self.workers}  # when each worker's last task ended (task times)
        self.stats = {"tasks": 0, "retried": 0, "frames_by_worker": {w: 0 for w in self.workers},
                      "seconds_by_kind": {}}
        self._threads: List[threading.Thread] = []
        self._stop = threading.Event()
        self.started = time.monotonic()

    # -- the job's thread ----------------------------------------------------------------------------
    def run(self) -> None:
        if not self.workers:
            raise StageError(INTERNAL, "the cluster has no Kino workers (scripts/kino cluster status)", stage="cluster")
        self._start_threads()
        self.progress.report(frame=1, stage=f"{self.job.workflow.look} on {len(self.workers)} workers",
                             workers=len(self.workers), force=True)
        try:
            while not self.plan.finished:
                if self.job.cancel_event.is_set():
                    raise Cancelled()
                try:
                    event = self.events.get(timeout=0.2)
                except queue.Empty:
                    self._check_workers()
                    continue
                self._handle(event)
                self.pool.add(self.plan.take_ready())
        except Cancelled:
            self.executor.cancel(self.uid)
            self._stop_threads(wait=CANCEL_WAIT)
            raise
        except BaseException:
            self.executor.cancel(self.uid)
            self._stop_threads(wait=2.0)
            raise
        self._stop_threads(wait=2.0)
        self.ctx.provenance.update(self.plan.provenance())

    def _handle(self, event: tuple) -> None:
        kind = event[0]
        if kind == "input":
            self.plan.add_input(event[1], event[2])
        elif kind == "inputs_done":
            self.plan.end_inputs()
        elif kind == "input_failed":
            raise event[1]
        elif kind == "item":
            self._on_item(event[1], event[2], event[3])
        elif kind == "done":
            task, worker = event[1], event[2]
            self.stats["tasks"] += 1
            self.stats["frames_by_worker"][worker] = self.stats["frames_by_worker"].get(worker, 0) + task.made
            self.stats["seconds_by_kind"][task.kind] = self.stats["seconds_by_kind"].get(task.kind, 0.0) + task.seconds
            self.plan.on_done(task)
        elif kind == "lost":
            self._on_lost(event[1], event[2], event[3])
        elif kind == "crash":
            raise event[3]

    def _on_item(self, task: Task, item: tuple, worker: str) -> None:
        if item[0] == "error":
            err = item[1]
            code = err.get("code") if err.get("code") in WIRE_CODES else INTERNAL
            raise StageError(code, f"{err.get('message')} (on cluster worker {worker})",
                             frame=err.get("frame"), stage=err.get("stage"))
        if item[0] == "cancelled":
            if not self.job.cancel_event.is_set():
                self.job.cancel("the job was cancelled on the cluster")
            raise Cancelled()
        if item[0] == "frame" and task.kind in COUNTED:
            task.made += 1
        for index, image, matte, meta in self.plan.on_item(task, item):
            self._send(index, image, matte, meta)

    def _send(self, index: int, image, matte, meta: dict) -> None:
        from ..job_events import frame_event

        job = self.job
        body, buffers = frame_event(job, Frame(index=index, source=image, image=image, matte=matte, meta=meta))
        if self.stateless:  # every stage works on each frame alone: a resume needs only the missing frames
            body["checkpoint"], extra = checkpoint.encode({s.name: {} for s in job.workflow.enabled})
            buffers = list(buffers) + list(extra)
        if not job.owner.send_event(msg_types.JOB_FRAME, job.submit_id, body, buffers):
            job.cancel("the client disconnected")
            raise Cancelled()
        job.frames_done.append(index)
        elapsed = time.monotonic() - self.started
        self.progress.report(frame=index, step=1, steps_total=1, stage=job.workflow.look_step.name,
                             workers=len(self.workers) - len(self.down),
                             frames_per_s=round(len(job.frames_done) / elapsed, 3) if elapsed > 0 else 0.0,
                             force=len(job.frames_done) == job.frames_total)

    def _on_lost(self, task: Task, worker: str, exc: BaseException) -> None:
        self.plan.on_failed(task)
        task.made = 0
        task.attempts += 1
        task.failed_on.add(worker)
        self.stats["retried"] += 1
        log.warning("job %s: worker %s was lost during %s (%s); running it again elsewhere", self.job.id,
                    worker, task.key, type(exc).__name__)
        if task.attempts >= MAX_ATTEMPTS:
            raise StageError(INTERNAL, f"task {task.key} lost its worker {task.attempts} times "
                                       f"({type(exc).__name__}: {exc}); check the cluster (scripts/kino cluster "
                                       "status)", stage="cluster")
        self.pool.add([task])

    def _check_workers(self) -> None:
        if self.down and len(self.down) == len(self.workers):
            since = min(self.down.values())
            if time.monotonic() - since > NO_WORKER_TIMEOUT:
                raise StageError(INTERNAL, f"no Kino worker has answered for {NO_WORKER_TIMEOUT:.0f} s; "
                                           "check the cluster (scripts/kino cluster status)", stage="cluster")

    # -- threads ---------------------------------------------------------------------------------------
    def _start_threads(self) -> None:
        self._threads = [threading.Thread(target=self._feed, name=f"kino-cluster-input-{self.job.id}", daemon=True)]
        self._threads += [threading.Thread(target=self._dispatch, args=(w,), name=f"kino-cluster-{w}-{slot}",
                                           daemon=True) for w in self.workers for slot in range(SLOTS)]
        for t in self._threads:
            t.start()

    def _stop_threads(self, wait: float) -> None:
        self._stop.set()
        self.pool.close()
        deadline = time.monotonic() + wait
        for t in self._threads[1:]:
            t.join(max(0.0, deadline - time.monotonic()))

    def _feed(self) -> None:
        try:
            pack = self.plan.packs_inputs  # else each frame goes into the store here, as it arrives
            for frame in self.job.input_frames():
                self.events.put(("input", frame.index, frame.source if pack else self.executor.put(frame.source)))
            self.events.put(("inputs_done",))
        except Cancelled:
            pass  # the job's thread sees the cancel itself
        except Exception as exc:  # a bad input frame: the job fails with its message
            self.events.put(("input_failed", exc))

    def _dispatch(self, worker: str) -> None:
        while not self._stop.is_set():
            task = self.pool.get(worker)
            if task is None:
                continue
            t0 = time.monotonic()
            try:
                for item in self.executor.run(worker, task.message(self.spec), task.args):
                    self.events.put(("item", task, item, worker))
                    if item[0] in ("error", "cancelled"):
                        break
                else:
                    end = time.monotonic()  # it ran from when the task before it on this worker ended
                    task.seconds = end - max(t0, self._last_end.get(worker, 0.0))
                    self._last_end[worker] = end
                    self.events.put(("done", task, worker))
            except Exception as exc:
                if not self.executor.is_lost(exc):
                    self.events.put(("crash", task, worker, exc))
                    return
                self.events.put(("lost", task, worker, exc))
                self._wait_back(worker)
            finally:
                self.pool.release(worker)

    def _wait_back(self, worker: str) -> None:
        """A lost worker takes tasks again once it answers (Ray restarts a dead worker's process)."""
        self.down[worker] = time.monotonic()
        while not self._stop.is_set():
            if self.executor.alive(worker, timeout=2.0):
                self.down.pop(worker, None)
                return
            self._stop.wait(0.5)

    def record(self) -> dict:
        """What ran where, for the job's timings."""
        elapsed = time.monotonic() - self.started
        return {"job_uid": self.uid, "workers": self.workers, "plan": self.plan.kind, "tasks": self.stats["tasks"],
                "tasks_retried": self.stats["retried"], "frames_by_worker": self.stats["frames_by_worker"],
                "task_seconds_by_kind": {k: round(v, 3) for k, v in self.stats["seconds_by_kind"].items()},
                "frames_per_s": round(len(self.job.frames_done) / elapsed, 3) if elapsed > 0 else None}


def stream_on_cluster(job, ctx, progress, timings: dict, executor=None) -> None:
    """``jobs._stream`` for a job whose ``options.cluster`` names a cluster: the same contract (every
    frame sent as ``job.frame``, ``job.frames_done`` filled, the stages' provenance in ``ctx``)."""
    from .connect import executor as connect_executor

    t0 = time.monotonic()
    executor = executor or connect_executor(job.options["cluster"])
    timings["open_s"] = round(time.monotonic() - t0, 4)
    run = ClusterRun(job, ctx, progress, executor)
    try:
        run.run()
    finally:
        timings["cluster"] = dict(run.record(), address=job.options.get("cluster"))
    if len(job.frames_done) != job.frames_total:
        raise StageError(INTERNAL, f"the cluster produced {len(job.frames_done)} of {job.frames_total} frames",
                         stage="cluster")

