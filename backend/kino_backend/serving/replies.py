"""Every reply goes out: a message too large (or too odd) to encode is shrunk, and failing that,
replaced by an error reply that says why, so a request is never left unanswered.

Messages quote values (``quoting.quote``) so they stay small; this is the net behind that.
"""
from __future__ import annotations

from typing import Any, Optional

from kino_addon.protocol import messages as msg_types
from kino_addon.protocol.envelope import Message
from kino_addon.protocol.errors import INTERNAL, error_object
from kino_addon.protocol.quoting import clip

TEXT = 2000  # characters kept of each string when shrinking
ITEMS = 100  # items kept of each list / object
DEPTH = 12


def shrink(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of ``value`` with long strings cut, long lists and objects trimmed."""
    if depth > DEPTH:
        return "…"
    if isinstance(value, str):
        return clip(value, TEXT)
    if isinstance(value, dict):
        items = list(value.items())
        out = {clip(str(k), 200): shrink(v, depth + 1) for k, v in items[:ITEMS]}
        if len(items) > ITEMS:
            out["…"] = f"{len(items) - ITEMS} more entries left out"
        return out
    if isinstance(value, (list, tuple)):
        out = [shrink(v, depth + 1) for v in list(value)[:ITEMS]]
        return out + [f"… {len(value) - ITEMS} more items left out"] if len(value) > ITEMS else out
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return clip(str(value), TEXT)


def shrunk(msg: Message) -> Message:
    """``msg`` with its body and error shrunk (same id, type, ``re`` and buffers)."""
    error = None
    if msg.error is not None:
        error = shrink({k: v for k, v in msg.error.items() if k != "traceback"})
    return Message(kind=msg.kind, type=msg.type, id=msg.id, re=msg.re, body=shrink(msg.body), error=error,
                   buffers=msg.buffers)


def stand_in(msg: Message, problem: str) -> Optional[Message]:
    """The smallest useful message in place of ``msg``: an error reply for a response, a bare
    ``job.done`` for a job's end; None for other events (dropped, the job goes on)."""
    text = f"the backend could not send its {msg.kind} {msg.type}: {clip(problem, 300)}"
    if msg.kind == "response":
        code = (msg.error or {}).get("code") if isinstance((msg.error or {}).get("code"), str) else INTERNAL
        message = clip(str((msg.error or {}).get("message") or text), TEXT)
        return Message(kind="response", type=msg.type, id=msg.id, re=msg.re, error=error_object(code, message))
    if msg.type == msg_types.JOB_DONE:
        body = {k: msg.body.get(k) for k in ("job_id", "status") if isinstance(msg.body.get(k), str)}
        body.update(frames_done=[], provenance={"problem": text})
        err = msg.body.get("error")
        if isinstance(err, dict):
            code = err.get("code") if isinstance(err.get("code"), str) else INTERNAL
            body["error"] = error_object(code, clip(str(err.get("message") or text), TEXT))
        return Message(kind="event", type=msg.type, id=msg.id, re=msg.re, body=body)
    return None
