"""Issue 12 items 13, 15, 16, 17 against a real backend subprocess: oversized replies, deep JSON, bad
numbers, a burst of connects, buffers that must not be read, PNG bombs. The server keeps serving."""
import json
import socket
import struct
import threading
import time
import zlib

import numpy as np
import pytest

from kino_addon.protocol.envelope import Message, buffer_spec
from kino_addon.protocol.errors import BackendError

from backend_harness import invert_workflow, job_events

pytestmark = pytest.mark.timeout(180)


def request(type_, body=None, buffers=()):
    return Message(kind="request", type=type_, body=body or {}, buffers=list(buffers))


def answer(link, msg, timeout=30.0):
    """The reply to ``msg``; fails the test when none comes (a hang) within ``timeout`` seconds."""
    got = {}

    def read():
        try:
            while True:
                reply = link.recv()
                if reply.kind == "response" and reply.re == msg.id:
                    got["reply"] = reply
                    return
        except (EOFError, OSError) as exc:
            got["closed"] = exc

    link.send(msg)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    assert "reply" in got, f"no answer to {msg.type} within {timeout} s ({got.get('closed', 'still waiting')})"
    return got["reply"]


def hello(link):
    assert answer(link, request("session.hello", {"protocol": [1, 0], "client": "limits/1"})).error is None


def still_serving(backend):
    with backend.connect() as other:
        assert "jobs" in other.status()


def rss_peak_kb(pid):
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))


# -- item 13: a reply that quotes a huge value is still sent, small --------------------------------

def test_a_huge_bad_value_is_answered_with_a_short_message(backend):
    link = backend.raw_link()
    try:
        hello(link)
        huge = "x" * 300_000  # each quoted in the message and the fields: the old reply was 1.5 MB, never sent
        wf = {"version": huge, "look": huge, "stages": [{"name": "test_invert", "params": {huge: 1}}]}
        reply = answer(link, request("job.submit", {"workflow": wf, "frames": {"count": 1, "width": 4, "height": 2}}))
        assert reply.error["code"] == "INVALID_PARAMS"
        assert len(json.dumps(reply.error)) < 20_000 and "300000 characters" in reply.error["message"]
        assert answer(link, request("backend.status")).error is None
    finally:
        link.close()


def test_a_reply_that_cannot_be_encoded_becomes_an_error_reply():
    from kino_addon.protocol.framing import send_message
    from kino_backend.session import Session

    class Link:
        closed, peer, sent = False, "test", []

        def send(self, msg):
            send_message(self, msg)  # encodes like the real link; raises on a body over 1 MiB
            Link.sent.append(msg)

        def send_bytes(self, data):
            pass

    session = Session(server=None, link=Link())
    req = request("backend.status")
    assert session.respond(req, {"report": ["y" * 5000] * 400})  # 2 MB: shrunk, still a body
    assert Link.sent[-1].re == req.id and Link.sent[-1].error is None and len(Link.sent[-1].body["report"]) == 101
    assert session.respond(req, {"blob": {"k" * 150_000 + str(i): 1 for i in range(10)}})  # keys are cut too
    session.respond(req, {"odd": float("nan"), "deep": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]})
    assert Link.sent[-1].re == req.id


# -- item 15: deep JSON, odd numbers and odd looks -------------------------------------------------

def test_deeply_nested_json_gets_bad_message_not_a_dead_connection_thread(backend):
    for depth, fatal in [(1500, True), (100, False)]:
        link = backend.raw_link()
        try:
            hello(link)
            body = "[" * depth + "]" * depth
            link.conn.send_bytes(('{"v":1,"id":"deep","kind":"request","type":"backend.status","body":{"x":%s}}'
                                  % body).encode())
            reply = link.recv()
            assert reply.error["code"] == "BAD_MESSAGE" and "nested" in reply.error["message"]
            if fatal:  # the buffer count cannot be trusted: the connection closes, after the answer
                with pytest.raises((EOFError, OSError)):
                    link.recv()
            else:
                assert answer(link, request("backend.status")).error is None
        finally:
            link.close()
    still_serving(backend)
    assert "died" not in backend.log_path.read_text()


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e30", "1e400", "-1e400", "1" + "0" * 400,
                                 "[]", "{}", '"3"', "true", "2.5"])
def test_bad_numbers_are_invalid_params_not_internal(backend, raw):
    link = backend.raw_link()
    try:
        hello(link)
        env = ('{"v":1,"id":"n1","kind":"request","type":"job.submit","body":{"workflow":{"version":1,'
               '"look":"test_invert","stages":[{"name":"test_invert","params":{"fail_at":%s}}]},'
               '"frames":{"count":1,"width":4,"height":2}}}' % raw)
        link.conn.send_bytes(env.encode())
        reply = link.recv()
        if raw == '"3"':  # a number as text is accepted (it is what --param KEY=VALUE sends)
            assert reply.error is None
            answer(link, request("job.cancel", {"job_id": reply.body["job_id"]}))
            return
        assert reply.error["code"] == "INVALID_PARAMS", reply.error
        assert "test_invert.fail_at" in reply.error["details"]["fields"] and reply.error["traceback"] is None
    finally:
        link.close()


@pytest.mark.parametrize("look", [[], {}, ["test_invert"], {"name": "toon"}, 7, None])
def test_a_look_that_is_not_a_name_is_invalid_params(client, look):
    with pytest.raises(BackendError) as info:
        client.submit_job({"version": 1, "look": look, "stages": [{"name": "test_invert"}]}, 1, 4, 2, {})
    assert info.value.code == "INVALID_PARAMS" and "workflow.look" in info.value.details["fields"]


# -- item 16: a burst of connects all get the challenge --------------------------------------------

def test_a_hundred_simultaneous_connects_all_get_the_challenge(backend):
    socks = []
    try:
        for _ in range(100):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((backend.host, backend.port))
            socks.append(s)
        got = 0
        deadline = time.monotonic() + 60
        pending = list(socks)
        while pending and time.monotonic() < deadline:
            for s in list(pending):
                try:
                    if s.recv(64):  # the first bytes of the HMAC challenge frame
                        got += 1
                        pending.remove(s)
                except (BlockingIOError, InterruptedError):
                    pass
            time.sleep(0.02)
        assert got == 100, f"only {got} of 100 connections got the challenge"
    finally:
        for s in socks:
            s.close()
    still_serving(backend)


# -- item 17: buffers are checked before they are read ---------------------------------------------

def _send_declared(link, env, sizes):
    link.conn.send_bytes(json.dumps(env).encode())
    chunk = b"\0" * (8 << 20)
    for size in sizes:  # one frame each, written in chunks so the test never holds it whole
        link.conn._send(struct.pack("!i", size))
        left = size
        while left:
            n = min(left, len(chunk))
            link.conn._send(chunk[:n])
            left -= n


def test_buffers_of_a_refused_message_are_not_read_into_memory(backend):
    link = backend.raw_link()
    try:
        size = 128 << 20
        spec = {"name": "b", "nbytes": size, "dtype": "uint8", "shape": [size], "encoding": "raw"}
        peak = rss_peak_kb(backend.proc.pid)
        for env in ({"v": 1, "id": "pre", "kind": "request", "type": "nobody.knows", "buffers": [spec, spec]},
                    {"v": 1, "id": "pre2", "kind": "request", "type": "backend.status", "buffers": [spec]}):
            sender = threading.Thread(target=_send_declared, args=(link, env, [size] * len(env["buffers"])))
            sender.start()
            reply = link.recv()
            sender.join(60)
            assert reply.re == env["id"] and reply.error["code"] == "HELLO_REQUIRED"
        hello(link)
        env = {"v": 1, "id": "st", "kind": "request", "type": "backend.status", "buffers": [spec]}
        sender = threading.Thread(target=_send_declared, args=(link, env, [size]))
        sender.start()
        reply = link.recv()
        sender.join(60)
        assert reply.error["code"] == "BAD_MESSAGE" and "carries no buffers" in reply.error["message"]
        grew_mb = (rss_peak_kb(backend.proc.pid) - peak) / 1024
        assert grew_mb < 64, f"the backend's peak memory grew by {grew_mb:.0f} MB reading refused buffers"
        assert answer(link, request("backend.status")).error is None  # still in sync
    finally:
        link.close()


def _png(width, height):
    """A valid PNG of a black ``width`` x ``height`` RGB image, built row by row (small, decodes huge)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    comp, row, parts = zlib.compressobj(9), b"\0" * (1 + 3 * width), []
    for _ in range(height):
        parts.append(comp.compress(row))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def test_a_png_bomb_is_refused_from_its_header(client):
    bomb = _png(6000, 6000)  # ~100 KB that decodes to 108 MB
    assert len(bomb) < 200_000
    job = client.submit_job(invert_workflow(), 2, 16, 16, {})
    with pytest.raises(BackendError) as info:
        client.send_frame(job, 1, bomb, shape=(16, 16, 3), encoding="png")
    assert info.value.code == "INVALID_PARAMS" and "6000x6000" in info.value.message
    with pytest.raises(BackendError) as info:
        client.send_frame(job, 1, b"GIF89a" + b"\0" * 40, shape=(16, 16, 3), encoding="png")
    assert "not a PNG" in info.value.message
    with pytest.raises(BackendError) as info:  # larger than any 16x16 PNG can be: refused unread
        client.send_frame(job, 1, b"\0" * (3 << 20), shape=(16, 16, 3), encoding="png")
    assert info.value.code == "BAD_MESSAGE" and "larger than any 16x16 frame" in info.value.message
    good = _png(16, 16)
    client.send_frame(job, 1, good, shape=(16, 16, 3), encoding="png")
    client.send_frame(job, 2, np.full((16, 16, 3), 7, np.uint8))
    frames = [e for e in job_events(client, job) if e.type == "job.frame"]
    assert [np.frombuffer(e.buffers[0][1], np.uint8)[0] for e in frames] == [255, 248]


def test_input_for_an_unknown_job_is_refused_unread(backend):
    link = backend.raw_link()
    try:
        hello(link)
        size = 64 << 20
        env = {"v": 1, "id": "ghost", "kind": "request", "type": "job.input", "body": {"job_id": "job-nope", "frame": 1},
               "buffers": [buffer_spec("f", size, (size,), "png")]}
        sender = threading.Thread(target=_send_declared, args=(link, env, [size]))
        sender.start()
        reply = link.recv()
        sender.join(60)
        assert reply.re == "ghost" and reply.error["code"] == "NOT_FOUND"
        assert answer(link, request("backend.status")).error is None
    finally:
        link.close()
