"""An in-process stand-in for BackendClient used by the pure JobSession tests: it 'stylizes' by
inverting each frame (255 - x) and emits the same events as the real backend."""
from __future__ import annotations

import collections

import numpy as np

from kino_addon.protocol import messages
from kino_addon.protocol.envelope import Message
from kino_addon.protocol.errors import DISCONNECTED, BackendError


class FakeClient:
    """Records what it received (frames, cancels) and queues the events a real backend would send."""

    def __init__(self, die_after=None, fail_submit=None):
        self.events = collections.deque()
        self.jobs = {}
        self.received = []  # (job_id, job frame, first pixel)
        self.die_after = die_after  # die after emitting this many frames
        self.fail_submit = fail_submit
        self.emitted = 0
        self.dead = False
        self.cancelled = []

    def submit_job(self, workflow, count, width, height, options):
        if self.fail_submit:
            raise self.fail_submit
        job_id = f"job{len(self.jobs) + 1}"
        self.jobs[job_id] = {"count": count, "shape": (height, width, 3), "done": []}
        return job_id

    def _check(self):
        if self.dead:
            raise BackendError(DISCONNECTED, "the backend connection was lost (EOFError)")

    def send_frame(self, job_id, frame, data, shape=(), encoding="raw"):
        self._check()
        job = self.jobs[job_id]
        img = np.frombuffer(bytes(data), np.uint8).reshape(shape)
        self.received.append((job_id, frame, int(img[0, 0, 0])))
        if job_id in self.cancelled:
            return {}
        if self.die_after is not None and self.emitted >= self.die_after:
            self.dead = True
            return {}
        out = (255 - img).astype(np.uint8)
        self.events.append(Message(kind="event", type=messages.JOB_PROGRESS,
                                   body={"job_id": job_id, "frame": frame, "stage": "toon"}))
        self.events.append(Message(kind="event", type=messages.JOB_FRAME, body={"job_id": job_id, "frame": frame},
                                   buffers=[({"name": "image", "shape": list(shape), "encoding": "raw"},
                                             out.tobytes())]))
        self.emitted += 1
        job["done"].append(frame)
        if len(job["done"]) == job["count"]:
            self._done(job_id, "completed")
        return {}

    def _done(self, job_id, status):
        self.events.append(Message(kind="event", type=messages.JOB_DONE,
                                   body={"job_id": job_id, "status": status,
                                         "frames_done": self.jobs[job_id]["done"],
                                         "provenance": {"backend": "fake", "seed": 0}}))

    def cancel(self, job_id):
        self._check()
        self.cancelled.append(job_id)
        self._done(job_id, "cancelled")
        return {"ok": True}

    def next_event(self, timeout=None):
        if self.events:
            return self.events.popleft()
        self._check()
        return None
