"""One client connection: reads requests, answers them, sends the events of its jobs.

Every connection starts with ``session.hello``; anything else before it gets ``HELLO_REQUIRED``.
Unknown request types get ``UNKNOWN_TYPE``; events and responses from the client are ignored.
What a request may carry is checked before its buffers are read (``admit``, see serving.admission).
Every request gets an answer, even one too large to encode (serving.replies). When the connection
drops, the jobs it submitted are cancelled.
"""
from __future__ import annotations

import itertools
import logging
import os
import threading
import traceback
from typing import Callable, Dict, List, Optional

from kino_addon.protocol import PROTOCOL_VERSION
from kino_addon.protocol import messages as msg_types
from kino_addon.protocol.bodies import JobSubmit, int_field, text_field
from kino_addon.protocol.envelope import Message
from kino_addon.protocol.errors import (BAD_MESSAGE, HELLO_REQUIRED, INTERNAL, INVALID_PARAMS, NOT_FOUND,
                                        PROTOCOL_VERSION as PROTOCOL_VERSION_ERROR, UNKNOWN_TYPE, BackendError,
                                        ProtocolError, error_object)
from kino_addon.protocol.framing import IGNORE
from kino_addon.protocol.quoting import clip, quote

from . import __version__
from . import checkpoint
from .jobs import INPUT_WINDOW, Job
from .serving import admission, faces
from .serving.replies import shrunk, stand_in
from .serving.scans import start_scan
from .workflow import WorkflowError, validate_workflow

log = logging.getLogger("kino.session")
_job_numbers = itertools.count(1)
DEFERRED = object()  # a handler that answers later (job.input while the job's buffer is full)


class RequestError(BackendError):
    """Raised by a handler to answer its request with an error."""


class Refusal(ProtocolError):
    """A request refused before its buffers were read, answered with the full wire ``error``."""

    def __init__(self, request: Message, error: dict):
        super().__init__(error["message"], code=error["code"], re=request.id)
        self.type = request.type
        self.error = error


class Session:
    """One authenticated client connection: reads its requests in order, answers each (or defers the
    answer), and sends the events of the jobs it submitted. Its jobs are cancelled when it closes."""

    def __init__(self, server, link):
        self.server = server
        self.link = link
        self.helloed = False
        self.client_name = ""
        self.scanning = threading.Event()  # a models.list scan of this connection is running
        self.searching = threading.Event()  # a face.find of this connection is running
        self.handlers: Dict[str, Callable[[Message], object]] = {
            msg_types.SESSION_HELLO: self.on_hello, msg_types.JOB_SUBMIT: self.on_submit, msg_types.JOB_INPUT: self.on_input,
            msg_types.JOB_CANCEL: self.on_cancel, msg_types.BACKEND_STATUS: self.on_status, msg_types.SESSION_SHUTDOWN: self.on_shutdown,
            msg_types.MODELS_LIST: self.on_models_list, msg_types.FACE_FIND: self.on_face_find,
            msg_types.DEBUG_ECHO: self.on_echo,  # hidden: the protocol benchmark's round trip
        }

    # -- sending -------------------------------------------------------------------------------
    def respond(self, request: Message, body: Optional[dict] = None, buffers=(), error: Optional[dict] = None) -> bool:
        return self._send(Message(kind="response", type=request.type, re=request.id, body=body or {},
                                  error=error, buffers=list(buffers)))

    def send_event(self, type: str, re: Optional[str], body: dict, buffers=()) -> bool:
        """Send an event; False when the connection is gone (the caller then cancels its job)."""
        return self._send(Message(kind="event", type=type, re=re, body=body, buffers=list(buffers)))

    def _send(self, msg: Message) -> bool:
        """Send ``msg``; one that cannot be encoded (too large, odd values) is shrunk, or replaced by an
        error reply, so a request is always answered. False once the connection is gone."""
        problem = ""
        for attempt in (lambda: msg, lambda: shrunk(msg), lambda: stand_in(msg, problem)):
            candidate = attempt()
            if candidate is None:
                break
            try:
                self.link.send(candidate)
                return True
            except (OSError, EOFError):
                self.link.close()
                return False
            except (ValueError, TypeError, RecursionError) as exc:
                problem = problem or str(exc)
                log.warning("could not encode %s %s: %s", msg.kind, msg.type, clip(str(exc), 300))
        return not self.link.closed

    def _error_reply(self, re: Optional[str], mtype: str, code: str, message: str, **extra) -> None:
        self._send(Message(kind="response", type=mtype, re=re, error=error_object(code, message, **extra)))

    # -- reading -------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            while not self.link.closed:
                try:
                    msg = self.link.recv(self.admit)
                except Refusal as exc:
                    self._send(Message(kind="response", type=exc.type, re=exc.re, error=exc.error))
                    continue
                except ProtocolError as exc:
                    log.warning("bad message from %s: %s", self.link.peer, clip(exc.message, 300))
                    self._error_reply(exc.re, msg_types.ERROR_BAD_MESSAGE, exc.code, exc.message)
                    if exc.fatal:
                        break
                    continue
                if msg.kind == "request":
                    self.dispatch(msg)
        except (EOFError, OSError):
            pass
        except Exception as exc:  # never a silent dead connection: say why, then close it
            log.exception("the connection from %s failed", self.link.peer)
            self._error_reply(None, msg_types.ERROR_BAD_MESSAGE, INTERNAL, f"the backend closed this connection after an "
                              f"internal error ({type(exc).__name__}); connect again")
        finally:
            self.close()

    def admit(self, msg: Message, specs: List[dict]):
        """Before its buffers are read: may this message carry them? (see serving.admission)"""
        if msg.kind != "request":
            return IGNORE if specs else None  # ignored anyway: never read its buffers
        if not specs:
            return None
        refuse = lambda code, text: Refusal(msg, error_object(code, text))  # noqa: E731
        if not self.helloed and msg.type != msg_types.SESSION_HELLO:
            return refuse(HELLO_REQUIRED, "send session.hello first (nothing else is read before it)")
        if msg.type not in self.handlers:
            return refuse(UNKNOWN_TYPE, f"unknown request type {quote(msg.type)}")
        allowed = admission.BUFFER_LIMITS.get(msg.type, 0)
        if len(specs) > allowed:
            return refuse(BAD_MESSAGE, f"{msg.type} carries {allowed or 'no'} buffer{'s' if allowed != 1 else ''}, "
                                       f"got {len(specs)}")
        try:
            problem = self._buffer_problem(msg, specs)
        except BackendError as exc:
            return Refusal(msg, exc.to_wire())
        return refuse(BAD_MESSAGE, problem) if problem else None

    def _buffer_problem(self, msg: Message, specs: List[dict]) -> Optional[str]:
        if msg.type == msg_types.DEBUG_ECHO:
            total = sum(s["nbytes"] for s in specs)
            return f"debug.echo carries at most {admission.ECHO_BYTES} bytes" if total > admission.ECHO_BYTES else None
        if msg.type == msg_types.FACE_FIND:
            return faces.buffers_problem(specs)
        if msg.type == msg_types.JOB_SUBMIT:
            submit = JobSubmit.from_body(msg.body)
            count, width, height = submit.frames.count, submit.frames.width, submit.frames.height
            problem = checkpoint.state_problem(specs, submit.options, width, height)
            if problem:
                return problem
            specs = [s for s in specs if not checkpoint.is_state(s)]  # the rest are frames
            if len(specs) > count:
                return f"job.submit carries {len(specs)} frames for a job of {count}"
            if sum(s["nbytes"] for s in specs) > admission.input_budget(width, height, INPUT_WINDOW):
                return "job.submit carries more frame data than a job may hold: send the rest with job.input"
            return admission.frames_problem(specs, width, height)
        job = self._job(msg.body.get("job_id"))  # job.input
        if job.owner is not self:
            raise RequestError(NOT_FOUND, f"job {job.id} belongs to another connection")
        if job.state in ("completed", "failed", "cancelled") or job.cancel_event.is_set():
            error = job.ended_error()
            raise RequestError(error["code"], error["message"], frame=error.get("frame"), stage=error.get("stage"))
        if job.pending_bytes + specs[0]["nbytes"] > admission.input_budget(job.width, job.height, INPUT_WINDOW):
            return (f"job {job.id} already holds {job.pending_bytes} bytes of frames it has not used yet: wait for "
                    "the answers to job.input before sending more")
        return admission.frames_problem(specs, job.width, job.height)

    def dispatch(self, msg: Message) -> None:
        if not self.helloed and msg.type != msg_types.SESSION_HELLO:
            self._error_reply(msg.id, msg.type, HELLO_REQUIRED, "send session.hello first")
            return
        handler = self.handlers.get(msg.type)
        if handler is None:
            self._error_reply(msg.id, msg.type, UNKNOWN_TYPE, f"unknown request type {quote(msg.type)}; known: "
                              + ", ".join(sorted(t for t in self.handlers if not t.startswith("debug."))))
            return
        try:
            result = handler(msg)
        except BackendError as exc:
            self.respond(msg, error=exc.to_wire())
            return
        except Exception as exc:  # a bug in a handler must not kill the connection
            log.exception("handler of %s failed", msg.type)
            self._error_reply(msg.id, msg.type, INTERNAL, f"the backend failed on {msg.type} ({type(exc).__name__}: "
                              f"{clip(str(exc), 300)}); this is a bug in Kino: please report it with the backend "
                              "log", type=type(exc).__name__, traceback=clip(traceback.format_exc(), 20000))
            return
        if result is not DEFERRED:
            body, buffers = result if isinstance(result, tuple) else (result, ())
            self.respond(msg, body, buffers)

    def close(self) -> None:
        self.link.close()
        self.server.worker.cancel_owned(self, "the client disconnected")
        self.server.forget(self)

    # -- handlers ------------------------------------------------------------------------------
    def on_hello(self, msg: Message):
        proto = msg.body.get("protocol")
        if not (isinstance(proto, list) and len(proto) >= 1 and proto[0] == PROTOCOL_VERSION[0]):
            raise RequestError(PROTOCOL_VERSION_ERROR, f"this backend speaks protocol {list(PROTOCOL_VERSION)}, "
                                                       f"the client sent {proto!r}: update the add-on or the backend")
        self.client_name = str(msg.body.get("client") or "")
        catalogue = self.server.catalogue()
        self.helloed = True
        log.info("hello from %s (%s)", self.client_name or "?", self.link.peer)
        return {"protocol": list(PROTOCOL_VERSION), "backend": f"kino/{__version__}",
                "devices": self.server.resources.devices(), "looks": catalogue["looks"],
                "stages": catalogue["stages"]}

    def on_submit(self, msg: Message):
        submit = JobSubmit.from_body(msg.body)  # frames and generic options: INVALID_PARAMS when wrong
        try:
            workflow = validate_workflow(submit.workflow, known_looks=self.server.look_names())
        except WorkflowError as exc:
            raise RequestError(INVALID_PARAMS, str(exc), details={"fields": exc.fields}) from None
        count, width, height = submit.frames.count, submit.frames.width, submit.frames.height
        options = submit.job_options()
        resume = submit.resume_state  # a resumed job: the stages' state (backend.checkpoint)
        state = [b for b in msg.buffers if checkpoint.is_state(b[0])]
        inputs = [b for b in msg.buffers if not checkpoint.is_state(b[0])]
        if state and resume is None:
            raise RequestError(BAD_MESSAGE, "job.submit carries state buffers without options.resume_state")
        if submit.cluster is not None:
            self._check_cluster(submit.cluster)
        if len(inputs) > count:
            raise RequestError(BAD_MESSAGE, f"job.submit carries {len(inputs)} frames for a job of {count}")
        for spec, data in inputs:
            self._check_frame(spec, data, width, height)
        job = Job(f"job-{next(_job_numbers)}", self, msg.id, workflow, count, width, height, options, submit.seed)
        if resume is not None:
            job.resume = (resume, state)
        for index, (spec, data) in enumerate(inputs, start=1):
            job.add_input(index, spec, data, lambda error: None)
        position = self.server.worker.submit(job)
        log.info("job %s queued: look %s, %d frames %dx%d", job.id, workflow.look, count, width, height)
        self.respond(msg, {"job_id": job.id, "queue_position": position})
        job.released.set()  # its events may flow now: the client has the job_id first
        return DEFERRED

    @staticmethod
    def _check_cluster(address) -> None:
        """``options.cluster``: a Ray cluster's address ("" runs the job here); Ray must be installed."""
        from .cluster import RAY_MISSING, ray_available
        if not isinstance(address, str):
            raise RequestError(INVALID_PARAMS, "options.cluster must be a Ray cluster address HOST:PORT",
                               details={"fields": {"options.cluster": "not a string"}})
        if address.strip() and not ray_available():
            raise RequestError(INVALID_PARAMS, RAY_MISSING, details={"fields": {"options.cluster": RAY_MISSING}})

    @staticmethod
    def _check_frame(spec: dict, data: bytes, width: int, height: int) -> None:
        """A frame for a ``width`` x ``height`` job: its declaration, and a PNG's header (never decoded here)."""
        problem = admission.spec_problem(spec, width, height)
        if problem:
            raise RequestError(BAD_MESSAGE, problem)
        problem = admission.data_problem(spec, data, width, height)
        if problem:
            raise RequestError(INVALID_PARAMS, problem)

    def on_input(self, msg: Message):
        job = self._job(msg.body.get("job_id"))
        if job.owner is not self:
            raise RequestError(NOT_FOUND, f"job {job.id} belongs to another connection")
        frame = int_field(msg.body, "frame", 1, job.frames_total, "job.input")
        if len(msg.buffers) != 1:
            raise RequestError(BAD_MESSAGE, f"job.input carries one frame as one buffer, got {len(msg.buffers)}")
        spec, data = msg.buffers[0]
        self._check_frame(spec, data, job.width, job.height)

        def answer(error: Optional[dict]) -> None:
            self.respond(msg, {"job_id": job.id, "frame": frame} if error is None else None, error=error)

        try:
            job.add_input(frame, spec, data, answer)
        except ValueError as exc:
            raise RequestError(INVALID_PARAMS, str(exc)) from None
        return DEFERRED

    def _job(self, job_id) -> Job:
        """The queued or running job ``job_id``; for one that has ended, an error that says why it ended."""
        job = self.server.worker.find(job_id) if isinstance(job_id, str) else None
        if job is not None:
            return job
        ended = self.server.worker.find_ended(job_id, self) if isinstance(job_id, str) else None
        if ended is not None:
            error = ended[1]
            raise RequestError(error["code"], error["message"], frame=error.get("frame"), stage=error.get("stage"))
        raise RequestError(NOT_FOUND, f"no job {quote(job_id)} on this connection: it never existed here, or it "
                                      "ended long ago; submit it again")

    def on_cancel(self, msg: Message):
        job_id = msg.body.get("job_id")
        job = self.server.worker.find(job_id) if isinstance(job_id, str) else None
        if job is not None and job.state in ("completed", "failed", "cancelled"):
            return {"ok": True, "state": job.state}  # it ended already: nothing left to cancel
        ended = self.server.worker.find_ended(job_id, self) if job is None and isinstance(job_id, str) else None
        if ended is not None:
            return {"ok": True, "state": ended[0]}
        job = self._job(job_id)
        if job.owner is not self:
            raise RequestError(NOT_FOUND, f"job {job.id} belongs to another connection")
        job.cancel("cancelled by the client")
        return {"ok": True}

    def on_status(self, msg: Message):
        res = self.server.resources
        return {"jobs": self.server.worker.jobs(), "devices": res.devices(), "models_loaded": res.models_loaded(),
                "backend": f"kino/{__version__}", "connections": self.server.connection_count()}

    def on_shutdown(self, msg: Message):
        self.respond(msg, {"ok": True})
        self.server.request_shutdown(f"session.shutdown from {self.client_name or self.link.peer}")
        return DEFERRED

    def on_models_list(self, msg: Message):
        """``models.list {models_dir?, kind?, arch?, hf_cache?}`` -> ``{models_dir, models: [...], truncated?}``:
        what the local registry finds (models folder + Hugging Face cache, offline), for the panel's
        choices. The scan runs in its own thread, bounded (serving.scans); the answer comes when done."""
        body = msg.body
        models_dir = text_field(body, "models_dir", "models.list") or self.server.resources.models_dir
        kind, arch = text_field(body, "kind", "models.list"), text_field(body, "arch", "models.list")
        hf_cache = body.get("hf_cache", True)
        if not isinstance(hf_cache, bool):
            raise RequestError(INVALID_PARAMS, f"models.list.hf_cache must be true or false, got {quote(hf_cache)}",
                               details={"fields": {"models.list.hf_cache": "must be true or false"}})
        if models_dir and not os.path.isdir(os.path.expanduser(models_dir)):
            raise RequestError(NOT_FOUND, f"models folder {quote(models_dir, 300)} does not exist on the backend's "
                                          "machine: set the Models folder in Kino's preferences to an existing folder")
        self._claim(self.scanning, "models.list scan")

        def answer(result: Optional[dict], exc: Optional[BaseException]) -> None:
            self.scanning.clear()
            if exc is None:
                self.respond(msg, result)
            elif isinstance(exc, BackendError):
                self.respond(msg, error=exc.to_wire())
            else:
                code = getattr(exc, "code", None) if isinstance(getattr(exc, "code", None), str) else INTERNAL
                self.respond(msg, error=error_object(code, clip(getattr(exc, "message", None) or str(exc), 2000)))

        start_scan(os.path.expanduser(models_dir) if models_dir else None, hf_cache, kind, arch, answer)
        return DEFERRED

    @staticmethod
    def _claim(busy, request: str) -> None:
        """One ``request`` at a time per connection: refused while ``busy`` (an Event) is set, else set."""
        if busy.is_set():
            raise RequestError(BAD_MESSAGE, f"a {request} of this connection is still running: wait for its "
                                            "answer before asking again")
        busy.set()

    def on_face_find(self, msg: Message):
        """``face.find {min_confidence?}`` + 1..16 raw RGB frames of one size -> ``{region: [x, y, w, h],
        score, found_in, count, size}`` in pixels of those frames, or ``NO_FACE``. The detector runs in
        its own thread (serving.faces); the answer comes when it is done."""
        if not msg.buffers:
            raise RequestError(BAD_MESSAGE, "face.find carries the frames to search as buffers (raw RGB "
                                            f"[height, width, 3], 1 to {faces.MAX_FRAMES}); it got none")
        confidence = faces.min_confidence(msg.body)  # INVALID_PARAMS when out of range
        self._claim(self.searching, "face.find")

        def answer(body: Optional[dict], error: Optional[dict]) -> None:
            self.searching.clear()
            self.respond(msg, body, error=error)

        faces.start_search(faces.frames_of(msg.buffers), confidence, answer)
        return DEFERRED

    def on_echo(self, msg: Message):
        return {"n": len(msg.buffers)}, msg.buffers
