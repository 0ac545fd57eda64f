"""temporal.hold (animation on twos/threes, aligned to the clip's frame numbers, restarting at cuts,
with every look) and temporal.interpolate (render fewer frames, make the rest along the motion)."""
from __future__ import annotations

import numpy as np
import pytest

from kino_backend.presets import builtin_presets, workflow_for_look
from kino_backend.stages import get_stage
from kino_backend.stages.base import StageError
from kino_backend.workflow import validate_workflow

from .conftest import keyframes_workflow, pan_clip, psnr, run_workflow, write_keyframes


def look_workflow(look: str, **temporal) -> dict:
    wf = workflow_for_look(look)
    for st in wf["stages"]:
        if st["name"] == "temporal":
            st["params"].update(temporal)
    return wf


def groups(frames) -> list:
    """Runs of identical consecutive images, as lists of frame indices."""
    out = [[frames[0].index]]
    for a, b in zip(frames[:-1], frames[1:]):
        if np.array_equal(a.image, b.image):
            out[-1].append(b.index)
        else:
            out.append([b.index])
    return out


def test_hold_two_gives_frames_one_two_three_four_identical():
    clip = pan_clip(9, dx=3.0)
    out, prov = run_workflow(look_workflow("toon", hold=2), clip)
    assert groups(out) == [[1, 2], [3, 4], [5, 6], [7, 8], [9]]
    assert prov["temporal"]["frames_stylized"] == 5 and prov["temporal"]["rendered_frames"] == 5
    assert prov["temporal"]["hold"] == 2 and prov["temporal"]["frames"] == 9
    assert all(f.meta.get("held") == f.index - 1 for f in out if f.index % 2 == 0)


def test_holds_follow_the_clip_frame_numbers_not_the_job():
    clip = pan_clip(10, dx=3.0)[1:]  # the job is clip frames 2..10 (--frames 2:10)
    out, _ = run_workflow(look_workflow("toon", hold=3), clip, {"clip_frames": {"first": 2, "count": 10}})
    # clip frames 1-3, 4-6, 7-9, 10: job frames (1, 2), (3, 4, 5), (6, 7, 8), (9)
    assert groups(out) == [[1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_a_hold_never_shows_the_previous_shot():
    clip = pan_clip(5, seed=1) + pan_clip(5, seed=2)
    out, prov = run_workflow(look_workflow("toon", hold=3), clip)
    assert groups(out) == [[1, 2, 3], [4, 5], [6], [7, 8, 9], [10]]
    assert 6 in prov["temporal"]["cuts"]


@pytest.mark.parametrize("look", ["toon", "paint", "pencil", "watercolor", "keyframes"])
def test_hold_works_with_every_look(look, tmp_path):
    clip = pan_clip(6, dx=3.0)
    if look == "keyframes":
        write_keyframes(tmp_path, clip, [1, 6])
        wf = keyframes_workflow(tmp_path, hold=2)
    else:
        wf = look_workflow(look, hold=2)
    out, _ = run_workflow(wf, clip)
    assert groups(out) == [[1, 2], [3, 4], [5, 6]]


def test_every_look_with_a_temporal_stage_accepts_hold_and_interpolate():
    looks = [name for name, p in builtin_presets()[0].items() if any(s["name"] == "temporal" for s in p["stages"])]
    assert {"toon", "paint", "diffusion", "keyframes"} <= set(looks)
    for look in looks:
        for key in ("hold", "interpolate"):
            wf = validate_workflow(look_workflow(look, **{key: 3}))
            assert next(s for s in wf.steps if s.name == "temporal").params[key] == 3


def test_interpolate_renders_fewer_frames_and_makes_the_rest_along_the_motion():
    clip = pan_clip(10, dx=2.0, dy=0.5)
    full, _ = run_workflow(look_workflow("toon", strength=0.0), clip)
    out, prov = run_workflow(look_workflow("toon", strength=0.0, interpolate=4), clip)
    t = prov["temporal"]
    assert t["frames_stylized"] == 4 and t["rendered_frames"] == 4 and t["made_frames"] == 6  # 1, 5, 9, 10
    for i in (1, 5, 9, 10):
        assert np.array_equal(out[i - 1].image, full[i - 1].image)
    made = [i for i in range(1, 11) if i not in (1, 5, 9, 10)]
    assert all(out[i - 1].meta.get("interpolated") for i in made)
    inner = (slice(6, -6), slice(6, -6))
    score = np.mean([psnr(out[i - 1].image[inner], full[i - 1].image[inner]) for i in made])
    held = np.mean([psnr(full[(i - 1) // 4 * 4].image[inner], full[i - 1].image[inner]) for i in made])
    assert score > 24.0 and score > held + 5.0, (score, held)


def test_hold_and_interpolate_together_is_refused():
    stage = get_stage("temporal")
    with pytest.raises(StageError) as exc:
        run_workflow(look_workflow("toon", hold=2, interpolate=2), pan_clip(3))
    assert exc.value.code == "INVALID_PARAMS" and "pick one" in exc.value.message
    assert {"hold", "interpolate"} <= {p["name"] for p in stage.spec()["params"]}
