"""The ``train_lora`` finish stage in the real workflow runner (with the real ``none`` look), training on
the job's frames with the tiny SD 1.5 model (a test model with random weights)."""
import os

import numpy as np
import pytest

from kino_backend.stages.base import Cancelled, Frame, JobContext, StageError
from kino_backend.workflow import Pipeline, validate_workflow


def frames(n=4):
    out = []
    for i in range(n):
        img = np.zeros((72, 88, 3), np.uint8)
        img[:] = (200, 60, 40)
        img[20:52, 20 + 4 * i:52 + 4 * i] = (30, 220, 90)
        out.append(img)
    return out


def run(params, clip, cancel_at_step=None):
    w = validate_workflow({"version": 1, "look": "none",
                           "stages": [{"name": "train_lora", "params": params}, {"name": "none"}]})
    reports = []

    def report(**kw):
        reports.append(kw)

    ctx = JobContext(job_id="j", frames_total=len(clip), width=88, height=72, seed=3, device="cpu",
                     report=report, is_cancelled=lambda: cancel_at_step is not None and any(
                         r.get("step", 0) >= cancel_at_step for r in reports))
    src = (Frame(i + 1, f, f.copy()) for i, f in enumerate(clip))
    with Pipeline(w, ctx) as pipe:
        out = list(pipe.run(src))
    return out, ctx, reports


def test_trains_on_the_frames_and_reports(tiny, tmp_path):
    clip = frames()
    out_file = str(tmp_path / "clip_lora.safetensors")
    params = dict(model=tiny["sd15-tiny.safetensors"], out=out_file, steps=12, resolution=64, rank=4, lr=1e-2,
                  batch=2, every=2)
    out, ctx, reports = run(params, clip)
    assert [f.index for f in out] == [1, 2, 3, 4]
    assert all(np.array_equal(o.image, c) for o, c in zip(out, clip))  # frames pass through
    assert os.path.isfile(out_file)
    prov = ctx.provenance["train_lora"]
    assert prov["images"] == 2 and prov["steps"] == 12  # every 2nd frame of 4
    assert prov["loss_last"] < prov["loss_first"]
    assert out[-1].meta["lora_out"] == out_file and out[-1].meta["lora_loss_last"] == prov["loss_last"]
    steps = [r["step"] for r in reports if r.get("stage") == "train_lora"]
    assert steps == list(range(1, 13)) and all(r["steps_total"] == 12 for r in reports)
    assert prov["losses"][-1][0] == 12 and all(np.isfinite(l) for _s, l in prov["losses"])


def test_cancel_stops_training(tiny, tmp_path):
    params = dict(model=tiny["sd15-tiny.safetensors"], out=str(tmp_path / "c.safetensors"), steps=50, resolution=64,
                  rank=4)
    with pytest.raises(Cancelled):
        run(params, frames(2), cancel_at_step=3)
    assert not (tmp_path / "c.safetensors").exists()


def test_missing_out_is_invalid_params(tiny):
    with pytest.raises(StageError) as err:
        run(dict(model=tiny["sd15-tiny.safetensors"], steps=1), frames(1))
    assert err.value.code == "INVALID_PARAMS" and "out" in err.value.message
