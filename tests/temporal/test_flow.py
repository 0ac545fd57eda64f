"""Flow backends and the per-clip flow cache."""
from __future__ import annotations

import numpy as np
import pytest

from kino_backend.flow import DISFlow, FlowCache, flow_cache_for, make_flow
from kino_backend.metrics.warp_error import warping_error
from kino_backend.stages import get_stage
from kino_backend.stages.base import Frame, JobContext

from .conftest import IdentityLook, panning_clip


def test_dis_recovers_a_pan():
    a, b = panning_clip(2, dx=3.0)
    flow = DISFlow().calc(a, b)  # a(x) ~ b(x + flow): content moved left by 3 px
    inner = flow[10:-10, 10:-10]
    assert np.median(inner[..., 0]) == pytest.approx(-3.0, abs=0.2)
    assert np.median(np.abs(inner[..., 1])) < 0.2


def test_frames_smaller_than_dis_takes_get_a_flow_and_the_temporal_stage_runs():
    """8x8 frames stopped every job with temporal on: OpenCV's DIS needs 12 px a side (INTERNAL error)."""
    from kino_backend.workflow import Pipeline, validate_workflow
    rng = np.random.default_rng(1)
    frames = [np.clip(rng.normal(128, 40, (8, 8, 3)), 0, 255).astype(np.uint8) for _ in range(3)]
    flow = DISFlow().calc(frames[0], frames[1])
    assert flow.shape == (8, 8, 2) and np.isfinite(flow).all()
    assert DISFlow().calc(frames[0][:5, :3], frames[1][:5, :3]).shape == (5, 3, 2)
    wf = validate_workflow({"version": 1, "look": "toon", "stages": [{"name": "toon", "params": {}},
                                                                    {"name": "temporal", "params": {}}]})
    ctx = JobContext(job_id="t", frames_total=3, width=8, height=8)
    with Pipeline(wf, ctx) as pipe:
        out = [f.image for f in pipe.run(iter([Frame(i + 1, f, f.copy()) for i, f in enumerate(frames)]))]
    assert len(out) == 3 and all(o.shape == (8, 8, 3) for o in out)


def test_cache_computes_each_pair_once_and_is_bounded():
    clip = panning_clip(4)
    cache = FlowCache(DISFlow())
    fwd, back = cache.pair(clip[0], clip[1])
    assert cache.computed == 2
    fwd2, back2 = cache.pair(clip[0], clip[1])
    assert cache.computed == 2 and fwd2 is fwd and back2 is back
    small = FlowCache(DISFlow(), max_bytes=fwd.nbytes * 2)
    for i in range(3):
        small.pair(clip[i], clip[i + 1])
    assert small.computed == 6 and small._bytes <= fwd.nbytes * 2


def test_stage_flows_are_reused_by_the_metric():
    clip = panning_clip(5)
    stage = get_stage("temporal")
    ctx = JobContext(job_id="t", frames_total=5, width=clip[0].shape[1], height=clip[0].shape[0])
    run = stage.open(stage.validate({}), ctx)
    out = [f.image for f in run.schedule(iter([Frame(i + 1, f, f) for i, f in enumerate(clip)]), IdentityLook())]
    cache = flow_cache_for(ctx.cache, DISFlow())
    done = cache.computed
    assert done == 8  # 4 frame pairs, forward and backward
    warping_error(out, clip, flow_cache=cache)
    assert cache.computed == done


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="dis, raft"):
        make_flow("farneback")


def test_raft_runs_with_local_weights(tmp_path):
    """Only where torchvision works (a GPU environment): random RAFT-small weights from a local file."""
    torch = pytest.importorskip("torch")
    optical_flow = pytest.importorskip("torchvision.models.optical_flow",
                                       reason="torchvision is not installed (CPU environment): RAFT is a GPU-environment option")
    path = tmp_path / "raft_small.pth"
    torch.save(optical_flow.raft_small(weights=None, progress=False).state_dict(), path)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    raft = make_flow("raft", raft_weights=str(path), device=device)
    a, b = panning_clip(2, h=60, w=90)
    flow = raft.calc(a, b)
    assert flow.shape == (60, 90, 2) and flow.dtype == np.float32 and np.isfinite(flow).all()


def test_raft_weights_are_read_from_safetensors_and_a_bad_pth_says_what_to_do(tmp_path):
    """Read without torchvision: the state-dict reading RAFTFlow does before building the network."""
    import pytest
    import torch
    from safetensors.torch import save_file

    from kino_backend.flow.raft import RAFTUnavailable, _read_state
    save_file({"feature_encoder.convnormrelu.0.weight": torch.ones(2, 2)}, str(tmp_path / "raft.safetensors"))
    assert list(_read_state(torch, str(tmp_path / "raft.safetensors"))) == ["feature_encoder.convnormrelu.0.weight"]
    torch.save({"state_dict": {"w": torch.zeros(1)}}, str(tmp_path / "raft.pth"))
    assert list(_read_state(torch, str(tmp_path / "raft.pth"))) == ["w"]
    (tmp_path / "page.pth").write_bytes(b"<html>Not Found</html>")
    with pytest.raises(RAFTUnavailable, match="not a readable RAFT weights file"):
        _read_state(torch, str(tmp_path / "page.pth"))
