"""Batching (one generator per frame), the workflow runner, and out-of-memory errors."""
from __future__ import annotations

import numpy as np
import pytest

from kino_backend.stages.base import StageError


def test_batch_and_loop_agree_on_latents(open_stage, tiny, frames):
    cn = tiny["controlnet-tiny"]
    run = open_stage({"model": tiny["sd15-tiny.safetensors"], "controlnet": [f"{cn}:canny"],
                      "ip_adapter": tiny["ip-adapter-tiny"], "reference": "frame"})
    eng = run.engine
    imgs = [f.image for f in frames]
    ctrl = [[run.annotators[0](im) for im in imgs]]
    batch = eng.run(imgs, size=(64, 64), control_images=ctrl, references=imgs, output="latent")
    loop = [eng.run([im], size=(64, 64), control_images=[[c]], references=[im], output="latent")
            for im, c in zip(imgs, ctrl[0])]
    assert batch.shape[0] == 3
    for i, one in enumerate(loop):
        assert np.allclose(batch[i:i + 1].numpy(), one.numpy(), atol=1e-4)
    assert float((loop[0] - loop[1]).abs().max()) > 1e-2  # different frames, different latents


def test_stage_batch_matches_per_frame_calls(open_stage, tiny, frames):
    one = open_stage({"model": tiny["sd15-tiny.safetensors"]})
    many = open_stage({"model": tiny["sd15-tiny.safetensors"], "batch": 3})
    looped = [one.stylize(f) for f in frames]
    batched = many.stylize_batch(frames)
    assert len(batched) == 3
    for a, b in zip(looped, batched):
        assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_runs_through_the_workflow_runner(make_ctx, tiny, frames):
    from kino_backend.workflow import Pipeline, validate_workflow
    wf = validate_workflow({"version": 1, "look": "diffusion", "stages": [
        {"name": "diffusion", "enabled": True,
         "params": {"model": tiny["sd15-tiny.safetensors"], "steps": 4, "prompt": "ink",
                    "controlnet": [tiny["controlnet-tiny"] + ":canny"]}}]})
    ctx = make_ctx()
    with Pipeline(wf, ctx) as pipe:
        out = list(pipe.run(iter(frames)))
    assert [f.index for f in out] == [1, 2, 3]
    assert all(f.image.shape == (64, 64, 3) and f.image.dtype == np.uint8 for f in out)
    assert np.abs(out[0].image.astype(int) - frames[0].image).mean() > 1.0
    assert ctx.provenance["diffusion"]["controlnets"][0]["type"] == "canny"


def test_out_of_memory_becomes_a_clear_error(open_stage, tiny, frames, monkeypatch):
    run = open_stage({"model": tiny["sd15-tiny.safetensors"]})

    def explode(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    monkeypatch.setattr(run.engine, "pipe", _Raising(run.engine.pipe, explode))
    with pytest.raises(StageError) as err:
        run.stylize(frames[0])
    assert err.value.code == "OUT_OF_MEMORY" and err.value.frame == 1
    assert "resolution" in err.value.message and "batch" in err.value.message


class _Raising:
    """The real pipeline, except that calling it raises (stands in for a GPU running out of memory)."""

    def __init__(self, pipe, call):
        self._pipe, self._call = pipe, call

    def __getattr__(self, name):
        return getattr(self._pipe, name)

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)


def test_cross_frame_attention_keeps_the_keyframe_and_changes_later_frames(open_stage, tiny, frames):
    base = {"model": tiny["sd15-tiny.safetensors"]}
    plain = open_stage(base)
    expected = [plain.stylize(f) for f in frames[:2]]
    xf = open_stage({**base, "cross_frame_attention": True})
    unet = xf.engine.pipe.unet
    names = {n: type(p).__name__ for n, p in unet.attn_processors.items()}
    assert any(v == "_KeyframeSelfAttention" for k, v in names.items() if k.endswith("attn1.processor"))
    got = [xf.stylize(f) for f in frames[:2]]
    assert np.abs(got[0].astype(int) - expected[0]).max() <= 1  # the keyframe attends to itself: unchanged
    # later frames see the keyframe (compared on latents: the tiny random UNet's attention is weak)
    img = frames[1].image
    seen = xf.engine.run([img], size=(64, 64), output="latent")
    alone = plain.engine.run([img], size=(64, 64), output="latent")
    assert float((seen - alone).abs().max()) > 1e-3
    # batched: the first frame of the batch is the keyframe for the others
    xb = open_stage({**base, "cross_frame_attention": True, "batch": 2})
    batched = xb.stylize_batch(frames[:2])
    assert np.abs(batched[1].astype(int) - got[1]).max() <= 1
    xf.close()
    xb.close()
    assert all(not type(p).__name__.startswith("_Keyframe") for p in unet.attn_processors.values())


def test_diffusion_preset_with_temporal_passes_init(make_ctx, tiny, frames):
    import json
    import os

    from kino_backend.stages import all_stages
    from kino_backend.workflow import Pipeline, validate_workflow
    if "temporal" not in all_stages():
        pytest.skip("the temporal stage is not registered")
    path = os.path.join(os.path.dirname(__import__("kino_backend").__file__), "presets", "diffusion.json")
    with open(path, encoding="utf-8") as fh:
        preset = json.load(fh)
    assert [s["name"] for s in preset["stages"]] == ["diffusion", "temporal"]
    preset["stages"][0]["params"] = {"model": tiny["sd15-tiny.safetensors"], "steps": 4}
    wf = validate_workflow({"version": 1, "look": "diffusion", "stages": preset["stages"]})
    from kino_backend.stages.base import Frame
    base = frames[0].image
    moving = [Frame(index=i + 1, source=np.roll(base, i, axis=1), image=np.roll(base, i, axis=1)) for i in range(3)]
    ctx = make_ctx()
    with Pipeline(wf, ctx) as pipe:
        run = pipe.runs["diffusion"]
        seen = []
        original = run.stylize_batch
        run.stylize_batch = lambda fr, inits=None, st=None: (seen.append(inits[0] is not None), original(fr, inits, st))[1]
        out = list(pipe.run(iter(moving)))
    assert len(out) == 3 and all(f.image.shape == (64, 64, 3) for f in out)
    assert seen[0] is False and any(seen[1:])  # later frames start from the temporal stage's init


def _counting(run):
    calls = []
    original = run.stylize_batch

    def spy(frames, inits=None, strengths=None):
        calls.append(len(frames))
        return original(frames, inits, strengths)
    run.stylize_batch = spy
    return calls


def _workflow(tiny, temporal: bool, batch: int):
    from kino_backend.workflow import validate_workflow
    stages = [{"name": "diffusion", "enabled": True,
               "params": {"model": tiny["sd15-tiny.safetensors"], "steps": 4, "batch": batch}}]
    if temporal:
        stages.append({"name": "temporal", "enabled": True, "params": {}})
    return validate_workflow({"version": 1, "look": "diffusion", "stages": stages})


def test_batch_through_the_runner_without_temporal(make_ctx, tiny, frames):
    from kino_backend.workflow import Pipeline
    with Pipeline(_workflow(tiny, False, 1), make_ctx()) as pipe:
        single = [f.image for f in pipe.run(iter(frames))]
    with Pipeline(_workflow(tiny, False, 2), make_ctx()) as pipe:
        calls = _counting(pipe.runs["diffusion"])
        batched = [f.image for f in pipe.run(iter(frames))]
    assert calls == [2, 1]  # two model calls for three frames
    for a, b in zip(single, batched):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_batch_ahead_switches_off_when_temporal_passes_init(make_ctx, tiny, frames):
    from kino_backend.stages import all_stages
    from kino_backend.stages.base import Frame
    from kino_backend.workflow import Pipeline
    if "temporal" not in all_stages():
        pytest.skip("the temporal stage is not registered")
    base = frames[0].image
    moving = [Frame(index=i + 1, source=np.roll(base, i, axis=1), image=np.roll(base, i, axis=1)) for i in range(4)]
    with Pipeline(_workflow(tiny, True, 1), make_ctx()) as pipe:
        expected = [f.image for f in pipe.run(iter(moving))]
    with Pipeline(_workflow(tiny, True, 2), make_ctx()) as pipe:
        calls = _counting(pipe.runs["diffusion"])
        got = [f.image for f in pipe.run(iter(moving))]
        assert not pipe.runs["diffusion"]._prebatch_on
    assert calls[0] == 2 and all(c == 1 for c in calls[1:])  # one batch ahead, then frame by frame
    for a, b in zip(expected, got):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_out_of_memory_with_a_batch_retries_smaller_batches(open_stage, tiny, frames, monkeypatch):
    from kino_backend.stages.diffusion.engine import oom_error
    run = open_stage({"model": tiny["sd15-tiny.safetensors"], "batch": 3})
    real_run = run.engine.run
    sizes = []

    def limited(images, **kw):  # stands in for a GPU that fits one frame per call
        sizes.append(len(images))
        if len(images) > 1:
            raise oom_error(RuntimeError("CUDA out of memory"))
        return real_run(images, **kw)
    monkeypatch.setattr(run.engine, "run", limited)
    out = run.stylize_batch(frames)
    assert sizes == [3, 1, 1, 1] and len(out) == 3 and all(o.shape == (64, 64, 3) for o in out)
    assert run.params["batch"] == 1
    assert run.ctx.provenance["diffusion"]["batch_reduced_to"] == [1]


def test_a_strength_below_one_step_is_recorded_as_the_step_it_runs(open_stage, tiny, frames):
    """strength=0 still runs one denoising step (img2img needs one); provenance says what ran."""
    run = open_stage({"model": tiny["sd15-tiny.safetensors"], "strength": 0.0, "steps": 4})
    out = run.stylize(frames[0])
    assert out.shape == frames[0].image.shape
    assert run.ctx.provenance["diffusion"]["strength_used"] == pytest.approx(0.25, abs=1e-3)
    assert run.ctx.provenance["diffusion"]["params"]["strength"] == 0.0
