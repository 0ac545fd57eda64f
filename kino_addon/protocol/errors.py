"""Error codes of the wire and the exceptions that carry them (``docs/protocol.md`` says when each is sent)."""
from __future__ import annotations

from typing import Any, Optional

BAD_MESSAGE = "BAD_MESSAGE"
HELLO_REQUIRED = "HELLO_REQUIRED"
PROTOCOL_VERSION = "PROTOCOL_VERSION"
UNKNOWN_TYPE = "UNKNOWN_TYPE"
INVALID_PARAMS = "INVALID_PARAMS"
NOT_FOUND = "NOT_FOUND"
MODEL_MISSING = "MODEL_MISSING"
OUT_OF_MEMORY = "OUT_OF_MEMORY"
CANCELLED = "CANCELLED"
NO_FACE = "NO_FACE"  # face.find saw no face in the frames it was sent
INTERNAL = "INTERNAL"

#: The codes a backend sends; any other code from the wire is read as it is, and a client treats it as an error.
WIRE_CODES = (BAD_MESSAGE, HELLO_REQUIRED, PROTOCOL_VERSION, UNKNOWN_TYPE, INVALID_PARAMS,
              NOT_FOUND, MODEL_MISSING, OUT_OF_MEMORY, CANCELLED, NO_FACE, INTERNAL)

# Raised on the client side only, never sent on the wire.
DISCONNECTED = "DISCONNECTED"  # the connection is gone (backend exited, network dropped)
TIMEOUT = "TIMEOUT"  # no answer within the caller's timeout
AUTH_FAILED = "AUTH_FAILED"  # the HMAC handshake failed: wrong key
BACKEND_START = "BACKEND_START"  # the launcher could not start the backend


class BackendError(Exception):
    """An error answered by the backend (or a client-side failure such as ``DISCONNECTED``).

    ``code`` is one of the codes above; ``frame``/``stage`` say where a job failed; ``details``
    holds structured extras (for ``INVALID_PARAMS``: ``{"fields": {"stage.param": "message"}}``).
    """

    def __init__(self, code: str, message: str, *, type: Optional[str] = None,
                 traceback: Optional[str] = None, frame: Optional[int] = None,
                 stage: Optional[str] = None, details: Optional[dict] = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.type = type
        self.traceback = traceback
        self.frame = frame
        self.stage = stage
        self.details = details or {}

    @classmethod
    def from_wire(cls, error: dict) -> "BackendError":
        return cls(str(error.get("code") or INTERNAL), str(error.get("message") or "unknown error"),
                   type=error.get("type"), traceback=error.get("traceback"), frame=error.get("frame"),
                   stage=error.get("stage"), details=error.get("details") if isinstance(error.get("details"), dict) else None)

    def to_wire(self) -> dict:
        return error_object(self.code, self.message, type=self.type, traceback=self.traceback,
                            frame=self.frame, stage=self.stage, details=self.details or None)


class ProtocolError(Exception):
    """A frame or envelope that breaks the wire rules.

    ``fatal`` means the stream can no longer be trusted (the peer must be disconnected);
    otherwise the message was consumed whole and an error response can be sent, answering ``re``.
    """

    def __init__(self, message: str, *, code: str = BAD_MESSAGE, re: Optional[str] = None, fatal: bool = False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.re = re
        self.fatal = fatal


def error_object(code: str, message: str, *, type: Optional[str] = None, traceback: Optional[str] = None,
                 frame: Optional[int] = None, stage: Optional[str] = None,
                 details: Optional[dict] = None) -> dict[str, Any]:
    """The ``error`` member of an envelope."""
    out: dict[str, Any] = {"code": code, "message": message, "type": type, "traceback": traceback,
                           "frame": frame, "stage": stage}
    if details:
        out["details"] = details
    return out
