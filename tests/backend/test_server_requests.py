"""Requests and bad input against a real backend subprocess; the server keeps serving after each."""
import json
import pathlib
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kino_addon.protocol.envelope import Message, buffer_spec
from kino_addon.protocol.errors import AUTH_FAILED, WIRE_CODES, BackendError

from backend_harness import invert_workflow

pytestmark = pytest.mark.timeout(120)
GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "protocol" / "golden"


def answer(link, msg: Message) -> Message:
    link.send(msg)
    while True:
        reply = link.recv()
        if reply.kind == "response" and reply.re == msg.id:
            return reply


def request(type_, body=None, buffers=()):
    return Message(kind="request", type=type_, body=body or {}, buffers=list(buffers))


def hello():
    return request("session.hello", {"protocol": [1, 0], "client": "raw/1"})


def test_hello_matches_the_golden_shape(client):
    golden = json.loads((GOLDEN / "session.hello.response.json").read_text())["body"]
    assert set(golden) <= set(client.hello)
    assert client.hello["protocol"] == [1, 0] and "cpu" in client.hello["devices"]
    stages = {s["name"]: s for s in client.hello["stages"]}
    assert stages["test_invert"]["role"] == "look"
    assert [p["name"] for p in stages["test_invert"]["params"]] == ["delay", "fail_at", "model_missing_at"]
    for look in client.hello["looks"]:
        assert set(golden["looks"][0]) <= set(look) and look["stages"]
    assert "debug.echo" not in json.dumps(client.hello)


def test_request_before_hello_is_refused_then_hello_works(backend):
    link = backend.raw_link()
    reply = answer(link, request("backend.status"))
    assert reply.error["code"] == "HELLO_REQUIRED"
    assert answer(link, hello()).body["protocol"] == [1, 0]
    assert answer(link, request("backend.status")).error is None
    link.close()


def test_protocol_version_is_checked(backend):
    link = backend.raw_link()
    reply = answer(link, request("session.hello", {"protocol": [2, 0], "client": "future/9"}))
    assert reply.error["code"] == "PROTOCOL_VERSION" and "[1, 0]" in reply.error["message"]
    link.close()


def test_unknown_request_type_and_unknown_event(backend):
    link = backend.raw_link()
    answer(link, hello())
    link.send(Message(kind="event", type="client.mood", body={"happy": True}))  # ignored
    reply = answer(link, request("job.teleport", {}))
    assert reply.error["code"] == "UNKNOWN_TYPE" and "job.submit" in reply.error["message"]
    assert answer(link, request("backend.status")).error is None
    link.close()


def test_invalid_json_gets_an_error_then_the_connection_closes(backend):
    link = backend.raw_link()
    answer(link, hello())
    link.conn.send_bytes(b"{this is not json")
    reply = link.recv()
    assert reply.error["code"] == "BAD_MESSAGE"
    with pytest.raises((EOFError, OSError)):
        link.recv()
    link.close()
    with backend.connect() as other:  # the server keeps serving
        assert other.status()["backend"].startswith("kino/")


def test_buffer_mismatch_is_answered_and_the_connection_survives(backend):
    link = backend.raw_link()
    answer(link, hello())
    env = {"v": 1, "id": "bad-1", "kind": "request", "type": "debug.echo", "body": {},
           "buffers": [{"name": "f", "nbytes": 12, "dtype": "uint8", "shape": [2, 2, 3], "encoding": "raw"}]}
    link.conn.send_bytes(json.dumps(env).encode())
    link.conn.send_bytes(b"short")
    reply = link.recv()
    assert reply.re == "bad-1" and reply.error["code"] == "BAD_MESSAGE" and "received 5" in reply.error["message"]
    assert answer(link, request("backend.status")).error is None
    link.close()


def test_oversized_envelope_closes_only_that_connection(backend):
    link = backend.raw_link()
    answer(link, hello())
    sender = threading.Thread(target=_send_quietly, args=(link, b" " * ((1 << 20) + 10)), daemon=True)
    sender.start()
    with pytest.raises((EOFError, OSError)):
        while True:
            reply = link.recv()
            assert reply.error["code"] == "BAD_MESSAGE"
    sender.join(10)
    link.close()
    with backend.connect() as other:
        assert "jobs" in other.status()


def _send_quietly(link, data):
    try:
        link.conn.send_bytes(data)
    except OSError:
        pass


def test_bad_workflow_gets_per_field_errors(client):
    wf = invert_workflow(delay="slow", fail_at=-3, colour=1)
    with pytest.raises(BackendError) as info:
        client.submit_job(wf, 2, 8, 4, {})
    fields = info.value.details["fields"]
    assert info.value.code == "INVALID_PARAMS"
    assert set(fields) == {"test_invert.delay", "test_invert.fail_at", "test_invert.colour"}
    assert "its parameters are delay, fail_at, model_missing_at" in fields["test_invert.colour"]
    for bad, key in [({"version": 2, "look": "test_invert", "stages": ["x"]}, "workflow.version"),
                     ({"version": 1, "look": "nope", "stages": [{"name": "test_invert"}]}, "workflow.look"),
                     ({"version": 1, "look": "test_invert", "stages": [{"name": "warp9"}]}, "workflow.stages[0].name"),
                     ({"version": 1, "look": "test_invert", "stages": [{"name": "test_matte"}]}, "workflow.stages")]:
        with pytest.raises(BackendError) as info:
            client.submit_job(bad, 1, 8, 4, {})
        assert key in info.value.details["fields"], info.value.details
    with pytest.raises(BackendError) as info:
        client.submit_job(invert_workflow(), 0, 8, 4, {})
    assert "frames.count" in info.value.details["fields"]


def test_unknown_job_is_not_found(client):
    for call in (lambda: client.cancel("job-404"), lambda: client.send_frame("job-404", 1, b"\0" * 6, (1, 2, 3))):
        with pytest.raises(BackendError) as info:
            call()
        assert info.value.code == "NOT_FOUND"


def test_frame_of_the_wrong_size_is_refused(client):
    job = client.submit_job(invert_workflow(), 1, 4, 2, {})
    with pytest.raises(BackendError) as info:
        client.send_frame(job, 1, b"\0" * 12, (2, 2, 3))
    assert info.value.code == "BAD_MESSAGE" and "[2, 4, 3]" in info.value.message
    client.cancel(job)


def test_wrong_key_is_refused_and_the_server_keeps_serving(backend):
    from kino_addon.protocol.client import BackendClient
    with pytest.raises(BackendError) as info:
        BackendClient.connect(backend.host, backend.port, b"not the key" * 3)
    assert info.value.code == AUTH_FAILED
    with backend.connect() as other:
        assert other.hello["protocol"] == [1, 0]


def test_a_silent_client_blocks_no_one(backend):
    silent = socket.create_connection((backend.host, backend.port))  # connects, never answers the challenge
    try:
        with backend.connect(timeout=5) as other:  # the handshake timeout is 10 s: this must not wait for it
            assert other.status()["connections"] >= 1
    finally:
        silent.close()


def test_echo_returns_the_buffers(client):
    data = bytes(range(24))
    body, buffers = client.request("debug.echo", {}, [(buffer_spec("x", 24, (2, 4, 3)), data)])
    assert body == {"n": 1} and buffers[0][1] == data and buffers[0][0]["shape"] == [2, 4, 3]


envelope_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=12),
                               lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                               max_leaves=8)
envelopes = st.fixed_dictionaries({}, optional={
    "v": st.sampled_from([1, 2, "1", None]), "id": st.text(max_size=8) | st.integers(),
    "kind": st.sampled_from(["request", "event", "response", "x"]),
    "type": st.sampled_from(["session.hello", "job.submit", "job.input", "backend.status", "x.y", "", "bad"]),
    "body": envelope_values, "re": envelope_values, "error": envelope_values,
    "buffers": st.lists(st.fixed_dictionaries({"name": st.just("b"), "nbytes": st.integers(-1, 20),
                                               "dtype": st.sampled_from(["uint8", "f4"]),
                                               "shape": st.lists(st.integers(0, 3), max_size=3),
                                               "encoding": st.sampled_from(["raw", "png", "gif"])}), max_size=2)})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(env=envelopes, payload=st.binary(max_size=20))
def test_random_envelopes_get_an_answer_or_a_close_and_the_server_keeps_serving(backend, env, payload):
    link = backend.raw_link()
    try:
        answer(link, hello())
        replies = []
        try:
            link.conn.send_bytes(json.dumps(env).encode())
            for _ in env.get("buffers", []):
                link.conn.send_bytes(payload or b"\0")
            link.send(request("backend.status"))
            while not any(r.type == "backend.status" and r.error is None for r in replies):
                replies.append(link.recv())
        except (EOFError, OSError):
            pass  # the server closed this connection: allowed for undecidable input
        for reply in replies:
            assert reply.kind in ("response", "event")
            if reply.error:
                assert reply.error["code"] in WIRE_CODES
    finally:
        link.close()
    with backend.connect() as other:
        assert "jobs" in other.status()


def test_bad_submit_bodies_are_answered_with_the_field_and_the_connection_lives(backend):
    """job.submit's body is read by JobSubmit.from_body on the backend (kino_addon/protocol/bodies.py), both
    when the submit carries buffers (checked before they are read) and when it does not. Non-object options
    with state buffers used to close the connection (an AttributeError before the buffers were read)."""
    link = backend.raw_link()
    answer(link, hello())
    frames = {"count": 1, "first": 1, "width": 4, "height": 2}
    state = (buffer_spec("state/temporal/x", 8, (1, 8, 1)), b"\0" * 8)
    frame = (buffer_spec("frame_1", 24, (2, 4, 3)), b"\0" * 24)
    cases = [({"frames": {**frames, "first": 3}}, (), "frames.first"),
             ({"frames": {**frames, "first": 3}}, (frame,), "frames.first"),
             ({"frames": frames, "options": [1]}, (state,), "options"),
             ({"frames": frames, "options": {"seed": "7"}}, (frame,), "options.seed")]
    for body, buffers, field in cases:
        reply = answer(link, request("job.submit", {"workflow": invert_workflow(), **body}, buffers))
        assert reply.error["code"] == "INVALID_PARAMS", reply.error
        assert reply.error["details"]["fields"] == {field: reply.error["details"]["fields"][field]}
        assert reply.error["message"].startswith(field + " must be")
    assert answer(link, request("backend.status")).error is None
    link.close()
