"""Kino's wire protocol (described in ``docs/protocol.md``), standard library only.

Both sides use this package: the add-on (inside Blender's Python) and the backend. Layout:

- ``errors``    error codes, ``BackendError`` (what callers catch), ``ProtocolError`` (bad frames)
- ``envelope``  the JSON envelope and buffer declarations: build, encode, parse, validate
- ``bodies``    typed request bodies both sides share: ``JobSubmit``/``FrameSpec`` (job.submit), ``FaceFind``
- ``framing``   one logical message = envelope frame + one frame per buffer, with size caps
- ``transport`` TCP listen/connect with the HMAC handshake run under a timeout
- ``client``    ``BackendClient``: thread-safe request/response + event queue
- ``launcher``  ``start_backend``: run ``python -m kino_backend serve`` and read its connection file
- ``preset_format`` read/write workflow preset files (shared by the add-on and the backend)
- ``atomic``    atomic file writes (``atomic_write_json``: the one JSON writer of both sides)
"""

PROTOCOL_VERSION = (1, 0)
ENVELOPE_VERSION = 1
MAX_ENVELOPE_BYTES = 1 << 20  # 1 MiB
MAX_BUFFER_BYTES = 256 << 20  # 256 MiB
MAX_BUFFERS = 64

__all__ = ["PROTOCOL_VERSION", "ENVELOPE_VERSION", "MAX_ENVELOPE_BYTES", "MAX_BUFFER_BYTES", "MAX_BUFFERS"]
