"""Resume in-process: a pipeline stopped after frame k and resumed from its checkpoint (sent through the
wire codec) gives exactly the frames of the uninterrupted run, with the temporal stage in every mode,
deflicker, and the keyer's matte smoothing; a stage without a clean point yields no checkpoint."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from kino_backend import checkpoint as ck
from kino_backend.stages.base import Frame, JobContext
from kino_backend.workflow import Pipeline, validate_workflow

FOOTAGE = os.environ.get("KINO_FOOTAGE") or os.path.normpath(
    os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "footage"))  # KINO_FOOTAGE: elsewhere


def clip(name: str, count: int, width: int = 112) -> list:
    path = os.path.join(FOOTAGE, name)
    if not os.path.exists(path):
        pytest.skip(f"real footage not found at {path} (../shared/footage is absent)")
    from kino_backend.metrics.frames import load_clip
    frames = load_clip(path, count=count)
    h, w = frames[0].shape[:2]
    size = (width, int(round(h * width / w / 2)) * 2)
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]


def workflow(look: str, *, temporal: dict | None, key: dict | None = None, stabilize: bool = False) -> dict:
    stages = [{"name": "stabilize", "enabled": True, "params": {}}] if stabilize else []
    stages += [{"name": "key", "enabled": True, "params": key}] if key is not None else []
    stages.append({"name": look, "enabled": True, "params": {}})
    if temporal is not None:
        stages.append({"name": "temporal", "enabled": True, "params": temporal})
    return {"version": 1, "look": look, "stages": stages}


def shake(count: int, w: int, h: int) -> list:
    """Stabilizing matrices of a hand-held shot (a few px and a degree per frame)."""
    from kino_backend.stabilize_metrics import shake_matrices
    return shake_matrices(count, w, h, shift_px=5.0, degrees=1.0, seed=3).tolist()


def run(flow: dict, frames: list, first: int = 1, resume=None, stop_after=None):
    """Output images (and checkpoints as (desc, buffers) after each output frame, by output number)."""
    wf = validate_workflow(flow)
    h, w = frames[0].shape[:2]
    options = {}
    if any(st["name"] == "stabilize" for st in flow["stages"]):  # the job's frames only, as on resume
        options["stabilize"] = {"matrices": shake(len(frames), w, h)[first - 1:]}
    ctx = JobContext(job_id="r", frames_total=len(frames) - first + 1, width=w, height=h, options=options)
    outs, checkpoints = [], {}
    with Pipeline(wf, ctx) as pipe:
        if resume is not None:
            pipe.restore(ck.decode(*resume))
        src = (Frame(i + 1, f, f.copy()) for i, f in enumerate(frames[first - 1:]))
        for out in pipe.run(src):
            number = out.index + first - 1
            outs.append((number, out.image.copy(), None if out.matte is None else out.matte.copy()))
            states = pipe.checkpoint()
            if states is not None:
                desc, buffers = ck.encode(states)
                checkpoints[number] = (desc, [(spec, bytes(data)) for spec, data in buffers])
            if stop_after is not None and number >= stop_after:
                break
    return outs, checkpoints


CASES = {
    "stabilize+per-frame": ("toon", {}, None, "handheld_seattle.avi"),
    # frames wider than the flicker figure's 480 px: it keeps the expanded canvas at its own aspect ratio
    "stabilize+per-frame, figure smaller than the canvas": ("toon", {}, None, "runner_tracking_shot.mp4", 560),
    "per-frame": ("toon", {}, None, "handheld_park.mp4"),
    "per-frame, flow at a working size": ("toon", {"flow_resolution": 64}, None, "handheld_park.mp4"),
    "per-frame+deflicker": ("watercolor", {"deflicker": True}, None, "handheld_park.mp4"),
    "keyframes": ("toon", {"keyframe_interval": 4}, None, "handheld_park.mp4"),
    "keyframes-motion": ("paint", {"keyframes": "motion", "keyframe_interval": 5}, None, "handheld_park.mp4"),
    "key+temporal": ("toon", {}, {"key_color": "auto"}, "greenscreen_actor.mp4"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_resumed_equals_uninterrupted(case):
    look, temporal, key, name, *width = CASES[case]
    frames = clip(name, 13, *width)
    flow = workflow(look, temporal=temporal, key=key, stabilize=case.startswith("stabilize"))
    full, checkpoints = run(flow, frames)
    assert len(full) == 13 and checkpoints, "no checkpoint at all"
    if "keyframes" in case:  # only after a keyframe: the frames between depend on the next one
        assert len(checkpoints) < 13
    tried = 0
    for stop in (3, 6, 10):
        at = max(c for c in checkpoints if c <= stop)  # the latest checkpoint a crash after `stop` leaves
        outs, _ = run(flow, frames, first=at + 1, resume=checkpoints[at])
        assert [n for n, _, _ in outs] == list(range(at + 1, 14))
        for (n, image, matte), (m, ref, ref_matte) in zip(outs, full[at:]):
            assert n == m
            diff = np.abs(image.astype(int) - ref).max()
            assert diff <= 1, f"{case}: frame {n} after resuming from {at} differs by {diff}"
            if matte is not None:
                assert np.abs(matte - ref_matte).max() <= 1 / 255
        tried += 1
    assert tried == 3


def test_without_the_state_the_join_differs():
    """The check above can fail: resuming the temporal stage without its state gives other frames."""
    frames = clip("handheld_park.mp4", 8)
    flow = workflow("toon", temporal={})
    full, _ = run(flow, frames)
    fresh, _ = run(flow, frames, first=5)
    assert np.abs(fresh[0][1].astype(int) - full[4][1]).max() > 1


def test_no_checkpoint_without_a_clean_point():
    frames = clip("handheld_park.mp4", 6)
    _, checkpoints = run(workflow("toon", temporal={"keyframe_interval": 4}), frames)
    assert sorted(checkpoints) in ([1, 5], [1, 5, 6])  # keyframes; never 2-4 (they wait for frame 5)


def test_no_checkpoint_while_a_stage_holds_frames_after_a_stateful_one():
    """key (state: matte history) before stabilize (holds look-ahead frames to fill borders): the key has
    already seen frames that have not left the pipeline, so no checkpoint until the end; a resume then
    starts again from the first frame (exact, not faster)."""
    frames = clip("greenscreen_actor.mp4", 12)
    flow = workflow("toon", temporal={}, key={"key_color": "auto"})
    flow["stages"].insert(1, {"name": "stabilize", "enabled": True, "params": {"fill_lookahead": 4}})
    _, checkpoints = run(flow, frames)
    assert checkpoints and min(checkpoints) == 12


def test_codec_rejects_broken_states():
    states = {"temporal": {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "n": 3, "b": None}}
    desc, buffers = ck.encode(states)
    back = ck.decode(desc, buffers)
    assert np.array_equal(back["temporal"]["a"], states["temporal"]["a"]) and back["temporal"]["n"] == 3
    with pytest.raises(ck.CheckpointError):
        ck.decode(desc, [(buffers[0][0], buffers[0][1][:-4])])
    with pytest.raises(ck.CheckpointError):
        ck.decode(dict(desc, version=99), buffers)
    bad = dict(desc, arrays={"temporal/a": {"dtype": "object", "shape": [2]}})
    with pytest.raises(ck.CheckpointError):
        ck.decode(bad, buffers)
