"""An in-process stand-in for BackendClient used by the pure JobSession tests: it 'stylizes' by
inverting each frame (255 - x) and emits the same events as the real backend."""
from __future__ import annotations

import collections

import numpy as np

from kino_addon.protocol import messages
from kino_addon.protocol.envelope import Message
from kino_addon.protocol.errors import DISCONNECTED, BackendError


class FakeClient:
    """Records what it received (frames, cancels) and queues the events a real backend would send.
    ``stateful``: each output also averages in the previous output (a recursive filter, like the
    temporal stage), and checkpoints carry that previous output as state."""

    def __init__(self, die_after=None, fail_submit=None, stateful=False):
        self.stateful = stateful
        self.submits = []  # (count, options, state buffers)
        self.events = collections.deque()
        self.jobs = {}
        self.received = []  # (job_id, job frame, first pixel)
        self.die_after = die_after  # die after emitting this many frames
        self.fail_submit = fail_submit
        self.emitted = 0
        self.dead = False
        self.cancelled = []

    def submit_job(self, workflow, count, width, height, options, state=(), timeout=-1):
        if self.fail_submit:
            raise self.fail_submit
        job_id = f"job{len(self.jobs) + 1}"
        self.submits.append((count, dict(options), list(state)))
        prev = None
        if state:
            spec, data = state[0]
            prev = np.frombuffer(bytes(data), np.uint8).reshape(spec["shape"])
        self.jobs[job_id] = {"count": count, "shape": (height, width, 3), "done": [], "prev": prev,
                             "checkpoints": bool(options.get("checkpoints"))}
        return job_id

    def _stylize(self, job, img):
        out = (255 - img).astype(np.uint8)
        if self.stateful and job["prev"] is not None:
            out = ((out.astype(np.uint16) + job["prev"]) // 2).astype(np.uint8)
        job["prev"] = out
        return out

    def _checkpoint(self, job):
        if not job["checkpoints"]:
            return {}, []
        if not self.stateful:
            return {"checkpoint": {"version": 1, "arrays": {}, "values": {}}}, []
        prev = job["prev"]
        spec = {"name": "state/fake/prev", "shape": list(prev.shape), "encoding": "raw", "nbytes": prev.nbytes}
        desc = {"version": 1, "arrays": {"fake/prev": {"dtype": "uint8", "shape": list(prev.shape),
                                                       "buffer": spec["name"]}}, "values": {}}
        return {"checkpoint": desc}, [(spec, prev.tobytes())]

    def _check(self):
        if self.dead:
            raise BackendError(DISCONNECTED, "the backend connection was lost (EOFError)")

    def send_frame(self, job_id, frame, data, shape=(), encoding="raw", timeout=None):
        self._check()
        job = self.jobs[job_id]
        img = np.frombuffer(bytes(data), np.uint8).reshape(shape)
        self.received.append((job_id, frame, int(img[0, 0, 0])))
        if job_id in self.cancelled:
            return {}
        if self.die_after is not None and self.emitted >= self.die_after:
            self.dead = True
            return {}
        out = self._stylize(job, img)
        extra, state = self._checkpoint(job)
        self.events.append(Message(kind="event", type=messages.JOB_PROGRESS,
                                   body={"job_id": job_id, "frame": frame, "stage": "toon"}))
        self.events.append(Message(kind="event", type=messages.JOB_FRAME, body={"job_id": job_id, "frame": frame, **extra},
                                   buffers=[({"name": "image", "shape": list(shape), "encoding": "raw"},
                                             out.tobytes())] + state))
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

    def cancel(self, job_id, timeout=-1):
        self._check()
        self.cancelled.append(job_id)
        self._done(job_id, "cancelled")
        return {"ok": True}

    def next_event(self, timeout=None, job_id=None):
        for i, event in enumerate(self.events):
            if job_id is None or event.body.get("job_id") == job_id:
                del self.events[i]
                return event
        self._check()
        return None
