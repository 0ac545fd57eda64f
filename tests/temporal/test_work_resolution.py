"""Flow at a working resolution (flow/scaled.py), the flow-field maths (flow/fields.py) and what the
temporal stage does with them on frames larger than ``flow_resolution``."""
from __future__ import annotations

import numpy as np
import pytest

from kino_backend.flow import DISFlow, FlowCache
from kino_backend.flow.fields import grad_sq, planes, sq_norm
from kino_backend.flow.scaled import WorkFlows, grow_flow, work_size
from kino_backend.metrics.warp_error import occlusion_mask, pair_error, warp_backward, warping_error
from kino_backend.stages import get_stage
from kino_backend.stages.base import Frame, JobContext
from kino_backend.stages.temporal.warp import blend, cut_score, reliability

from .conftest import FlickerLook, IdentityLook, panning_clip


def test_work_size_keeps_small_frames_and_shrinks_large_ones():
    assert work_size(640, 360, 960) == (640, 360)
    assert work_size(1920, 1080, 960) == (960, 540)
    assert work_size(1080, 1920, 960) == (540, 960)
    assert work_size(1920, 1080, 0) == (1920, 1080)


def test_grown_flow_scales_the_vectors():
    flow = np.zeros((10, 20, 2), np.float32)
    flow[..., 0], flow[..., 1] = 1.5, -0.5
    big = grow_flow(flow, (40, 30))
    assert big.shape == (30, 40, 2)
    assert np.allclose(big[..., 0], 3.0) and np.allclose(big[..., 1], -1.5)


def test_work_flows_recover_a_pan_at_full_size_and_cache_the_small_flow():
    a, b = panning_clip(2, h=192, w=256, dx=6.0)
    flows = WorkFlows(FlowCache(DISFlow()), max_side=128)
    assert flows.small(a).shape == (96, 128, 3)
    assert flows.small(a) is flows.small(a)  # shrunk once per frame object
    fwd = flows.flow(a, b)
    assert fwd.shape == (192, 256, 2)
    inner = fwd[20:-20, 20:-20]
    assert np.median(inner[..., 0]) == pytest.approx(-6.0, abs=0.4)  # full-size pixels
    assert flows.computed == 1
    flows.flow(a, b)
    assert flows.computed == 1


def test_working_copies_are_made_and_hashed_once_and_keep_no_frame_alive(monkeypatch):
    import gc
    import weakref

    from kino_backend.flow import cache as cache_mod
    hashed = []
    real_key = cache_mod.image_key
    monkeypatch.setattr(cache_mod, "image_key", lambda img: hashed.append(img.shape) or real_key(img))
    import kino_backend.flow.scaled as scaled_mod
    monkeypatch.setattr(scaled_mod, "image_key", cache_mod.image_key)
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (120, 200, 3), dtype=np.uint8) for _ in range(2))
    flows = WorkFlows(FlowCache(DISFlow()), 100)
    sa, sb = flows.small(a), flows.small(b)
    assert flows.small(a) is sa and not sa.flags.writeable and sa.shape == (60, 100, 3)
    for _ in range(3):
        flows.small_flow(sa, sb)
        flows.small_flow(sb, sa)
    assert len(hashed) == 2 and flows.computed == 2  # each copy hashed when made, each flow computed once
    same = flows.small(np.ascontiguousarray(sa))  # a frame already small: a read-only copy of its own
    assert same is not sa and np.array_equal(same, sa) and not same.flags.writeable
    gone = weakref.ref(a)
    del a
    gc.collect()
    assert gone() is None  # remembering a frame's working copy does not keep the frame


def test_flow_field_maths_equals_the_textbook_forms():
    rng = np.random.default_rng(3)
    flow = rng.normal(size=(17, 23, 2)).astype(np.float32)
    u, v = planes(flow)
    assert np.allclose(sq_norm(u, v), (flow ** 2).sum(axis=2), atol=1e-6)
    gy, gx = np.gradient(flow[..., 0])
    assert np.allclose(grad_sq(u), gx ** 2 + gy ** 2, atol=1e-5)
    thin = flow[:1, :, 0].copy()  # one row: np.gradient's own path
    assert grad_sq(thin).shape == thin.shape


def _textbook_occlusion(forward, backward):
    b_at = warp_backward(np.ascontiguousarray(backward, np.float32), forward)
    f2, b2 = (forward ** 2).sum(axis=2), (b_at ** 2).sum(axis=2)
    occluded = ((forward + b_at) ** 2).sum(axis=2) > 0.01 * (f2 + b2) + 0.5
    uy, ux = np.gradient(forward[..., 0])
    vy, vx = np.gradient(forward[..., 1])
    return occluded | ((ux ** 2 + uy ** 2) + (vx ** 2 + vy ** 2) > 0.01 * f2 + 0.002)


def test_metric_pieces_match_docs_metrics_formulas():
    a, b = panning_clip(2, dx=3.0)
    dis = DISFlow()
    fwd, back = dis.calc(a, b), dis.calc(b, a)
    mask = occlusion_mask(fwd, back)
    assert np.array_equal(mask, _textbook_occlusion(fwd, back))
    vis = ~mask
    warped = warp_backward(b.astype(np.float32) / 255.0, fwd)
    diff = (warped - a.astype(np.float32) / 255.0)[vis]
    assert pair_error(a, b, fwd, vis) == pytest.approx(float((diff ** 2).sum() / (3 * vis.sum())), rel=1e-4)
    gray_err = pair_error(a[..., 0], b[..., 0], fwd, vis)
    assert np.isfinite(gray_err) and gray_err > 0


def test_cut_score_removes_a_global_shift_and_flags_a_different_picture():
    a, b = panning_clip(2, dx=0.0)
    zero = np.zeros(a.shape[:2] + (2,), np.float32)
    assert cut_score(a, a, zero) == pytest.approx(0.0, abs=1e-6)
    brighter = np.clip(a.astype(np.int16) + 20, 0, 255).astype(np.uint8)
    assert cut_score(a, brighter, zero) < 0.01
    other = panning_clip(1, seed=7)[0]
    assert cut_score(a, other, zero) > 0.08


def test_blend_weights_each_pixel():
    s = np.full((4, 5, 3), 100, np.uint8)
    w = np.full((4, 5, 3), 200.0, np.float32)
    m = np.zeros((4, 5), np.float32)
    m[0, 0], m[1, 1] = 1.0, 0.25
    out = blend(s, w, m)
    assert out.dtype == np.uint8 and out[0, 0, 0] == 200 and out[1, 1, 0] == 125 and out[2, 2, 0] == 100


def run_stage(clip, params, look):
    stage = get_stage("temporal")
    h, w = clip[0].shape[:2]
    ctx = JobContext(job_id="t", frames_total=len(clip), width=w, height=h)
    run = stage.open(stage.validate(params), ctx)
    try:
        out = [f.image for f in run.schedule(iter([Frame(i + 1, f, f) for i, f in enumerate(clip)]), look)]
    finally:
        run.close()
    return out, ctx


def test_working_resolution_steadies_a_large_pan_like_full_resolution():
    clip = panning_clip(8, h=192, w=256, dx=4.0)
    plain = [FlickerLook().stylize(Frame(i + 1, f, f)) for i, f in enumerate(clip)]
    small, ctx = run_stage(clip, {"flow_resolution": 128}, FlickerLook())
    full, _ = run_stage(clip, {"flow_resolution": 0}, FlickerLook())
    e_plain, _ = warping_error(plain, clip)
    e_small, _ = warping_error(small, clip)
    e_full, _ = warping_error(full, clip)
    assert e_small < 0.5 * e_plain  # still removes most of the flicker
    assert e_small < 2.0 * e_full + 1e-6
    prov = ctx.provenance["temporal"]
    assert prov["flow_resolution"] == 128 and prov["figure"]["pairs"] == 7


def test_looks_without_init_get_none_and_the_link_runs_beside_them():
    clip = panning_clip(5)

    class NoInit(IdentityLook):
        stage = type("S", (), {"takes_init": False})()

    look = NoInit()
    run_stage(clip, {}, look)
    assert look.calls == [1, 2, 3, 4, 5] and not any(look.inits)
    takes = IdentityLook()
    run_stage(clip, {}, takes)
    assert takes.inits == [False, True, True, True, True]


def test_trust_is_low_where_the_flows_disagree():
    h, w = 40, 60
    back = np.zeros((h, w, 2), np.float32)
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[:, 30:, 0] = 8.0  # the right half moves in the forward flow only: no consistency there
    rel = reliability(back, fwd, feather=0)
    assert rel[:, :20].min() == pytest.approx(1.0) and rel[:, 40:].max() == pytest.approx(0.0)
