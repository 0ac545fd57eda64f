"""Frames on a ``multiprocessing.connection.Connection``: only ``send_bytes``/``recv_bytes``.

One logical message = the envelope frame, then one frame per declared buffer, in order. Every
``recv_bytes`` passes a cap: 1 MiB for an envelope, the declared size (at most 256 MiB) for a buffer.
"""
from __future__ import annotations

from typing import Any

from . import MAX_BUFFER_BYTES, MAX_ENVELOPE_BYTES
from .envelope import Message, check_buffer_spec, decode_envelope, encode_envelope, validate_envelope
from .errors import ProtocolError


def as_byte_view(data: Any) -> memoryview:
    """A flat byte view of ``data`` without copying (bytes, bytearray, memoryview, numpy array)."""
    view = data if isinstance(data, memoryview) else memoryview(data)
    if view.ndim != 1 or view.format not in ("B", "b", "c"):
        if not view.c_contiguous:
            raise ValueError("buffer data must be C-contiguous (use numpy.ascontiguousarray)")
        view = view.cast("B")
    return view


def send_message(conn, msg: Message) -> None:
    """Send one message. The caller holds the connection's send lock."""
    views = [as_byte_view(data) for _, data in msg.buffers]
    for (spec, _), view in zip(msg.buffers, views):
        if view.nbytes != spec.get("nbytes"):
            raise ValueError(f"buffer {spec.get('name')!r} declares {spec.get('nbytes')} bytes, has {view.nbytes}")
    header = encode_envelope(msg)
    conn.send_bytes(header)
    for view in views:
        conn.send_bytes(view)


def _recv_frame(conn, cap: int, what: str) -> bytes:
    try:
        return conn.recv_bytes(cap)
    except OSError as exc:
        if "bad message length" in str(exc):
            raise ProtocolError(f"{what} is larger than {cap} bytes; closing the connection", fatal=True) from None
        raise


def recv_message(conn) -> Message:
    """Receive one message. Raises ``ProtocolError`` (fatal or not), ``EOFError``, ``OSError``."""
    env, specs = decode_envelope(_recv_frame(conn, MAX_ENVELOPE_BYTES, "envelope frame"))
    problem = None
    buffers = []
    for index, spec in enumerate(specs):
        issue = check_buffer_spec(spec)
        cap = MAX_BUFFER_BYTES if issue else spec["nbytes"]
        data = _recv_frame(conn, cap, f"buffer {index}")
        if issue is None and len(data) != spec["nbytes"]:
            issue = f"buffer {index} ({spec['name']!r}) declared {spec['nbytes']} bytes, received {len(data)}"
        if issue and problem is None:
            problem = issue
        buffers.append((spec, data))
    msg = validate_envelope(env)  # raises a non-fatal ProtocolError on bad fields
    if problem:
        raise ProtocolError(problem, re=msg.id if msg.kind == "request" else None)
    msg.buffers = buffers
    return msg
