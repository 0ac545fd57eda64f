"""The temporal stage: strength 0 is a pass-through, it lowers flicker on real footage, never blends
across hard cuts, keyframe mode's counts and alignment, deflicker, provenance."""
from __future__ import annotations

import json

import numpy as np
import pytest

from kino_backend.metrics.warp_error import warping_error
from kino_backend.stages import get_stage
from kino_backend.stages.base import JobContext, ParamError, StageError

from .conftest import FlickerLook, IdentityLook, panning_clip, run_stage, small_clip


def test_stage_is_registered_as_schedule_with_params():
    stage = get_stage("temporal")
    assert stage.role == "schedule"
    names = {p["name"] for p in stage.spec()["params"]}
    assert {"strength", "keyframe_interval", "keyframes", "deflicker", "cut_threshold", "flow",
            "raft_weights"} <= names
    with pytest.raises(ParamError):
        stage.validate({"strength": 1.5})
    with pytest.raises(ParamError):
        stage.validate({"keyframe_interval": 51})
    with pytest.raises(ParamError):
        stage.validate({"flow": "farneback"})


def test_strength_zero_passes_the_look_through_unchanged():
    clip = panning_clip(6)
    look = FlickerLook()
    out, prov, frames = run_stage(clip, look, strength=0.0)
    direct = FlickerLook()
    for i, (o, f) in enumerate(zip(out, frames)):
        assert np.array_equal(o, direct.stylize(f.replace(image=clip[i])))
    assert look.calls == [1, 2, 3, 4, 5, 6] and not any(look.inits)
    assert prov["frames_stylized"] == 6 and prov["mode"] == "per-frame"
    assert all("temporal_source" not in f.meta for f in frames)


def test_temporal_lowers_warping_error_on_real_clip():
    clip = small_clip("handheld_park.mp4", count=8, width=128)
    per_frame = [FlickerLook().stylize(f) for f in run_stage(clip, IdentityLook(), strength=0.0)[2]]
    look = FlickerLook()
    out, prov, _ = run_stage(clip, look)
    assert look.calls == list(range(1, 9)) and look.inits[1:] == [True] * 7  # init offered after frame 1
    src_we = warping_error(clip)[0]
    pf_we = warping_error(per_frame, clip)[0]
    tmp_we = warping_error(out, clip)[0]
    assert tmp_we < 0.4 * pf_we, (tmp_we, pf_we, src_we)
    mad = np.mean([np.abs(a.astype(float) - b).mean() for a, b in zip(out, per_frame)])
    assert mad < 30  # still the look, not a frozen first frame
    assert prov["cuts"] == []


def _cut_clip():
    red = panning_clip(5, dx=2.0, seed=1, colour=(1.0, 0.15, 0.1))
    blue = panning_clip(5, dx=-1.5, seed=2, colour=(0.1, 0.3, 1.0))
    return red + blue


@pytest.mark.parametrize("params", [{"strength": 1.0}, {"strength": 1.0, "keyframe_interval": 4}],
                         ids=["per-frame", "keyframes"])
def test_hard_cut_is_never_blended_across(params):
    clip = _cut_clip()
    out, prov, _ = run_stage(clip, IdentityLook(), **params)
    assert prov["cuts"] == [6]
    for o, s in zip(out[5:], clip[5:]):
        redness = o[..., 0].astype(int) - o[..., 2].astype(int)
        assert redness.max() <= 0, "red from before the cut leaked into the new shot"
        assert np.abs(o.astype(int) - s).mean() < 3
    assert out[4][..., 0].mean() > 2 * out[4][..., 2].mean()  # the old shot is still red
    if "keyframe_interval" in params:
        assert 6 in prov["keyframes"]


def test_keyframe_mode_counts_and_alignment():
    clip = panning_clip(12, dx=2.0, seed=4)
    look = IdentityLook()
    out, prov, frames = run_stage(clip, look, keyframe_interval=4, strength=0.0, keyframe_smoothing=0.0)
    # keyframes every 4th frame; the 3-frame tail (10..12) is long enough (>= K/2) for 12 to be one
    assert prov["keyframes"] == [1, 5, 9, 12] and look.calls == [1, 5, 9, 12]
    assert prov["frames_stylized"] == 4 and prov["fallback_frames"] == []
    assert [f.index for f in frames] == list(range(1, 13))
    assert [bool(f.meta.get("keyframe")) for f in frames] == [i in (1, 5, 9, 12) for i in range(1, 13)]
    inner = (slice(8, -8), slice(12, -12))
    for i, o in enumerate(out):  # propagated frame i matches source frame i, not its neighbours
        errs = [np.abs(o[inner].astype(float) - clip[j][inner]).mean() if 0 <= j < 12 else np.inf
                for j in (i - 1, i, i + 1)]
        assert errs[1] < 3.0 and errs[1] < 0.5 * min(errs[0], errs[2]), (i, errs)


def test_keyframes_by_motion_follow_the_motion():
    still = [panning_clip(1, seed=5)[0]] * 12
    _, prov, _ = run_stage(still, IdentityLook(), keyframes="motion", keyframe_interval=0)
    assert prov["keyframes"] == [1, 12] and prov["mode"] == "keyframes-motion"
    clip = panning_clip(12, dx=6.0, seed=5)  # fast pan: the view leaves the first keyframe quickly
    _, prov, _ = run_stage(clip, IdentityLook(), keyframes="motion", keyframe_interval=0, motion_threshold=0.1)
    assert 3 <= len(prov["keyframes"]) < 12


def test_deflicker_removes_brightness_flicker_but_keeps_real_light_changes():
    base = panning_clip(10, dx=1.0, seed=6)
    ramp = [np.clip(f.astype(np.float32) * (0.7 + 0.05 * i), 0, 255).astype(np.uint8) for i, f in enumerate(base)]

    class PumpingLook(IdentityLook):
        def stylize(self, frame, init=None, init_strength=None):
            super().stylize(frame)
            return np.clip(frame.image.astype(np.int16) + (25 if frame.index % 2 else -25), 0, 255).astype(np.uint8)

    plain, _, _ = run_stage(ramp, PumpingLook(), strength=0.0)
    steady, prov, _ = run_stage(ramp, PumpingLook(), strength=0.0, deflicker=True)
    src_means = np.array([f.mean() for f in ramp])
    jitter = lambda seq: np.abs(np.diff(np.array([f.mean() for f in seq]) - src_means)).mean()
    assert jitter(plain) > 40 and jitter(steady) < 0.35 * jitter(plain)
    # the light ramp survives (once the causal smoothing has settled from the first frame's offset)
    trend = np.polyfit(np.arange(4, 10), [f.mean() for f in steady[4:]], 1)[0]
    assert trend == pytest.approx(np.polyfit(np.arange(4, 10), src_means[4:], 1)[0], rel=0.25)
    assert prov["deflicker"] is True


def test_provenance_records_what_was_done():
    clip = _cut_clip()
    _, prov, _ = run_stage(clip, IdentityLook(), keyframe_interval=3)
    assert prov["mode"] == "keyframes-interval" and prov["frames"] == 10 and prov["flow"] == "dis"
    assert prov["cuts"] == [6] and prov["keyframes"][0] == 1 and 6 in prov["keyframes"]
    assert prov["frames_stylized"] == len(prov["keyframes"]) + len(prov["fallback_frames"])
    json.dumps(prov)


def test_raft_without_torchvision_says_how_to_fix(tmp_path):
    pytest.importorskip("torch")
    try:
        import torchvision  # noqa: F401
        pytest.skip("torchvision is installed here; this checks the message when it is missing")
    except ImportError:
        pass
    weights = tmp_path / "raft.pth"
    weights.write_bytes(b"x")
    stage = get_stage("temporal")
    ctx = JobContext(job_id="t", frames_total=2, width=8, height=8)
    with pytest.raises(StageError) as info:
        stage.open(stage.validate({"flow": "raft", "raft_weights": str(weights)}), ctx)
    assert info.value.code == "MODEL_MISSING" and "torchvision" in info.value.message
    with pytest.raises(StageError, match="raft_weights"):
        stage.open(stage.validate({"flow": "raft"}), ctx)



def test_clip_figure_matches_the_metric_and_shows_the_improvement():
    """The figure the panel shows: the stage's own warping error of its output equals the library
    metric run afterwards on the same frames (flow from the source), and is below the per-frame look's."""
    clip = small_clip("handheld_park.mp4", count=6, width=96)
    out, prov, _ = run_stage(clip, FlickerLook(), strength=0.9)
    fig = prov["figure"]
    assert fig["pairs"] == len(clip) - 1 - len(prov["cuts"])
    assert fig["warp_error"] == pytest.approx(warping_error(out, clip)[0], rel=1e-3)
    assert fig["source_warp_error"] == pytest.approx(warping_error(clip, clip)[0], rel=1e-3)
    plain, prov0, _ = run_stage(clip, FlickerLook(), strength=0.0)
    assert prov0["figure"]["warp_error"] == pytest.approx(warping_error(plain, clip)[0], rel=1e-3)
    assert fig["warp_error"] < 0.6 * prov0["figure"]["warp_error"]
