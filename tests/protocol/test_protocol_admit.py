"""Issue 12 items 15 and 17 at the wire level: the receiver decides from the envelope whether a message's
buffers are read; refused buffers are skipped (never held) and the stream stays in sync. And a channel
closed while a thread reads keeps its descriptor until that thread has left (no reuse under it)."""
import json
import socket
import threading
from multiprocessing.connection import Connection

import pytest

from kino_addon.protocol.envelope import Message, nesting_depth
from kino_addon.protocol.errors import ProtocolError
from kino_addon.protocol.framing import IGNORE, recv_message, send_message
from kino_addon.protocol.transport import Channel

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    ca, cb = Connection(a.detach()), Connection(b.detach())
    yield ca, cb
    ca.close()
    cb.close()


def spec(nbytes):
    return {"name": "b", "nbytes": nbytes, "dtype": "uint8", "shape": [nbytes], "encoding": "raw"}


def send_raw(conn, env, *frames):
    conn.send_bytes(json.dumps(env).encode())
    for f in frames:
        conn.send_bytes(f)


def test_refused_buffers_are_skipped_and_the_stream_stays_in_sync(pair):
    a, b = pair
    seen = []

    def admit(msg, specs):
        seen.append((msg.type, len(specs)))
        return ProtocolError("no buffers here", re=msg.id) if msg.type == "x.refuse" else IGNORE

    big = 3 << 20  # more than one read chunk
    writer = threading.Thread(target=send_raw, args=(a, {"v": 1, "id": "r1", "kind": "request", "type": "x.refuse",
                                                          "buffers": [spec(big), spec(5)]}, b"\1" * big, b"\2" * 5))
    writer.start()
    with pytest.raises(ProtocolError) as info:
        recv_message(b, admit)
    writer.join(10)
    assert info.value.re == "r1" and not info.value.fatal
    send_raw(a, {"v": 1, "id": "e1", "kind": "event", "type": "x.event", "buffers": [spec(3)]}, b"abc")
    assert recv_message(b, admit).buffers == []  # IGNORE: handed on without its buffers
    send_message(a, Message(kind="request", type="x.after"))
    assert recv_message(b, admit).type == "x.after" and seen[:2] == [("x.refuse", 2), ("x.event", 1)]


def test_a_refused_frame_longer_than_its_declaration_is_fatal(pair):
    a, b = pair
    send_raw(a, {"v": 1, "id": "r2", "kind": "request", "type": "x.refuse", "buffers": [spec(4)]}, b"123456789")
    with pytest.raises(ProtocolError) as info:
        recv_message(b, lambda msg, specs: ProtocolError("refused", re=msg.id))
    assert info.value.fatal


def test_bad_declarations_are_skipped_unread_too(pair):
    a, b = pair
    send_raw(a, {"v": 1, "id": "r3", "kind": "request", "type": "x.y", "buffers": [{"name": "b", "nbytes": -1}]}, b"zz")
    with pytest.raises(ProtocolError) as info:
        recv_message(b)
    assert "nbytes" in info.value.message and not info.value.fatal
    send_message(a, Message(kind="request", type="x.after"))
    assert recv_message(b).type == "x.after"


@pytest.mark.parametrize("depth, fatal", [(2000, True), (60, False)])
def test_deep_nesting_is_a_protocol_error(pair, depth, fatal):
    a, b = pair
    a.send_bytes(('{"v":1,"id":"d","kind":"request","type":"x.y","body":{"a":%s}}' % ("[" * depth + "]" * depth)).encode())
    with pytest.raises(ProtocolError) as info:
        recv_message(b)
    assert info.value.fatal is fatal and "nested" in info.value.message
    assert nesting_depth({"a": [[1]], "b": 2}) == 3


def test_close_keeps_the_descriptor_until_the_reader_has_left():
    a, b = socket.socketpair()
    link = Channel(Connection(a.dup().detach()), a)
    inside, go_on = threading.Event(), threading.Event()

    def admit(msg, specs):
        inside.set()
        go_on.wait(10)
        return None

    def read():
        with pytest.raises((EOFError, OSError)):
            link.recv(admit)

    peer = Connection(b.detach())
    send_raw(peer, {"v": 1, "id": "c", "kind": "request", "type": "x.y", "buffers": [spec(4)]})  # no buffer frame
    reader = threading.Thread(target=read)
    reader.start()
    assert inside.wait(10)
    link.close()
    assert not link.conn.closed, "the descriptor was closed under a reading thread"
    go_on.set()
    reader.join(10)
    assert link.conn.closed and not reader.is_alive()
    peer.close()
