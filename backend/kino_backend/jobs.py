"""Jobs: input buffering, the single worker thread that runs them in order, and job events.

A job's input frames arrive as ``job.input`` requests (or as buffers of ``job.submit``) and are
buffered per job; the answer to a ``job.input`` is held back while the job already holds
``INPUT_WINDOW`` unconsumed frames, which paces a fast sender without blocking the connection.
The worker streams each finished frame as ``job.frame`` and ends every job with exactly one
``job.done``.
"""
from __future__ import annotations

import collections
import itertools
import json
import logging
import threading
import time
import weakref
from typing import Callable, Deque, Dict, Iterator, List, Optional

import numpy as np

from kino_addon.core.malloc_tuning import release_freed_memory
from kino_addon.core.processes import page_faults, peak_rss_mb
from kino_addon.protocol import MAX_ENVELOPE_BYTES
from kino_addon.protocol import messages as msg_types
from kino_addon.protocol.errors import CANCELLED, INTERNAL, INVALID_PARAMS, error_object
from kino_addon.protocol.quoting import clip

from . import checkpoint, provenance
from .stage_clock import TimedUpstream, clock_of
from .serving.admission import data_problem
from .serving.ended import EndedJobs, ended_error
from .serving.fairness import pick, stall_message
from .stages.base import Cancelled, Frame, JobContext, StageError
from .job_events import error_from_exception, frame_event  # noqa: F401 (also used by the cluster)
from .workflow import Pipeline, Workflow

log = logging.getLogger("kino.jobs")
INPUT_WINDOW = 16
PROGRESS_INTERVAL = 0.1  # seconds: at most ~10 progress events per second


class Job:
    """One submitted job: its workflow, frame size, options, the input frames waiting to be consumed
    (bounded by ``INPUT_WINDOW``), its state and the frames done. Owned by the ``Session`` that submitted it;
    run by the ``Worker``."""

    def __init__(self, job_id: str, owner, submit_id: str, workflow: Workflow, frames_total: int,
                 width: int, height: int, options: dict, seed: int):
        self.id = job_id
        self.owner = owner  # the Session that submitted it: send_event(type, re, body, buffers) -> bool
        self.submit_id = submit_id
        self.workflow = workflow
        self.frames_total = frames_total
        self.width, self.height = width, height
        self.options = options
        self.seed = seed
        self.resume = None  # (resume_state description, its state/... buffers) for a resumed job
        self.state = "queued"
        self.frames_done: List[int] = []
        self.cancel_event = threading.Event()
        self.released = threading.Event()  # set once the job.submit answer is sent
        self.cancel_reason = ""
        self.submitted = time.monotonic()
        self._cond = threading.Condition()
        self._inputs: Dict[int, tuple] = {}
        self._received: set = set()
        self._held: Deque[Callable[[Optional[dict]], None]] = collections.deque()
        self.error: Optional[dict] = None  # the wire error it ended with
        self.pending_bytes = 0  # input bytes received and not yet used
        self.on_input: Callable[[], None] = lambda: None  # the worker's wake-up (set by Worker.submit)
        self.stall_check: Callable[["Job", int, float], Optional[str]] = lambda job, frame, waited: None

    def ready(self) -> bool:
        """May the worker start it: its first frame is there (or it was cancelled: it only has to end)."""
        with self._cond:
            return 1 in self._received or self.cancel_event.is_set()

    def ended_error(self) -> dict:
        return ended_error(self.id, self.state, self.error if self.error is not None else
                           (error_object(CANCELLED, self.cancel_reason) if self.cancel_reason else None),
                           len(self.frames_done), self.frames_total)

    # -- inputs (reader thread) ----------------------------------------------------------------
    def add_input(self, frame: int, spec: dict, data: bytes, answer: Callable[[Optional[dict]], None]) -> None:
        """Buffer one input frame; ``answer(error)`` is called now, or once the job consumed enough."""
        ended = None
        with self._cond:
            if self.cancel_event.is_set() or self.state in ("completed", "failed", "cancelled"):
                ended = self.ended_error()
            elif frame in self._received:
                raise ValueError(f"frame {frame} of job {self.id} was already sent")
            else:
                self._received.add(frame)
                self._inputs[frame] = (spec, data)
                self.pending_bytes += len(data)
                self._cond.notify_all()
                if len(self._inputs) > INPUT_WINDOW:
                    self._held.append(answer)
                    answer = None
        if frame == 1 and ended is None:
            self.on_input()
        if answer is not None:
            answer(ended)

    def _release_answers(self, error: Optional[dict] = None, all_: bool = False) -> None:
        while True:
            with self._cond:
                if not self._held or (not all_ and len(self._inputs) >= INPUT_WINDOW):
                    return
                answer = self._held.popleft()
            answer(error)

    # -- inputs (worker thread) ----------------------------------------------------------------
    def input_frames(self) -> Iterator[Frame]:
        for index in range(1, self.frames_total + 1):
            with self._cond:
                since = time.monotonic()
                while index not in self._inputs:
                    if self.cancel_event.is_set():
                        raise Cancelled()
                    self._cond.wait(0.5)
                    if index not in self._inputs:
                        reason = self.stall_check(self, index, time.monotonic() - since)
                        if reason:
                            self.cancel_reason = self.cancel_reason or reason
                            self.cancel_event.set()
                spec, data = self._inputs.pop(index)
                self.pending_bytes -= len(data)
            self._release_answers()
            if self.cancel_event.is_set():
                raise Cancelled()
            image = decode_frame(spec, data, self.width, self.height, index)
            yield Frame(index=index, source=image, image=image.copy())

    def cancel(self, reason: str) -> None:
        self.cancel_reason = self.cancel_reason or reason
        self.cancel_event.set()
        with self._cond:
            self._cond.notify_all()

    def finish_inputs(self) -> None:
        with self._cond:
            self._inputs.clear()
            self.pending_bytes = 0
        self._release_answers(error_object(CANCELLED, f"job {self.id} has ended ({self.state})"), all_=True)

    def summary(self) -> dict:
        return {"job_id": self.id, "state": self.state, "look": self.workflow.look,
                "frames_total": self.frames_total, "frames_done": len(self.frames_done)}


def decode_frame(spec: dict, data: bytes, width: int, height: int, index: int) -> np.ndarray:
    """An input buffer as a read-only uint8 (h, w, 3) array; PNG is decoded with OpenCV."""
    if spec["encoding"] == "png":
        problem = data_problem(spec, data, width, height)  # from the header: never decode a bomb
        if problem:
            raise StageError(INVALID_PARAMS, f"input frame {index}: {problem}", frame=index, stage="input")
        import cv2
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise StageError(INVALID_PARAMS, f"input frame {index} is not a readable PNG", frame=index, stage="input")
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    else:
        image = np.frombuffer(data, np.uint8).reshape(spec["shape"])
    if image.shape != (height, width, 3):
        raise StageError(INVALID_PARAMS, f"input frame {index} is {list(image.shape)}, the job declared "
                                         f"[{height}, {width}, 3]", frame=index, stage="input")
    return image


class _Progress:
    """Rate-limited ``job.progress`` events for one job (at most ~10 a second, the latest frame kept)."""

    def __init__(self, job: Job):
        self.job = job
        self.last = 0.0
        self.frame = 1

    def report(self, frame: Optional[int] = None, step: int = 0, steps_total: int = 0,
               stage: Optional[str] = None, force: bool = False, **extra) -> None:
        """Send ``job.progress`` (at most ~10 a second). Extra JSON-safe numbers a stage reports (e.g. a
        training ``loss``) travel in the body too; anything else is dropped."""
        now = time.monotonic()
        self.frame = frame if frame is not None else self.frame
        if not force and now - self.last < PROGRESS_INTERVAL:
            return
        self.last = now
        body = {"job_id": self.job.id, "frame": self.frame, "frames_total": self.job.frames_total,
                "step": step, "steps_total": steps_total, "stage": stage}
        for key, value in extra.items():
            if key not in body and isinstance(value, (int, float, str, bool)):
                body[key] = clip(value, 200) if isinstance(value, str) else value
        self.job.owner.send_event(msg_types.JOB_PROGRESS, self.job.submit_id, body)


class Worker:
    """One thread that runs queued jobs in submission order; a job on a cluster (``options.cluster``)
    runs on a thread of its own beside the others, since the cluster's workers do its work."""

    def __init__(self, resources, stall_timeout: float = 30.0):
        self.resources = resources
        self.stall_timeout = stall_timeout
        self.ended = EndedJobs()
        self._queue: Deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._jobs: Dict[str, Job] = {}
        self.current: Optional[Job] = None
        self._stopping = False
        self._starts = itertools.count()
        self._last_start: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # owner -> start number
        self._side: List[threading.Thread] = []  # cluster jobs, each on its own thread
        self._thread = threading.Thread(target=self._loop, name="kino-worker", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> int:
        """Queue a job; returns how many jobs run before it (0: it starts now). A cluster job starts now
        on its own thread: it only drives the cluster's workers."""
        if job.options.get("cluster") and job.resume is None:
            with self._cond:
                self._jobs[job.id] = job
                thread = threading.Thread(target=self._run_side, args=(job,), name=f"kino-cluster-{job.id}",
                                          daemon=True)
                self._side = [t for t in self._side if t.is_alive()] + [thread]
            thread.start()
            return 0
        with self._cond:
            position = len(self._queue) + (1 if self.current else 0)
            job.on_input = self._poke
            job.stall_check = self._stall_reason
            self._queue.append(job)
            self._jobs[job.id] = job
            self._cond.notify_all()
        return position

    def _poke(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _stall_reason(self, job: Job, frame: int, waited: float) -> Optional[str]:
        """Why ``job``, waiting ``waited`` s for input ``frame``, must stop now (see serving.fairness)."""
        if waited < self.stall_timeout:
            return None
        with self._cond:
            others = [j for j in self._queue if j is not job]
        return stall_message(job, frame, waited) if any(j.ready() for j in others) else None

    def find(self, job_id: str) -> Optional[Job]:
        with self._cond:
            return self._jobs.get(job_id)

    def find_ended(self, job_id: str, owner) -> Optional[tuple]:
        """``(state, wire error)`` of a recently ended job of ``owner``."""
        return self.ended.get(job_id, owner)

    def jobs(self) -> List[dict]:
        with self._cond:
            return [j.summary() for j in self._jobs.values() if j.state in ("queued", "running")]

    def cancel_owned(self, owner, reason: str) -> None:
        with self._cond:
            jobs = [j for j in self._jobs.values() if j.owner is owner]
        for job in jobs:
            job.cancel(reason)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            jobs = list(self._jobs.values())
            self._cond.notify_all()
        for job in jobs:
            job.cancel("the backend is shutting down")

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._thread.join(timeout)
        for thread in list(self._side):
            thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        while True:
            with self._cond:
                job = None
                while job is None:
                    if self._stopping and not self._queue:
                        return
                    job = pick(self._queue, self._last_start)
                    if job is None:
                        self._cond.wait(0.5)
                self._queue.remove(job)
                self.current = job
                self._last_start[job.owner] = next(self._starts)
            self._run(job)

    def _run_side(self, job: Job) -> None:
        job.released.wait(30)
        self._run(job)

    def _run(self, job: Job) -> None:
        try:
            run_job(job, self.resources)
        except Exception:  # run_job reports its own failures; this is a last line of defence
            log.exception("job %s crashed the worker loop", job.id)
        finally:
            try:
                self.ended.add(job)
            except Exception:  # remembering it is a courtesy: it must never stop the worker
                log.exception("could not remember ended job %s", job.id)
            with self._cond:
                if self.current is job:
                    self.current = None
                self._jobs.pop(job.id, None)
                idle = not self._jobs
            if idle:  # the frames the jobs held, freed but kept by malloc: back to the system
                release_freed_memory()


def _context(job: Job, resources, progress: _Progress) -> JobContext:
    """The job's context: device and models folder resolved once (the job's options, else the backend's
    defaults), so stages read them from the context alone."""
    options = dict(job.options)
    models_dir = options.get("models_dir") if isinstance(options.get("models_dir"), str) else None
    device = options.get("device") if isinstance(options.get("device"), str) else None
    if device in (None, "", "auto"):
        device = resources.default_device() if resources else "cpu"
    return JobContext(job_id=job.id, frames_total=job.frames_total, width=job.width, height=job.height,
                      seed=job.seed, device=device, options=options, is_cancelled=job.cancel_event.is_set,
                      report=progress.report, resources=resources,
                      models_dir=models_dir or (resources.models_dir if resources else None))


def _recorded_options(ctx: JobContext) -> dict:
    """The job's options as they applied: the resolved models folder included (``kino.json`` reproduces it)."""
    return {**ctx.options, "models_dir": ctx.models_dir} if ctx.models_dir else dict(ctx.options)


def _restore(job: Job, pipe: Pipeline, ctx: JobContext) -> None:
    """A resumed job (option ``resume_state`` + its ``state/...`` buffers) continues every stage's state."""
    if job.resume is None:
        return
    desc, buffers = job.resume
    try:
        pipe.restore(checkpoint.decode(desc, buffers))
    except checkpoint.CheckpointError as exc:
        raise StageError(INVALID_PARAMS, f"the resume state is unusable ({exc}); delete the output folder's "
                                         ".kino-resume folder to start the clip again", stage="resume") from None
    ctx.provenance["resumed"] = True


def _stream(job: Job, ctx: JobContext, progress: _Progress, timings: dict) -> None:
    if job.options.get("cluster") and job.resume is None:  # over a Ray cluster's Kino workers (docs/cluster.md);
        from .cluster.driver import stream_on_cluster       # a job resumed from a stage state continues here
        stream_on_cluster(job, ctx, progress, timings)
        return
    look = job.workflow.look_step.name
    t0, faults0 = time.monotonic(), page_faults()
    every, last_checkpoint = checkpoint.wanted_every(job.options), -10 ** 9
    every_s, last_checkpoint_t = checkpoint.wanted_every_s(job.options), -1e18
    with Pipeline(job.workflow, ctx) as pipe:
        _restore(job, pipe, ctx)
        timings["open_s"] = round(time.monotonic() - t0, 4)
        clock = clock_of(ctx)
        stream = pipe.run(TimedUpstream(job.input_frames(), clock, "input_wait"))
        try:
            for out in stream:
                ctx.check_cancelled()
                t_send = time.perf_counter()
                body, buffers = frame_event(job, out)
                due = every and out.index - last_checkpoint >= every and t_send - last_checkpoint_t >= every_s
                states = pipe.checkpoint() if due else None
                if states is not None:
                    body["checkpoint"], extra = checkpoint.encode(states)
                    buffers += extra
                    last_checkpoint, last_checkpoint_t = out.index, t_send
                    clock.add("checkpoint", time.perf_counter() - t_send)
                    t_send = time.perf_counter()
                if not job.owner.send_event(msg_types.JOB_FRAME, job.submit_id, body, buffers):
                    job.cancel("the client disconnected")
                    raise Cancelled()
                clock.add("send", time.perf_counter() - t_send)
                job.frames_done.append(out.index)
                progress.report(frame=out.index, step=1, steps_total=1, stage=look,
                                force=len(job.frames_done) == job.frames_total)
        finally:
            stream.close()
            timings.update(clock.summary(len(job.frames_done)), max_rss_mb=peak_rss_mb(),
                           page_faults_per_frame=round((page_faults() - faults0) / max(1, len(job.frames_done))))
    if len(job.frames_done) != job.frames_total:
        raise StageError(INTERNAL, f"the pipeline produced {len(job.frames_done)} of {job.frames_total} frames; "
                                   "a stage dropped frames", stage=job.workflow.look_step.name)


def _fit(record: dict, limit: int = MAX_ENVELOPE_BYTES // 2) -> dict:
    """Keep job.done under the envelope cap: oversized stage provenance is replaced by a note."""
    size = len(json.dumps(record, default=str))
    if size <= limit:
        return record
    log.warning("provenance of job %s is %d bytes; dropping the stages' part", record.get("job_id"), size)
    return dict(record, stages={"problem": f"stage provenance was {size} bytes, over the {limit} byte limit"})


def run_job(job: Job, resources) -> None:
    """Run one job to its end and send its one ``job.done``."""
    started = time.monotonic()
    timings = {"queued_s": round(started - job.submitted, 4)}
    progress = _Progress(job)
    ctx = _context(job, resources, progress)
    error = None
    job.state = "running"
    job.released.wait(30)
    try:
        if job.cancel_event.is_set():
            raise Cancelled()
        _stream(job, ctx, progress, timings)
        status = "completed"
    except Cancelled:
        status = "cancelled"
        error = error_object(CANCELLED, job.cancel_reason or "the job was cancelled")
    except Exception as exc:
        status = "failed"
        error = error_from_exception(exc)
        log.error("job %s failed at frame %s in stage %s: %s", job.id, error["frame"], error["stage"],
                  error["message"])
    job.error = error
    job.state = status
    job.finish_inputs()
    run_s = time.monotonic() - started
    timings.update(run_s=round(run_s, 4), frames_per_s=round(len(job.frames_done) / run_s, 4) if run_s else None)
    try:
        record = provenance.build(job_id=job.id, workflow=job.workflow.to_json(), seed=job.seed,
                                  options=_recorded_options(ctx), frames_total=job.frames_total, width=job.width,
                                  height=job.height, frames_done=job.frames_done, stages=ctx.provenance,
                                  device=ctx.device, timings=timings, status=status, error=error)
    except Exception as exc:  # the one job.done must go out even if a stage left odd provenance
        log.exception("provenance of job %s failed", job.id)
        record = {"kino_provenance": 1, "job_id": job.id, "status": status, "problem": f"{type(exc).__name__}: {exc}"}
    body = {"job_id": job.id, "status": status, "frames_done": list(job.frames_done), "provenance": _fit(record)}
    if error is not None:
        body["error"] = error
    job.owner.send_event(msg_types.JOB_DONE, job.submit_id, body)
    log.info("job %s %s: %d/%d frames in %.2f s", job.id, status, len(job.frames_done), job.frames_total, run_s)
