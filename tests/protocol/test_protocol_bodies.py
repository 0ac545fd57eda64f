"""Typed request bodies (kino_addon/protocol/bodies.py): to_body/from_body round trips, the wire bytes of
the golden messages, and one clear INVALID_PARAMS per bad field."""
import json
import math
import pathlib

import pytest

from kino_addon.protocol.bodies import MAX_FRAMES, MAX_SIDE, BodyError, FaceFind, FrameSpec, JobSubmit
from kino_addon.protocol.envelope import decode_envelope
from kino_addon.protocol.errors import INVALID_PARAMS, BackendError

GOLDEN = pathlib.Path(__file__).parent / "golden"
WORKFLOW = {"version": 1, "look": "toon", "stages": [{"name": "toon", "enabled": True, "params": {"lines": 0.7}}]}


def golden_body(name):
    env, _ = decode_envelope((GOLDEN / name).read_bytes())
    return env["body"]


def test_golden_job_submit_round_trips_byte_for_byte():
    body = golden_body("job.submit.request.json")
    submit = JobSubmit.from_body(body)
    assert submit.frames == FrameSpec(count=2, width=4, height=2) and submit.seed == 7
    assert json.dumps(submit.to_body()) == json.dumps(body)  # same keys, same order, same values
    built = JobSubmit(body["workflow"], FrameSpec(2, 4, 2), {"seed": 7})  # what BackendClient.submit_job builds
    assert json.dumps(built.to_body()) == json.dumps(body)


def test_golden_face_find_round_trips():
    body = golden_body("face.find.request.json")
    assert FaceFind.from_body(body) == FaceFind(0.5) and FaceFind(0.5).to_body() == body
    assert FaceFind.from_body({}) == FaceFind() and FaceFind().to_body() == {}  # the add-on's request


@pytest.mark.parametrize("submit", [
    JobSubmit(WORKFLOW, FrameSpec(1, 1, 1)),
    JobSubmit(WORKFLOW, FrameSpec(MAX_FRAMES, MAX_SIDE, MAX_SIDE), {"seed": 2**63 - 1, "device": "cuda",
                                                                      "models_dir": "/m", "cluster": ""}),
    JobSubmit(None, FrameSpec(6, 1920, 1080), {"resume_state": {"frame": 3}, "checkpoints": 2}),
])
def test_job_submit_round_trip(submit):
    again = JobSubmit.from_body(json.loads(json.dumps(submit.to_body())))
    assert again == submit and again.to_body() == submit.to_body()


def test_job_submit_accessors():
    submit = JobSubmit(WORKFLOW, FrameSpec(3, 8, 4), {"seed": 5, "resume_state": {"a": 1}, "cluster": "h:1"})
    assert (submit.seed, submit.resume_state, submit.cluster) == (5, {"a": 1}, "h:1")
    assert submit.job_options() == {"seed": 5, "cluster": "h:1"}
    fresh = JobSubmit.from_body({"workflow": WORKFLOW, "frames": {"count": 1, "width": 2, "height": 2}})
    assert (fresh.seed, fresh.resume_state, fresh.cluster, fresh.options) == (0, None, None, {})
    assert fresh.frames.first == 1
    for empty in (None, {}, [], 0, ""):  # an empty value means no options, as before
        assert JobSubmit.from_body({"frames": {"count": 1, "width": 2, "height": 2}, "options": empty}).options == {}


def _submit(frames=None, options=None):
    body = {"workflow": WORKFLOW, "frames": {"count": 2, "first": 1, "width": 8, "height": 4}, "options": {}}
    if frames is not None:
        body["frames"] = frames if not isinstance(frames, dict) else {**body["frames"], **frames}
    if options is not None:
        body["options"] = options
    return body


BAD_SUBMITS = [
    (_submit(frames=[2, 8, 4]), "frames", "frames must be {count, first: 1, width, height}"),
    ({"workflow": WORKFLOW}, "frames", "frames must be {count, first: 1, width, height}"),
    (_submit(frames={"count": 0}), "frames.count", "frames.count must be an integer in 1..10000000, got 0"),
    (_submit(frames={"count": MAX_FRAMES + 1}), "frames.count", "frames.count must be an integer in 1..10000000"),
    (_submit(frames={"count": "2"}), "frames.count", "frames.count must be an integer in 1..10000000, got '2'"),
    (_submit(frames={"count": True}), "frames.count", "frames.count must be an integer in 1..10000000, got True"),
    (_submit(frames={"width": 2.0}), "frames.width", "frames.width must be an integer in 1..16384, got 2.0"),
    (_submit(frames={"width": MAX_SIDE + 1}), "frames.width", "frames.width must be an integer in 1..16384"),
    (_submit(frames={"height": None}), "frames.height", "frames.height must be an integer in 1..16384, got None"),
    (_submit(frames={"height": -4}), "frames.height", "frames.height must be an integer in 1..16384, got -4"),
    (_submit(frames={"first": 5}), "frames.first", "frames.first must be 1"),
    (_submit(frames={"first": True}), "frames.first", "frames.first must be 1"),
    (_submit(options=[1]), "options", "options must be an object"),
    (_submit(options="fast"), "options", "options must be an object"),
    (_submit(options={"seed": -1}), "options.seed", "options.seed must be an integer in 0..9223372036854775807"),
    (_submit(options={"seed": 2**63}), "options.seed", "options.seed must be an integer in 0..9223372036854775807"),
    (_submit(options={"seed": None}), "options.seed", "options.seed must be an integer"),
    (_submit(options={"seed": 1.5}), "options.seed", "options.seed must be an integer"),
    (_submit(options={"device": 3}), "options.device", "options.device must be a text (a name or path), got 3"),
    (_submit(options={"models_dir": "/a\0b"}), "options.models_dir", "options.models_dir must be a text"),
]


@pytest.mark.parametrize("body,field,message", BAD_SUBMITS, ids=lambda v: v if isinstance(v, str) else "")
def test_each_bad_job_submit_field_is_named(body, field, message):
    with pytest.raises(BodyError) as info:
        JobSubmit.from_body(body)
    err = info.value
    assert isinstance(err, BackendError) and err.code == INVALID_PARAMS
    assert err.message.startswith(message), err.message
    assert list(err.details["fields"]) == [field]
    wire = err.to_wire()  # what the backend answers: the same code, message and fields
    assert wire["code"] == INVALID_PARAMS and wire["message"] == err.message
    assert wire["details"] == {"fields": err.details["fields"]}


def test_a_long_bad_value_is_quoted_short():
    with pytest.raises(BodyError) as info:
        JobSubmit.from_body(_submit(options={"device": ["x" * 5000]}))
    assert len(info.value.message) < 200


@pytest.mark.parametrize("value", [0.0, 0.04, 1.0, 2, float("nan"), float("inf"), "high", True, None, [0.5]])
def test_bad_min_confidence_is_named(value):
    with pytest.raises(BodyError) as info:
        FaceFind.from_body({"min_confidence": value})
    err = info.value
    assert err.code == INVALID_PARAMS and "face.find.min_confidence must be a number in 0.05..0.99" in err.message
    assert err.details == {"fields": {"face.find.min_confidence": "must be in 0.05..0.99"}}


@pytest.mark.parametrize("value", [0.05, 0.5, 0.99])
def test_min_confidence_round_trip(value):
    request = FaceFind.from_body({"min_confidence": value})
    assert request.min_confidence == value and not math.isnan(request.min_confidence)
    assert FaceFind.from_body(request.to_body()) == request
