"""The temporal stage inside the real workflow runner: a classic look's preset, and `none`."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from kino_backend.metrics.warp_error import warping_error
from kino_backend.stages.base import Frame, JobContext

from .conftest import small_clip

PRESETS = os.path.join(os.path.dirname(__file__), "..", "..", "backend", "kino_backend", "presets")


def _run(workflow: dict, clip):
    from kino_backend.workflow import Pipeline, validate_workflow

    wf = validate_workflow(workflow)
    h, w = clip[0].shape[:2]
    ctx = JobContext(job_id="wf", frames_total=len(clip), width=w, height=h)
    with Pipeline(wf, ctx) as pipe:
        out = list(pipe.run(iter([Frame(i + 1, f, f.copy()) for i, f in enumerate(clip)])))
    return out, ctx


def _preset(name: str) -> dict:
    path = os.path.join(PRESETS, f"{name}.json")
    if not os.path.exists(path):
        pytest.skip(f"preset {name}.json not written yet")
    with open(path) as fh:
        return json.load(fh)


def test_toon_preset_runs_temporal_and_steadies_it():
    preset = _preset("toon")
    assert [s["name"] for s in preset["stages"]] == ["toon", "temporal"]
    clip = small_clip("runner_tracking_shot.mp4", count=6, width=112)
    out, ctx = _run(preset, clip)
    assert [f.index for f in out] == list(range(1, 7))
    prov = ctx.provenance["temporal"]
    assert prov["mode"] == "per-frame" and prov["frames_stylized"] == 6 and prov["frames"] == 6
    off = json.loads(json.dumps(preset))
    off["stages"][1]["enabled"] = False
    plain, _ = _run(off, clip)
    steady_we = warping_error([f.image for f in out], clip)[0]
    plain_we = warping_error([f.image for f in plain], clip)[0]
    assert steady_we < 0.8 * plain_we
    assert all(not any(isinstance(v, np.ndarray) for v in f.meta.values()) for f in out)  # JSON-able meta


def test_none_is_untouched_even_with_temporal_in_the_workflow():
    preset = _preset("none")
    assert [s["name"] for s in preset["stages"]] == ["none"]
    clip = small_clip("talking_head.mp4", count=4, width=64)
    with_temporal = dict(preset, stages=preset["stages"] + [{"name": "temporal", "enabled": True,
                                                            "params": {"strength": 1.0, "deflicker": True}}])
    for wf in (preset, with_temporal):
        out, _ = _run(wf, clip)
        assert all(np.array_equal(f.image, c) for f, c in zip(out, clip))
