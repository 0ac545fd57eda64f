"""``BackendClient``: the add-on's (and tests') side of the wire.

Thread-safe: any thread may call ``request``; one reader thread routes each response to the
request waiting for it and queues events (``job.progress``, ``job.frame``, ``job.done``) for
``next_event``, which takes the next event of any job, or of one job (several jobs of one client run
side by side, each taking only its own). Once the connection is gone every call raises
``BackendError(code="DISCONNECTED")`` (events that arrived before that are still delivered first).
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any, Optional, Sequence, Tuple

from . import PROTOCOL_VERSION
from .bodies import FrameSpec, JobSubmit
from .envelope import Message, buffer_spec
from .errors import AUTH_FAILED, DISCONNECTED, TIMEOUT, BackendError, ProtocolError
from . import messages as msg_types
from .transport import AuthenticationError, Channel, connect

log = logging.getLogger("kino.protocol.client")
_CLOSED = object()


class _Slot:
    """Where the reader thread puts the response to one waiting request (and wakes it)."""
    __slots__ = ("event", "message")

    def __init__(self):
        self.event = threading.Event()
        self.message: Optional[Message] = None


class BackendClient:
    """A connected, authenticated session with a backend (after ``session.hello``)."""

    def __init__(self, link: Channel, request_timeout: Optional[float] = 300.0):
        self.link = link
        self.request_timeout = request_timeout
        self.hello: dict = {}
        self._pending: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._events: "collections.deque[Any]" = collections.deque()  # events in arrival order, then _CLOSED
        self._events_cond = threading.Condition()
        self._dead: Optional[str] = None
        self.unanswered = ""  # the last request that timed out, until any answer arrives: a stuck backend
        self._job_sizes: dict[str, Tuple[int, int]] = {}
        self._reader = threading.Thread(target=self._read_loop, name="kino-client-reader", daemon=True)
        self._reader.start()

    @classmethod
    def connect(cls, host: str, port: int, authkey: bytes, client_name: str = "kino/0.1",
                timeout: float = 10.0) -> "BackendClient":
        """Connect, authenticate and say hello. Raises ``BackendError`` with a reason that says what to do."""
        where = f"{host}:{port}"
        try:
            link = connect(host, port, authkey, timeout)
        except AuthenticationError:
            raise BackendError(AUTH_FAILED, f"the backend at {where} refused our key: use the key from the "
                                            "KINO_AUTHKEY the backend was started with") from None
        except (OSError, EOFError) as exc:
            raise BackendError(DISCONNECTED, f"could not connect to the backend at {where} ({exc}); "
                                             "is it running and is the port (or SSH tunnel) right?") from None
        client = cls(link)
        try:
            client.hello, _ = client.request(msg_types.SESSION_HELLO, {"protocol": list(PROTOCOL_VERSION),
                                                               "client": client_name}, timeout=max(timeout, 60.0))
        except BackendError:
            client.close()
            raise
        return client

    # -- reading -------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        reason = "the backend closed the connection"
        try:
            while True:
                try:
                    msg = self.link.recv()
                except ProtocolError as exc:
                    if exc.fatal:
                        reason = f"bad data from the backend: {exc}"
                        break
                    log.warning("ignored a bad message from the backend: %s", exc)
                    continue
                if msg.kind == "response":
                    self.unanswered = ""  # it answers again
                    with self._lock:
                        slot = self._pending.pop(msg.re, None)
                    if slot is not None:
                        slot.message = msg
                        slot.event.set()
                elif msg.kind == "event":
                    self._queue_event(msg)
        except (EOFError, OSError) as exc:
            if not self.link.closed:
                reason = f"the backend connection was lost ({exc.__class__.__name__}: {exc})"
            else:
                reason = "the connection was closed"
        finally:
            self._mark_dead(reason)

    def _mark_dead(self, reason: str) -> None:
        with self._lock:
            self._dead = self._dead or reason
            pending, self._pending = self._pending, {}
        for slot in pending.values():
            slot.event.set()
        self._queue_event(_CLOSED)
        self.link.close()

    def _queue_event(self, item) -> None:
        with self._events_cond:
            self._events.append(item)
            self._events_cond.notify_all()

    def _disconnected(self) -> BackendError:
        return BackendError(DISCONNECTED, self._dead or "not connected")

    # -- requests ------------------------------------------------------------------------------
    def request(self, type: str, body: Optional[dict] = None, buffers: Sequence[Tuple[dict, Any]] = (),
                timeout: Optional[float] = -1) -> Tuple[dict, list]:
        """Send a request, wait for its response; return ``(body, buffers)`` or raise ``BackendError``.

        ``buffers`` is a sequence of ``(spec, data)`` (see ``envelope.buffer_spec``); ``timeout``
        -1 means the client's default, None waits as long as the connection lives.
        """
        msg = Message(kind="request", type=type, body=dict(body or {}), buffers=list(buffers))
        slot = _Slot()
        with self._lock:
            if self._dead:
                raise self._disconnected()
            self._pending[msg.id] = slot
        try:
            self.link.send(msg)
        except (OSError, EOFError) as exc:
            with self._lock:
                self._pending.pop(msg.id, None)
            self._mark_dead(f"could not send to the backend ({exc})")
            raise self._disconnected() from None
        wait = self.request_timeout if timeout == -1 else timeout
        if not slot.event.wait(wait):
            with self._lock:
                self._pending.pop(msg.id, None)
            self.unanswered = type
            raise BackendError(TIMEOUT, f"no answer to {type} within {wait:g} s; the backend may be busy or stuck")
        reply = slot.message
        if reply is None:
            raise self._disconnected()
        if reply.error:
            raise BackendError.from_wire(reply.error)
        return reply.body, reply.buffers

    def submit_job(self, workflow: dict, count: int, width: int, height: int, options: Optional[dict] = None,
                   inputs: Sequence[Any] = (), state: Sequence[Tuple[dict, Any]] = (),
                   timeout: Optional[float] = -1) -> str:
        """Queue a job; returns its ``job_id``. ``inputs`` (optional): raw RGB frames sent with the request;
        ``state``: the ``state/...`` buffers of a resume checkpoint (with ``options["resume_state"]``)."""
        buffers = [(buffer_spec(f"frame_{i + 1}", memoryview(d).nbytes, (height, width, 3)), d)
                   for i, d in enumerate(inputs)] + list(state)
        submit = JobSubmit(workflow, FrameSpec(int(count), int(width), int(height)), dict(options or {}))
        reply, _ = self.request(msg_types.JOB_SUBMIT, submit.to_body(), buffers, timeout=timeout)
        self._job_sizes[reply["job_id"]] = (int(height), int(width))
        return reply["job_id"]

    def send_frame(self, job_id: str, frame: int, data: Any, shape: Sequence[int] = (), encoding: str = "raw",
                   timeout: Optional[float] = None) -> dict:
        """Send one input frame (1-based). Returns when the backend has queued it (it may hold the
        answer back while the job's input buffer is full, which paces a fast sender)."""
        if not shape:
            if job_id not in self._job_sizes:
                raise ValueError(f"pass shape=(h, w, 3) for job {job_id!r}, which this client did not submit")
            shape = (*self._job_sizes[job_id], 3)
        spec = buffer_spec(f"frame_{frame}", memoryview(data).nbytes, shape, encoding)
        body, _ = self.request(msg_types.JOB_INPUT, {"job_id": job_id, "frame": int(frame)}, [(spec, data)], timeout=timeout)
        return body

    def cancel(self, job_id: str, timeout: Optional[float] = -1) -> dict:
        return self.request(msg_types.JOB_CANCEL, {"job_id": job_id}, timeout=timeout)[0]

    def status(self) -> dict:
        return self.request(msg_types.BACKEND_STATUS, {})[0]

    def shutdown(self) -> dict:
        """Ask the backend to exit; returns its ``{ok}``."""
        body = self.request(msg_types.SESSION_SHUTDOWN, {})[0]
        self.close()
        return body

    def next_event(self, timeout: Optional[float] = None, job_id: Optional[str] = None) -> Optional[Message]:
        """The next event (of job ``job_id`` when given, leaving other jobs' events for their readers), or
        None after ``timeout`` seconds; raises DISCONNECTED when gone and no such event is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._events_cond:
            while True:
                for i, item in enumerate(self._events):
                    if item is _CLOSED:
                        raise self._disconnected()
                    if job_id is None or item.body.get("job_id") == job_id:
                        del self._events[i]
                        return item
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._events_cond.wait(left)

    def discard(self, job_id: str) -> None:
        """Drop the events still queued for ``job_id`` (its reader has finished with the job)."""
        with self._events_cond:
            keep = [e for e in self._events if e is _CLOSED or e.body.get("job_id") != job_id]
            self._events.clear()
            self._events.extend(keep)

    @property
    def connected(self) -> bool:
        return self._dead is None

    def close(self) -> None:
        self.link.close()
        self._reader.join(timeout=5)

    def __enter__(self) -> "BackendClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
