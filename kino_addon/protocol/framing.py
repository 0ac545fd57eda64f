"""Frames on a ``multiprocessing.connection.Connection``: only ``send_bytes``/``recv_bytes``.

One logical message = the envelope frame, then one frame per declared buffer, in order. Every
``recv_bytes`` passes a cap: 1 MiB for an envelope, the declared size (at most 256 MiB) for a buffer.

What a message may carry is decided before its buffers are read: a bad envelope, a bad buffer
declaration or a refusal by the receiver's ``admit`` check skips the buffer frames in small chunks
(they never sit in memory), then the error is raised with the stream still in sync.
"""
from __future__ import annotations

import socket
import struct
from typing import Any, Callable, List, Optional, Union

from . import MAX_BUFFER_BYTES, MAX_ENVELOPE_BYTES
from .envelope import Message, check_buffer_spec, decode_envelope, encode_envelope, validate_envelope
from .errors import ProtocolError
from .quoting import quote


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


_CHUNK = 1 << 20
#: ``admit`` may return this: read nothing, hand the message on without its buffers (it is ignored).
IGNORE = object()
Admit = Callable[[Message, List[dict]], Union[None, ProtocolError, object]]


def _read_exact(sock: socket.socket, size: int, keep: bool) -> bytes:
    """Read ``size`` bytes from the raw socket into one reused chunk buffer (kept only when ``keep``)."""
    scratch = bytearray(min(size, _CHUNK))
    parts, left = [], size
    while left:
        got = sock.recv_into(scratch, min(left, len(scratch)))
        if not got:
            raise EOFError("the peer closed the connection in the middle of a frame")
        if keep:
            parts.append(bytes(scratch[:got]))
        left -= got
    return b"".join(parts)


def skip_frame(conn, cap: int, what: str) -> None:
    """Read one frame and throw it away, ``_CHUNK`` bytes at a time (``multiprocessing``'s frame header:
    a signed 4-byte big-endian length, or -1 and an 8-byte length)."""
    try:
        sock = socket.socket(fileno=conn.fileno())
    except OSError:  # not a socket (a Windows pipe): read it whole, still under the cap
        _recv_frame(conn, cap, what)
        return
    try:
        size, = struct.unpack("!i", _read_exact(sock, 4, True))
        if size == -1:
            size, = struct.unpack("!Q", _read_exact(sock, 8, True))
        if not 0 <= size <= cap:
            raise ProtocolError(f"{what} is larger than {cap} bytes; closing the connection", fatal=True)
        _read_exact(sock, size, False)
    finally:
        sock.detach()  # the Connection owns the descriptor


def recv_message(conn, admit: Optional[Admit] = None) -> Message:
    """Receive one message. Raises ``ProtocolError`` (fatal or not), ``EOFError``, ``OSError``.

    ``admit(msg, specs)`` (optional) runs once the envelope and the buffer declarations are known
    to be valid, before any buffer is read: it returns None (read them), a ``ProtocolError`` (skip
    them, raise it) or ``IGNORE`` (skip them, return the message without buffers).
    """
    env, specs = decode_envelope(_recv_frame(conn, MAX_ENVELOPE_BYTES, "envelope frame"))
    verdict: Any = None
    try:
        msg = validate_envelope(env)  # raises a non-fatal ProtocolError on bad fields
    except ProtocolError as exc:
        msg, verdict = None, exc
    if msg is not None:
        issue = next((f"buffer {i}: {p}" for i, p in enumerate(map(check_buffer_spec, specs)) if p), None)
        if issue:
            verdict = ProtocolError(issue, re=msg.id if msg.kind == "request" else None)
        elif admit is not None:
            verdict = admit(msg, specs)
    if verdict is not None:
        for index, spec in enumerate(specs):  # a frame longer than a valid declaration is fatal, as below
            cap = MAX_BUFFER_BYTES if check_buffer_spec(spec) else spec["nbytes"]
            skip_frame(conn, cap, f"buffer {index}")
        if isinstance(verdict, ProtocolError):
            raise verdict
        return msg
    buffers = []
    problem = None
    for index, spec in enumerate(specs):
        data = _recv_frame(conn, spec["nbytes"], f"buffer {index}")
        if len(data) != spec["nbytes"] and problem is None:
            problem = f"buffer {index} ({quote(spec['name'], 40)}) declared {spec['nbytes']} bytes, received {len(data)}"
        buffers.append((spec, data))
    if problem:
        raise ProtocolError(problem, re=msg.id if msg.kind == "request" else None)
    msg.buffers = buffers
    return msg
