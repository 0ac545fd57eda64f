"""Envelope encode/parse/validate: golden examples, round trips and malformed input."""
import json
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kino_addon.protocol import MAX_BUFFER_BYTES, MAX_ENVELOPE_BYTES
from kino_addon.protocol.envelope import (Message, buffer_spec, check_buffer_spec, decode_envelope,
                                          encode_envelope, validate_envelope)
from kino_addon.protocol.errors import BAD_MESSAGE, PROTOCOL_VERSION, WIRE_CODES, ProtocolError

GOLDEN = pathlib.Path(__file__).parent / "golden"
# Body keys every message of a type must carry (contract §2).
REQUIRED_BODY = {
    ("request", "session.hello"): {"protocol", "client"},
    ("response", "session.hello"): {"protocol", "backend", "devices", "looks", "stages"},
    ("request", "job.submit"): {"workflow", "frames", "options"},
    ("response", "job.submit"): {"job_id", "queue_position"},
    ("request", "job.input"): {"job_id", "frame"},
    ("request", "job.cancel"): {"job_id"},
    ("response", "job.cancel"): {"ok"},
    ("response", "backend.status"): {"jobs", "devices", "models_loaded"},
    ("response", "session.shutdown"): {"ok"},
    ("response", "face.find"): {"region", "score", "found_in", "count", "size"},
    ("event", "job.progress"): {"job_id", "frame", "frames_total", "step", "steps_total", "stage"},
    ("event", "job.frame"): {"job_id", "frame"},
    ("event", "job.done"): {"job_id", "status", "frames_done", "provenance"},
}


def golden_files():
    files = sorted(GOLDEN.glob("*.json"))
    assert len(files) >= 17
    return files


@pytest.mark.parametrize("path", golden_files(), ids=lambda p: p.stem)
def test_golden_messages_parse_and_round_trip(path):
    raw = path.read_bytes()
    env, specs = decode_envelope(raw)
    msg = validate_envelope(env)
    assert path.stem.startswith(msg.type) or path.stem.startswith("error.")
    for spec in specs:
        assert check_buffer_spec(spec) is None
    if msg.error is None:
        assert REQUIRED_BODY.get((msg.kind, msg.type), set()) <= set(msg.body)
    else:
        assert msg.error["code"] in WIRE_CODES and msg.re
    msg.buffers = [(s, b"\0" * s["nbytes"]) for s in specs]
    again = json.loads(encode_envelope(msg))
    assert again == json.loads(raw)


def test_job_done_error_carries_frame_and_stage():
    env, _ = decode_envelope((GOLDEN / "job.done.event.json").read_bytes())
    err = env["body"]["error"]
    assert set(err) >= {"code", "message", "type", "traceback", "frame", "stage"}


ids = st.text(alphabet="abcdefghij0123456789-", min_size=1, max_size=40)
types = st.from_regex(r"\A[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){1,2}\Z")
json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=20),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                           max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from(["request", "response", "event"]), mtype=types, mid=ids,
       re=st.none() | ids, body=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
       shapes=st.lists(st.tuples(st.integers(1, 9), st.integers(1, 9), st.sampled_from([1, 3, 4])), max_size=3))
def test_round_trip(kind, mtype, mid, re, body, shapes):
    buffers = [(buffer_spec(f"b{i}", h * w * c, (h, w, c)), bytes(h * w * c)) for i, (h, w, c) in enumerate(shapes)]
    msg = Message(kind=kind, type=mtype, id=mid, re=re, body=body, buffers=buffers)
    env, specs = decode_envelope(encode_envelope(msg))
    back = validate_envelope(env)
    assert (back.kind, back.type, back.id, back.re, back.body) == (kind, mtype, mid, re, body)
    assert specs == [s for s, _ in buffers]


def envelope(**changes):
    env = {"v": 1, "id": "c1", "kind": "request", "type": "job.cancel", "re": None, "body": {}, "error": None,
           "buffers": []}
    env.update(changes)
    return env


@pytest.mark.parametrize("changes, fragment", [
    ({"id": ""}, "'id'"), ({"id": 5}, "'id'"), ({"kind": "shout"}, "'kind'"), ({"type": "JobSubmit"}, "'type'"),
    ({"type": "job"}, "'type'"), ({"re": 3}, "'re'"), ({"body": []}, "'body'"), ({"error": "bad"}, "'error'"),
    ({"error": {"code": 1}}, "'error'"),
])
def test_bad_fields_are_answerable_errors(changes, fragment):
    with pytest.raises(ProtocolError) as info:
        validate_envelope(envelope(**changes))
    assert not info.value.fatal and info.value.code == BAD_MESSAGE and fragment in info.value.message
    if isinstance(changes.get("id", "c1"), str) and changes.get("id", "c1"):
        assert info.value.re == "c1"  # the error response can name the request


def test_wrong_envelope_version_is_a_protocol_version_error():
    with pytest.raises(ProtocolError) as info:
        validate_envelope(envelope(v=2))
    assert info.value.code == PROTOCOL_VERSION


def test_unknown_fields_are_ignored():
    msg = validate_envelope(envelope(extra={"x": 1}, body={"job_id": "j", "future": True}))
    assert msg.body == {"job_id": "j", "future": True}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_parser(raw):
    try:
        env, specs = decode_envelope(raw)
        validate_envelope(env)
    except ProtocolError:
        pass


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"buffers": 3}',
                                 json.dumps({"buffers": [{}] * 65}).encode()])
def test_undecidable_envelopes_are_fatal(raw):
    with pytest.raises(ProtocolError) as info:
        decode_envelope(raw)
    assert info.value.fatal


@pytest.mark.parametrize("spec, fragment", [
    ({"name": "a", "nbytes": 11, "dtype": "uint8", "shape": [2, 2, 3], "encoding": "raw"}, "needs nbytes 12"),
    ({"name": "a", "nbytes": 12, "dtype": "float32", "shape": [2, 2, 3], "encoding": "raw"}, "dtype"),
    ({"name": "a", "nbytes": 12, "dtype": "uint8", "shape": [2, 2, 3], "encoding": "jpeg"}, "encoding"),
    ({"name": "a", "nbytes": 0, "dtype": "uint8", "shape": [2, 2, 3], "encoding": "raw"}, "nbytes"),
    ({"name": "a", "nbytes": MAX_BUFFER_BYTES + 1, "dtype": "uint8", "shape": [1], "encoding": "png"}, "nbytes"),
    ({"name": "a", "nbytes": 12, "dtype": "uint8", "shape": [2, -2, 3], "encoding": "raw"}, "shape"),
    ({"name": 3, "nbytes": 12, "dtype": "uint8", "shape": [2, 2, 3], "encoding": "raw"}, "name"),
])
def test_bad_buffer_declarations(spec, fragment):
    assert fragment in check_buffer_spec(spec)


def test_png_buffers_declare_their_own_size():
    assert check_buffer_spec({"name": "a", "nbytes": 77, "dtype": "uint8", "shape": [2, 2, 3], "encoding": "png"}) is None


def test_oversized_envelope_is_refused_on_send():
    msg = Message(kind="event", type="job.progress", body={"x": "a" * MAX_ENVELOPE_BYTES})
    with pytest.raises(ValueError, match="cap"):
        encode_envelope(msg)
