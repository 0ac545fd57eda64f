"""Frames on a real multiprocessing.connection pair: round trips, caps, mismatches."""
import json
import struct
import threading
from multiprocessing import Pipe

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kino_addon.protocol import MAX_ENVELOPE_BYTES
from kino_addon.protocol.envelope import Message, buffer_spec
from kino_addon.protocol.framing import as_byte_view, recv_message, send_message
from kino_addon.protocol.errors import ProtocolError

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pair():
    a, b = Pipe(duplex=True)
    yield a, b
    a.close()
    b.close()


@settings(max_examples=40, deadline=None)
@given(payloads=st.lists(st.binary(min_size=1, max_size=3000), max_size=4), body=st.dictionaries(st.text(max_size=5),
                                                                                                 st.integers(), max_size=3))
def test_round_trip_with_buffers(payloads, body):
    a, b = Pipe(duplex=True)
    try:
        msg = Message(kind="event", type="job.frame", body=body,
                      buffers=[(buffer_spec(f"p{i}", len(p), (len(p),), "png"), p) for i, p in enumerate(payloads)])
        send_message(a, msg)
        got = recv_message(b)
        assert got.body == body and got.id == msg.id
        assert [data for _, data in got.buffers] == payloads
    finally:
        a.close()
        b.close()


def test_multidimensional_buffers_are_sent_flat(pair):
    a, b = pair
    data = bytearray(range(24))
    view = memoryview(data).cast("B", (2, 4, 3))
    assert as_byte_view(view).nbytes == 24
    send_message(a, Message(kind="event", type="job.frame", buffers=[(buffer_spec("image", 24, (2, 4, 3)), view)]))
    assert recv_message(b).buffers[0][1] == bytes(data)


def _raw(conn, env, *frames):
    conn.send_bytes(json.dumps(env).encode())
    for f in frames:
        conn.send_bytes(f)


def env(buffers):
    return {"v": 1, "id": "c9", "kind": "request", "type": "job.input", "body": {}, "buffers": buffers}


def spec(nbytes, shape):
    return {"name": "f", "nbytes": nbytes, "dtype": "uint8", "shape": shape, "encoding": "raw"}


def test_short_buffer_is_answerable_and_stream_stays_in_sync(pair):
    a, b = pair
    _raw(a, env([spec(12, [2, 2, 3])]), b"x" * 5)
    with pytest.raises(ProtocolError) as info:
        recv_message(b)
    assert not info.value.fatal and info.value.re == "c9" and "received 5" in info.value.message
    send_message(a, Message(kind="request", type="backend.status"))
    assert recv_message(b).type == "backend.status"


def test_long_buffer_is_fatal(pair):
    a, b = pair
    _raw(a, env([spec(12, [2, 2, 3])]), b"x" * 13)
    with pytest.raises(ProtocolError) as info:
        recv_message(b)
    assert info.value.fatal


def test_bad_declaration_still_consumes_its_frames(pair):
    a, b = pair
    _raw(a, env([spec(11, [2, 2, 3])]), b"x" * 11)
    with pytest.raises(ProtocolError) as info:
        recv_message(b)
    assert not info.value.fatal and "needs nbytes 12" in info.value.message
    send_message(a, Message(kind="request", type="backend.status"))
    assert recv_message(b).type == "backend.status"


def test_oversized_envelope_frame_is_fatal(pair):
    a, b = pair
    sender = threading.Thread(target=lambda: _try_send(a, b" " * (MAX_ENVELOPE_BYTES + 1)), daemon=True)
    sender.start()  # the frame is larger than the socket buffer: send while the other end reads
    with pytest.raises(ProtocolError) as info:
        recv_message(b)
    assert info.value.fatal and "larger than" in info.value.message
    b.close()  # what the session does after a fatal error; the sender then fails with EPIPE
    sender.join(10)
    assert not sender.is_alive()


def _try_send(conn, data):
    try:
        conn.send_bytes(data)
    except OSError:
        pass  # the receiver closed the connection: expected


def test_declared_size_is_the_cap_not_the_sender(pair):
    # a header that claims 2 GiB must not make the receiver allocate it
    a, b = pair
    a.send_bytes(json.dumps(env([spec(12, [2, 2, 3])])).encode())
    a._send(struct.pack("!i", 2**31 - 1))  # a forged frame header, no payload
    with pytest.raises(ProtocolError) as info:
        recv_message(b)
    assert info.value.fatal
