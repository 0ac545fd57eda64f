"""One client connection: reads requests, answers them, sends the events of its jobs.

Every connection starts with ``session.hello``; anything else before it gets ``HELLO_REQUIRED``.
Unknown request types get ``UNKNOWN_TYPE``; events and responses from the client are ignored.
When the connection drops, the jobs it submitted are cancelled.
"""
from __future__ import annotations

import itertools
import logging
import os
import traceback
from typing import Callable, Dict, Optional

from kino_addon.protocol import PROTOCOL_VERSION
from kino_addon.protocol.envelope import Message
from kino_addon.protocol.errors import (BAD_MESSAGE, HELLO_REQUIRED, INTERNAL, INVALID_PARAMS, NOT_FOUND,
                                        PROTOCOL_VERSION as PROTOCOL_VERSION_ERROR, UNKNOWN_TYPE, BackendError,
                                        ProtocolError, error_object)

from . import __version__
from .jobs import Job
from .workflow import WorkflowError, validate_workflow
from kino_addon.protocol import messages as msg_types

log = logging.getLogger("kino.session")
_job_numbers = itertools.count(1)
MAX_SIDE = 16384
MAX_FRAMES = 10_000_000
DEFERRED = object()  # a handler that answers later (job.input while the job's buffer is full)


class RequestError(BackendError):
    """Raised by a handler to answer its request with an error."""


def _int_field(body: dict, key: str, lo: int, hi: int, where: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise RequestError(INVALID_PARAMS, f"{where}.{key} must be an integer in {lo}..{hi}, got {value!r}",
                           details={"fields": {f"{where}.{key}": f"must be an integer in {lo}..{hi}"}})
    return value


class Session:
    """One authenticated client connection: reads its requests in order, answers each (or defers the
    answer), and sends the events of the jobs it submitted. Its jobs are cancelled when it closes."""

    def __init__(self, server, link):
        self.server = server
        self.link = link
        self.helloed = False
        self.client_name = ""
        self.handlers: Dict[str, Callable[[Message], object]] = {
            msg_types.SESSION_HELLO: self.on_hello, msg_types.JOB_SUBMIT: self.on_submit, msg_types.JOB_INPUT: self.on_input,
            msg_types.JOB_CANCEL: self.on_cancel, msg_types.BACKEND_STATUS: self.on_status, msg_types.SESSION_SHUTDOWN: self.on_shutdown,
            msg_types.MODELS_LIST: self.on_models_list,
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
        try:
            self.link.send(msg)
            return True
        except (OSError, EOFError):
            self.link.close()
            return False
        except ValueError:  # a body that cannot be encoded: a bug, but keep the connection
            log.exception("could not encode %s %s", msg.kind, msg.type)
            return not self.link.closed

    def _error_reply(self, re: Optional[str], mtype: str, code: str, message: str, **extra) -> None:
        self._send(Message(kind="response", type=mtype, re=re, error=error_object(code, message, **extra)))

    # -- reading -------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            while not self.link.closed:
                try:
                    msg = self.link.recv()
                except ProtocolError as exc:
                    log.warning("bad message from %s: %s", self.link.peer, exc.message)
                    self._error_reply(exc.re, msg_types.ERROR_BAD_MESSAGE, exc.code, exc.message)
                    if exc.fatal:
                        break
                    continue
                if msg.kind == "request":
                    self.dispatch(msg)
        except (EOFError, OSError):
            pass
        finally:
            self.close()

    def dispatch(self, msg: Message) -> None:
        if not self.helloed and msg.type != msg_types.SESSION_HELLO:
            self._error_reply(msg.id, msg.type, HELLO_REQUIRED, "send session.hello first")
            return
        handler = self.handlers.get(msg.type)
        if handler is None:
            self._error_reply(msg.id, msg.type, UNKNOWN_TYPE, f"unknown request type {msg.type!r}; known: "
                              + ", ".join(sorted(t for t in self.handlers if not t.startswith("debug."))))
            return
        try:
            result = handler(msg)
        except BackendError as exc:
            self.respond(msg, error=exc.to_wire())
            return
        except Exception as exc:  # a bug in a handler must not kill the connection
            log.exception("handler of %s failed", msg.type)
            self._error_reply(msg.id, msg.type, INTERNAL, f"{type(exc).__name__}: {exc}", type=type(exc).__name__,
                              traceback=traceback.format_exc())
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
        body = msg.body
        try:
            workflow = validate_workflow(body.get("workflow"), known_looks=self.server.look_names())
        except WorkflowError as exc:
            raise RequestError(INVALID_PARAMS, str(exc), details={"fields": exc.fields}) from None
        frames = body.get("frames")
        if not isinstance(frames, dict):
            raise RequestError(INVALID_PARAMS, "frames must be {count, first: 1, width, height}",
                               details={"fields": {"frames": "missing"}})
        count = _int_field(frames, "count", 1, MAX_FRAMES, "frames")
        width = _int_field(frames, "width", 1, MAX_SIDE, "frames")
        height = _int_field(frames, "height", 1, MAX_SIDE, "frames")
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise RequestError(INVALID_PARAMS, "options must be an object", details={"fields": {"options": "not an object"}})
        seed = _int_field(options, "seed", 0, 2**63 - 1, "options") if "seed" in options else 0
        if len(msg.buffers) > count:
            raise RequestError(BAD_MESSAGE, f"job.submit carries {len(msg.buffers)} frames for a job of {count}")
        for spec, _ in msg.buffers:
            self._check_frame_spec(spec, width, height)
        job = Job(f"job-{next(_job_numbers)}", self, msg.id, workflow, count, width, height, options, seed)
        for index, (spec, data) in enumerate(msg.buffers, start=1):
            job.add_input(index, spec, data, lambda error: None)
        position = self.server.worker.submit(job)
        log.info("job %s queued: look %s, %d frames %dx%d", job.id, workflow.look, count, width, height)
        self.respond(msg, {"job_id": job.id, "queue_position": position})
        job.released.set()  # its events may flow now: the client has the job_id first
        return DEFERRED

    @staticmethod
    def _check_frame_spec(spec: dict, width: int, height: int) -> None:
        if spec["encoding"] == "raw" and spec["shape"] != [height, width, 3]:
            raise RequestError(BAD_MESSAGE, f"frame buffer shape {spec['shape']} does not match the job's "
                                            f"[{height}, {width}, 3]")

    def on_input(self, msg: Message):
        job = self._job(msg.body.get("job_id"))
        if job.owner is not self:
            raise RequestError(NOT_FOUND, f"job {job.id} belongs to another connection")
        frame = _int_field(msg.body, "frame", 1, job.frames_total, "job.input")
        if len(msg.buffers) != 1:
            raise RequestError(BAD_MESSAGE, f"job.input carries one frame as one buffer, got {len(msg.buffers)}")
        spec, data = msg.buffers[0]
        self._check_frame_spec(spec, job.width, job.height)

        def answer(error: Optional[dict]) -> None:
            self.respond(msg, {"job_id": job.id, "frame": frame} if error is None else None, error=error)

        try:
            job.add_input(frame, spec, data, answer)
        except ValueError as exc:
            raise RequestError(INVALID_PARAMS, str(exc)) from None
        return DEFERRED

    def _job(self, job_id) -> Job:
        job = self.server.worker.find(job_id) if isinstance(job_id, str) else None
        if job is None:
            raise RequestError(NOT_FOUND, f"no queued or running job {job_id!r} (finished jobs are forgotten)")
        return job

    def on_cancel(self, msg: Message):
        self._job(msg.body.get("job_id")).cancel("cancelled by the client")
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
        """``models.list {models_dir?, kind?, arch?, hf_cache?}`` -> ``{models_dir, models: [...]}``: what the
        local registry finds (models folder + Hugging Face cache, offline), for the panel's choices."""
        from .models import registry  # lazy: reads safetensors headers only, no torch

        body = msg.body
        models_dir = body.get("models_dir") or self.server.resources.models_dir
        if models_dir is not None and not isinstance(models_dir, str):
            raise RequestError(INVALID_PARAMS, "models_dir must be a folder path",
                               details={"fields": {"models_dir": "not a string"}})
        if models_dir and not os.path.isdir(os.path.expanduser(models_dir)):
            raise RequestError(NOT_FOUND, f"models folder {models_dir} does not exist on the backend's machine: "
                                          "set the Models folder in Kino's preferences to an existing folder")
        entries = registry.scan(os.path.expanduser(models_dir) if models_dir else None,
                                hf_cache=bool(body.get("hf_cache", True)))
        kind, arch = body.get("kind"), body.get("arch")
        if kind:
            entries = registry.choices(entries, kind, arch)
        return {"models_dir": models_dir, "models": entries}

    def on_echo(self, msg: Message):
        return {"n": len(msg.buffers)}, msg.buffers
