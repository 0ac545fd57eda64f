"""face.find over the socket: a real backend subprocess finds the face in frames it is sent (the same
code as ``python -m kino_backend find_face``), says clearly when there is none, and refuses frames it
cannot use before reading them."""
import os
import pathlib

import numpy as np
import pytest

from kino_addon.protocol import messages
from kino_addon.protocol.envelope import buffer_spec
from kino_addon.protocol.errors import BAD_MESSAGE, INVALID_PARAMS, NO_FACE, BackendError

pytestmark = pytest.mark.timeout(180)
REPO = pathlib.Path(__file__).resolve().parents[2]
FOOTAGE = os.environ.get("KINO_FOOTAGE") or str(REPO.parent / "shared" / "footage")


def talking_head():
    path = os.path.join(FOOTAGE, "talking_head.mp4")
    if not os.path.exists(path):
        pytest.skip(f"real footage not found at {path} (../shared/footage or KINO_FOOTAGE); this test needs it")
    return path


def frames_buffers(frames):
    return [(buffer_spec(f"frame_{i + 1}", f.nbytes, f.shape), np.ascontiguousarray(f)) for i, f in enumerate(frames)]


def texture(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def ramp(h, w, top=200):
    """A smooth ramp: nothing a face detector could take for a face."""
    return np.ascontiguousarray(np.broadcast_to(np.linspace(40, top, w, dtype=np.uint8)[None, :, None], (h, w, 3)))


def test_face_find_answers_what_the_command_finds_on_a_real_talking_head(client):
    from kino_backend.commands.find_face import find_face
    from kino_backend.stabilize_metrics import read_frames
    path = talking_head()
    frames = read_frames(path, limit=3)
    body, buffers = client.request(messages.FACE_FIND, {}, frames_buffers(frames), timeout=120)
    assert buffers == []
    assert body["count"] == 3 and body["found_in"] == 3 and body["size"] == [512, 512]
    assert body["region"] == find_face(path, 1, 3)["region"]  # one detection code, same frames: same box
    x, y, w, h = body["region"]
    assert 80 < w < 400 and 80 < h < 400 and x < 256 < x + w and y < 300 < y + h
    assert 0.5 <= body["score"] <= 1.0
    # half-size frames: the box in their pixels is half the box (within the detector's jitter)
    half = [f[::2, ::2] for f in frames]
    small, _ = client.request(messages.FACE_FIND, {}, frames_buffers(half), timeout=120)
    assert small["size"] == [256, 256]
    assert np.abs(np.array(small["region"]) * 2 - np.array(body["region"])).max() < 6


def test_no_face_is_a_clear_error_and_the_connection_goes_on(client):
    with pytest.raises(BackendError) as err:
        client.request(messages.FACE_FIND, {}, frames_buffers([ramp(96, 128), ramp(96, 128, 250)]), timeout=120)
    assert err.value.code == NO_FACE
    assert "no face found in 2 frames" in err.value.message and "--track-region X,Y,W,H" in err.value.message
    assert client.status()["backend"].startswith("kino/")


@pytest.mark.parametrize("frames, body, code, says", [
    ([], {}, BAD_MESSAGE, "it got none"),
    ([texture(8, 8)] * 17, {}, BAD_MESSAGE, "16 buffers, got 17"),
    ([texture(8, 8), texture(8, 9)], {}, BAD_MESSAGE, "one size"),
    ([np.zeros((8, 8, 4), np.uint8)], {}, BAD_MESSAGE, "[height, width, 3]"),
    ([np.zeros((4097, 2, 3), np.uint8)], {}, BAD_MESSAGE, "downscale"),
    ([texture(8, 8)], {"min_confidence": 2}, INVALID_PARAMS, "0.05..0.99"),
    ([texture(8, 8)], {"min_confidence": "high"}, INVALID_PARAMS, "0.05..0.99"),
], ids=["none", "too-many", "sizes-differ", "rgba", "too-large", "confidence-high", "confidence-text"])
def test_frames_it_cannot_use_are_refused(client, frames, body, code, says):
    with pytest.raises(BackendError) as err:
        client.request(messages.FACE_FIND, body, frames_buffers(frames), timeout=60)
    assert err.value.code == code and says in err.value.message, err.value.message
    assert client.status()["connections"] >= 1  # still connected: the next request is answered


def test_a_png_frame_is_refused_unread(client):
    spec = buffer_spec("frame_1", 100, (8, 8, 3), encoding="png")
    with pytest.raises(BackendError) as err:
        client.request(messages.FACE_FIND, {}, [(spec, b"\0" * 100)], timeout=60)
    assert err.value.code == BAD_MESSAGE and "raw 8-bit RGB" in err.value.message


def test_the_golden_request_is_what_the_backend_admits():
    from kino_addon.protocol.envelope import decode_envelope, validate_envelope
    from kino_backend.serving import admission, faces
    env, specs = decode_envelope((REPO / "tests" / "protocol" / "golden" / "face.find.request.json").read_bytes())
    msg = validate_envelope(env)
    assert msg.type == messages.FACE_FIND and messages.FACE_FIND in messages.REQUESTS
    assert 1 <= len(specs) <= admission.BUFFER_LIMITS[messages.FACE_FIND] == faces.MAX_FRAMES
    assert faces.buffers_problem(specs) is None and faces.min_confidence(msg.body) == 0.5
    frames = faces.frames_of([(s, bytes(range(s["nbytes"]))) for s in specs])
    assert frames[0].shape == (2, 4, 3) and frames[0][1, 3, 2] == 23  # row-major [height, width, rgb]


def test_with_two_people_one_face_is_followed_not_the_space_between():
    """Two people side by side, each facing the camera in two of four frames: the median of everyone's
    boxes lay between them, on neither face. The groups are people; the box is on one face."""
    from kino_backend.face_region import actor_boxes, face_region
    from kino_backend.stabilize_metrics import read_frames
    face = read_frames(talking_head(), limit=1)[0]
    blank = np.full_like(face, 90)
    frames = [np.concatenate([face, blank], axis=1)] * 2 + [np.concatenate([blank, face], axis=1)] * 2
    found = face_region(frames)
    x, y, w, h = found["region"]
    assert found["people"] == 2 and found["found_in"] == 2
    assert x + w <= 512 or x >= 512, found["region"]  # within one half: one person's face
    # pure logic: the person seen in more frames wins; one box per person and frame
    left, right = (10, 10, 50, 50, 0.9), (300, 10, 50, 50, 0.95)
    boxes, people = actor_boxes([[left, right], [left], [left, right], []])
    assert people == 2 and boxes == [left, left, left]
    assert actor_boxes([[], []]) == ([], 0)
