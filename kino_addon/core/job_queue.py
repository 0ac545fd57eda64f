"""Long operations run one small step at a time: ``QueuedJob`` (the one job protocol) and ``JobQueue``.

Every long operation of the add-on (stylize a strip, train a LoRA, composite a green-screen shot) is a
``QueuedJob``: a list of parts run in order, each with the interface of ``JobSession`` (one backend
job: start, resume, pacing, stall check) or of ``FrameLoop`` (local work, one frame per step)::

    step() -> bool      advance a little; True once the part has ended
    cancel()            stop soon; finished work is kept
    state               "new", "running", ... then "completed", "cancelled" or "failed"
    error               why it failed (None otherwise)
    progress_text(), fraction

A ``JobQueue`` runs its jobs one after the other. Blender's single timer (``blender/job_pump.py``)
calls ``JobQueue.step`` on the main thread; background mode and the command line call ``run``. Pure
Python: no bpy, so it is tested without Blender.
"""
from __future__ import annotations

from typing import Callable, Optional

from .job_session import TERMINAL


class StepFailed(RuntimeError):
    """Raised by a ``FrameLoop``'s work: the part fails with this message."""


class FrameLoop:
    """Local work over frames ``1..count``, one frame per step (``work(n)``), with the part interface.
    ``work`` raising ``StepFailed`` (or ``OSError``: a full disk) fails the part with its reason.

    State: ``count``, ``done`` (frames finished), ``state``, ``error``, ``label`` (for progress).
    """

    def __init__(self, count: int, work: Callable[[int], None], label: str = "frame"):
        self.count = count
        self.work = work
        self.label = label
        self.done = 0
        self.state = "new"
        self.error: Optional[str] = None

    def step(self) -> bool:
        if self.state in TERMINAL:
            return True
        self.state = "running"
        if self.done < self.count:
            try:
                self.work(self.done + 1)
            except StepFailed as exc:
                self.fail(str(exc))
                return True
            except OSError as exc:
                self.fail(f"{self.label} {self.done + 1}: {exc.strerror or exc}")
                return True
            self.done += 1
        if self.done >= self.count:
            self.state = "completed"
        return self.state in TERMINAL

    def cancel(self) -> None:
        if self.state not in TERMINAL:
            self.state = "cancelled"

    def fail(self, message: str) -> None:
        self.state, self.error = "failed", message

    def progress_text(self) -> str:
        return f"{self.label} {min(self.done + 1, self.count)} of {self.count}"

    @property
    def fraction(self) -> float:
        return self.done / self.count if self.count else 1.0


class QueuedJob:
    """One long operation: ``parts`` run in order; the job ends with the first part that does not
    complete, or completed after the last one. Subclasses override ``on_completed`` (e.g. put the
    result strip on the timeline; it may call ``fail``) and ``close`` (release sources and scratch
    files; runs once, whatever the outcome, also for a job dropped from the queue before it ran).

    State: ``label`` (what the panel calls it), ``parts``, ``index`` (the running part), ``state``
    ("new", "running", then one of ``TERMINAL``), ``error``.
    """

    def __init__(self, label: str, parts: list):
        self.label = label
        self.parts = list(parts)
        self.index = 0
        self.state = "new"
        self.error: Optional[str] = None
        self._cancelled = False
        self._interrupted = False
        self._closed = False

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    @property
    def part(self):
        return self.parts[self.index]

    def step(self) -> bool:
        """Advance the running part; True once the whole job has ended."""
        if self.done:
            return True
        self.state = "running"
        part = self.part
        if not part.step():
            return False
        if part.state == "completed" and self.index + 1 < len(self.parts):
            if not self._cancelled:
                self.index += 1
                return False
            self._end("cancelled", None)
            return True
        self._end(part.state, part.error)
        return True

    def _end(self, state: str, error: Optional[str]) -> None:
        if self._interrupted and state == "cancelled":
            state = "interrupted"
        self.state, self.error = state, error
        try:
            if state == "completed":
                self.on_completed()
        except Exception as exc:  # noqa: BLE001 -- whatever went wrong, the job ends with why, the queue goes on
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            self.close_once()

    def fail(self, message: str) -> None:
        """Called from ``on_completed``: the job fails with ``message``."""
        self.state, self.error = "failed", message

    def cancel(self) -> None:
        """Ask the running part to stop (a backend job ends at its ``job.done``); later parts never run."""
        self._cancelled = True
        if not self.done:
            self.part.cancel()

    def interrupt(self) -> None:
        """Ctrl-C (``scripts/kino``): like ``cancel``; the job ends as "interrupted"."""
        self._interrupted = self._cancelled = True
        if not self.done:
            part = self.part
            (part.interrupt if hasattr(part, "interrupt") else part.cancel)()

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    def abandon(self) -> None:
        """Dropped from the queue before it ran: release what the constructor took."""
        self.close_once()

    def close_once(self) -> None:
        if not self._closed:
            self._closed = True
            self.close()

    def on_completed(self) -> None:
        """Every part completed."""

    def close(self) -> None:
        """Release sources, scratch folders."""

    def progress_text(self) -> str:
        return self.part.progress_text()

    @property
    def fraction(self) -> float:
        return (self.index + self.part.fraction) / len(self.parts)


class JobQueue:
    """Jobs of one kind (stylize, train, composite) run one after the other, or ``parallel`` at a time
    (stylize jobs on a cluster: one strip per job, the strips side by side).

    State: ``jobs`` (waiting; the first ``parallel`` ones run), ``finished`` (ended, in the order they
    ended), ``last_error`` (what the panel shows; operators that refuse to start set it too),
    ``cancelled``.
    """

    def __init__(self, name: str):
        self.name = name
        self.jobs: list = []
        self.finished: list = []
        self.dropped: list = []  # labels of the waiting jobs the last cancel dropped (never started)
        self.last_error = ""
        self.cancelled = False
        self.stop_signal = None  # scripts/kino: an object whose ``requested`` turns true on Ctrl-C / SIGTERM
        self.parallel = 1

    @property
    def running(self) -> list:
        return self.jobs[:max(1, self.parallel)]

    @property
    def active(self) -> bool:
        return bool(self.jobs)

    def add(self, jobs: list) -> None:
        self.cancelled, self.dropped = False, []
        self.jobs.extend(jobs)

    def progress_text(self) -> str:
        if not self.jobs:
            return ""
        job = self.jobs[0]
        running = len(self.running)
        side = f" (+{running - 1} running)" if running > 1 else ""
        queue = f" (+{len(self.jobs) - running} more)" if len(self.jobs) > running else ""
        return f"Kino: {job.label} {job.progress_text()}{side}{queue}"

    def fraction(self) -> float:
        running = self.running
        return sum(j.fraction for j in running) / len(running) if self.jobs else 1.0

    def step(self) -> bool:
        """Advance the running job(s); True when the queue is empty."""
        if not self.jobs:
            return True
        if self.stop_signal is not None and self.stop_signal.requested:
            running = self.running
            for job in running:
                if not job.interrupted:
                    job.interrupt()
            for other in self.jobs[len(running):]:
                other.abandon()
            del self.jobs[len(running):]
        for job in list(self.running):
            if self._step(job):
                self.jobs.remove(job)
                self.finished.append(job)
                if job.error:
                    self.last_error = f"{job.label}: {job.error}"
        return not self.jobs

    @staticmethod
    def _step(job) -> bool:
        """``job.step()``; a job that raises ends as failed with the reason (the pump, a Blender timer, would
        stop for good, leaving the queue busy and the panel on "Cancel" forever)."""
        try:
            return job.step()
        except Exception as exc:  # noqa: BLE001 -- a bug in a job must not stop every queue
            job.state = "failed"
            job.error = f"Kino stopped this job: {type(exc).__name__}: {exc} (a bug; please report it)"
            job.close_once()
            return True

    def run(self) -> None:
        """Synchronous path (background mode, the command line): step until the queue is empty."""
        while not self.step():
            pass

    def cancel(self) -> None:
        """Cancel the running job(s) (they end at their next steps) and drop the waiting ones."""
        self.cancelled = True
        running = len(self.running) if self.jobs else 0
        for job in self.jobs[:running]:
            job.cancel()
        for job in self.jobs[running:]:
            job.abandon()
        self.dropped = [job.label for job in self.jobs[running:]]
        del self.jobs[running:]
