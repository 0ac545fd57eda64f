"""The memory of recently ended jobs.

A job leaves the worker once its ``job.done`` is sent, but its client may still be sending input or a
cancel that crossed the ``job.done`` on the wire. Those requests are answered with why the job ended
(its stage's own message) rather than "no such job": the last ``keep`` ended jobs are remembered for
``ttl`` seconds.
"""
from __future__ import annotations

import collections
import threading
import time
import weakref
from typing import Optional

from kino_addon.protocol.errors import CANCELLED, NOT_FOUND, error_object
from kino_addon.protocol.quoting import clip


def ended_error(job_id: str, state: str, error: Optional[dict], frames_done: int, frames_total: int) -> dict:
    """The wire error for a request that names a job which has ended: the job's own reason first."""
    if state == "completed":
        return error_object(NOT_FOUND, f"job {job_id} has already completed ({frames_done} of {frames_total} "
                                       "frames); it needs no more input")
    reason = clip((error or {}).get("message") or "no reason given", 4000)
    code = (error or {}).get("code") or (CANCELLED if state == "cancelled" else NOT_FOUND)
    return error_object(code, f"{reason} (job {job_id} has {state} after {frames_done} of {frames_total} frames)",
                        frame=(error or {}).get("frame"), stage=(error or {}).get("stage"))


class EndedJobs:
    def __init__(self, keep: int = 256, ttl: float = 900.0):
        self.keep = keep
        self.ttl = ttl
        self._lock = threading.Lock()
        self._jobs: "collections.OrderedDict[str, tuple]" = collections.OrderedDict()

    def add(self, job) -> None:
        try:
            owner = weakref.ref(job.owner)
        except TypeError:  # an owner that cannot be weakly referenced is kept as it is
            owner = (lambda kept: lambda: kept)(job.owner)
        record = (time.monotonic(), owner, job.state,
                  ended_error(job.id, job.state, job.error, len(job.frames_done), job.frames_total))
        with self._lock:
            self._jobs[job.id] = record
            while len(self._jobs) > self.keep:
                self._jobs.popitem(last=False)

    def get(self, job_id: str, owner) -> Optional[tuple]:
        """``(state, wire error)`` of an ended job of ``owner`` still remembered, else None."""
        with self._lock:
            now = time.monotonic()
            while self._jobs and now - next(iter(self._jobs.values()))[0] > self.ttl:
                self._jobs.popitem(last=False)
            record = self._jobs.get(job_id)
        if record is None or record[1]() is not owner:
            return None
        return record[2], dict(record[3])
