"""What a request may carry, decided from its envelope before any buffer is read.

``Session.admit`` asks ``check(...)``: a message whose buffers are not allowed (before hello, an
unknown type, a type that carries none, more or larger frames than its job can use, input for a job
that is not running) is refused and its buffer frames are skipped unread by the framing layer. Frame
sizes are checked against the job's declared size, and a PNG's dimensions are read from its header
before anything decodes it.
"""
from __future__ import annotations

import struct
from typing import List, Optional

from kino_addon.protocol import MAX_BUFFER_BYTES, MAX_BUFFERS
from kino_addon.protocol import messages as msg_types

from .faces import MAX_FRAMES as FACE_FRAMES

#: How many buffers each request type may carry; every other request carries none.
BUFFER_LIMITS = {msg_types.JOB_SUBMIT: MAX_BUFFERS, msg_types.JOB_INPUT: 1, msg_types.DEBUG_ECHO: MAX_BUFFERS,
                 msg_types.FACE_FIND: FACE_FRAMES}
ECHO_BYTES = 64 << 20  # debug.echo (the protocol benchmark) echoes at most this much per message
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_EXTRA = 1 << 20  # room for a PNG's metadata chunks (ICC profile, text)


def png_cap(width: int, height: int) -> int:
    """The largest PNG a ``width`` x ``height`` frame can need: 16-bit RGBA stored uncompressed
    (8 bytes a pixel and a filter byte a row, deflate's stored-block overhead) plus metadata."""
    raw = height * (1 + 8 * width)
    return min(MAX_BUFFER_BYTES, raw + raw // 1000 + PNG_EXTRA)


def frame_bytes(width: int, height: int) -> int:
    return min(MAX_BUFFER_BYTES, width * height * 3)


def input_budget(width: int, height: int, window: int) -> int:
    """Bytes of unused input frames one job may hold: what a paced client sends ahead (the window and
    one more), and never less than 1 GiB."""
    return max(1 << 30, (window + 2) * frame_bytes(width, height))


def spec_problem(spec: dict, width: int, height: int) -> Optional[str]:
    """What is wrong with a frame declaration for a ``width`` x ``height`` job (before reading it)."""
    if spec["encoding"] == "raw":
        if spec["shape"] != [height, width, 3]:
            return f"frame buffer shape {spec['shape']} does not match the job's [{height}, {width}, 3]"
        return None
    if spec["nbytes"] > png_cap(width, height):
        return (f"a PNG of {spec['nbytes']} bytes is larger than any {width}x{height} frame needs "
                f"({png_cap(width, height)} bytes); send frames of the job's size")
    return None


def png_size(data: bytes) -> Optional[tuple]:
    """``(width, height)`` from a PNG's IHDR chunk, or None when ``data`` does not start like a PNG."""
    head = bytes(data[:24])
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def data_problem(spec: dict, data: bytes, width: int, height: int) -> Optional[str]:
    """What is wrong with a received frame for a ``width`` x ``height`` job, from its header only."""
    if spec["encoding"] != "png":
        return None
    size = png_size(data)
    if size is None:
        return "the frame is declared as PNG but is not a PNG file (no PNG signature and IHDR header)"
    if size != (width, height):
        return f"the PNG frame is {size[0]}x{size[1]}, the job declared {width}x{height}: send frames of the job's size"
    return None


def frames_problem(specs: List[dict], width: int, height: int) -> Optional[str]:
    return next((p for p in (spec_problem(s, width, height) for s in specs) if p), None)
