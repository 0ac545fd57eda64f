"""The diffusion look's ``noise`` parameter with the tiny model: ``auto`` is warped with the temporal
stage and fixed without; warped starts from the fixed noise and then moves; inverted noise brings the
frame back when denoised without guidance, and is computed once per frame of a clip."""
from __future__ import annotations

import types

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # tiny-model pipelines


def moving(n: int, size: int = 64) -> list:
    yy, xx = np.mgrid[0:size, 0:size]
    out = []
    for t in range(n):
        img = np.stack([xx * 255 // size, yy * 255 // size, np.full_like(xx, 90)], axis=2).astype(np.uint8)
        img[20:40, 6 + 3 * t:26 + 3 * t] = (230, 60, 40)
        out.append(img)
    return out


def _run(model: str, noise: str, temporal: bool, images: list):
    from kino_backend.stages.base import Frame, JobContext
    from kino_backend.workflow import Pipeline, validate_workflow
    wf = validate_workflow({"version": 1, "look": "diffusion", "stages": [
        {"name": "diffusion", "params": {"model": model, "prompt": "a painting", "steps": 4, "strength": 0.6,
                                         "noise": noise}},
        {"name": "temporal", "enabled": temporal, "params": {"strength": 0.5}}]})
    ctx = JobContext(job_id="n", frames_total=len(images), width=64, height=64, seed=3,
                     resources=types.SimpleNamespace(cache={}))
    with Pipeline(wf, ctx) as pipe:
        out = [f.image for f in pipe.run(iter([Frame(i + 1, im, im.copy()) for i, im in enumerate(images)]))]
    return out, ctx.provenance["diffusion"]["noise"]


def test_auto_noise_is_warped_with_the_temporal_stage_and_fixed_without(tiny_sd15):
    images = moving(4)
    warped, rec = _run(tiny_sd15, "auto", True, images)
    assert rec["mode"] == "warped" and rec["requested"] == "auto" and rec["frames"] == 4
    fixed, rec_fixed = _run(tiny_sd15, "fixed", True, images)
    assert rec_fixed["mode"] == "fixed"
    assert np.array_equal(warped[0], fixed[0])  # the first frame's noise is the clip's fixed noise ...
    assert np.abs(warped[3].astype(int) - fixed[3].astype(int)).mean() > 0.5  # ... later frames' moved
    off, rec_off = _run(tiny_sd15, "auto", False, images)
    plain, _ = _run(tiny_sd15, "fixed", False, images)
    assert rec_off["mode"] == "fixed" and all(np.array_equal(a, b) for a, b in zip(off, plain))


def test_inverted_noise_reconstructs_its_frame_without_guidance(tiny_sd15):
    import torch

    from kino_backend.models.loader import load_img2img_pipeline
    from kino_backend.noise.inversion import encode_like_img2img, inverted_noise
    from kino_backend.stages.diffusion.engine import DiffusionEngine
    pipe = load_img2img_pipeline(tiny_sd15, cache={}).pipe
    image = moving(1)[0]
    engine = DiffusionEngine(pipe, prompt="a painting", steps=20, strength=0.5, guidance=1.0, seed=3)
    with torch.inference_mode():
        x0 = encode_like_img2img(pipe, engine.to_tensor([image], (64, 64)), 3)
    noise = inverted_noise(engine, engine.to_tensor([image], (64, 64)), steps=20,
                           strength=engine.effective_strength(None), seed=3)
    back = engine.run([image], size=(64, 64), output="latent", noise=noise)
    seeded = engine.run([image], size=(64, 64), output="latent")
    err, err_seeded = float((back - x0).abs().mean()), float((seeded - x0).abs().mean())
    print(f"inverted: {err:.4f}, seed noise: {err_seeded:.4f}, latents {float(x0.abs().mean()):.4f}")
    assert err < 0.3 * float(x0.abs().mean())  # within tolerance of the frame's own latents
    assert err < 0.05 * err_seeded  # the seed's noise lands far away
    with torch.inference_mode():  # and the picture: closer to the frame's VAE round trip than the seed's
        trip = engine.to_uint8((pipe.vae.decode(x0 / pipe.vae.config.scaling_factor).sample / 2 + 0.5).clamp(0, 1),
                               (64, 64))[0].astype(float)
    px = np.abs(engine.run([image], size=(64, 64), noise=noise)[0] - trip).mean()
    px_seeded = np.abs(engine.run([image], size=(64, 64))[0] - trip).mean()
    assert px < 0.5 * px_seeded


def test_inverted_mode_in_the_look_is_cached_per_clip(tiny_sd15):
    from kino_backend.stages import get_stage
    from kino_backend.stages.base import Frame, JobContext
    stage = get_stage("diffusion")
    ctx = JobContext(job_id="i", frames_total=2, width=64, height=64, seed=3, resources=types.SimpleNamespace(cache={}))
    run = stage.open(stage.validate({"model": tiny_sd15, "prompt": "a painting", "steps": 4, "strength": 0.6,
                                     "noise": "inverted"}), ctx)
    try:
        img = moving(1)[0]
        frames = list(run.prepare(iter([Frame(1, img, img), Frame(2, img.copy(), img.copy())])))
        first = run.stylize(frames[0])
        again = run.stylize(frames[0])
        other = run.stylize(frames[1])  # same picture: its inversion is reused
    finally:
        run.close()
    rec = ctx.provenance["diffusion"]["noise"]
    assert rec["mode"] == "inverted" and rec["inverted_frames"] == 1
    assert np.array_equal(first, again) and np.array_equal(first, other)


def test_unknown_noise_mode_is_refused():
    from kino_backend.stages import get_stage
    from kino_backend.stages.base import ParamError
    with pytest.raises(ParamError, match="fixed, warped, inverted"):
        get_stage("diffusion").validate({"model": "m", "noise": "random"})


def test_a_resumed_warped_noise_job_equals_the_uninterrupted_one(tiny_sd15):
    """The warped noise carries from frame to frame, but the look's checkpoint said "nothing": a resumed
    job restarted the noise and its frames differed from the uninterrupted run (up to 126 levels)."""
    from kino_backend import checkpoint as ck
    from kino_backend.stages.base import Frame, JobContext
    from kino_backend.workflow import Pipeline, validate_workflow
    images = moving(6)
    wf = validate_workflow({"version": 1, "look": "diffusion", "stages": [
        {"name": "diffusion", "params": {"model": tiny_sd15, "prompt": "a painting", "steps": 3, "strength": 0.6,
                                         "noise": "warped"}},
        {"name": "temporal", "params": {"strength": 0.5}}]})

    def run(first=1, resume=None):
        ctx = JobContext(job_id="r", frames_total=len(images) - first + 1, width=64, height=64, seed=3,
                         resources=types.SimpleNamespace(cache={}))
        outs, states = [], {}
        with Pipeline(wf, ctx) as pipe:
            if resume is not None:
                pipe.restore(ck.decode(*resume))
            for out in pipe.run(iter([Frame(i + 1, im, im.copy()) for i, im in enumerate(images[first - 1:])])):
                outs.append(out.image.copy())
                state = pipe.checkpoint()
                if state is not None:
                    desc, buffers = ck.encode(state)
                    states[out.index + first - 1] = (desc, [(spec, bytes(data)) for spec, data in buffers])
        return outs, states, ctx.provenance["diffusion"]["noise"]

    full, states, record = run()
    assert 3 in states and "noise_cells" in str(states[3][0])
    resumed, _, resumed_record = run(first=4, resume=states[3])
    for a, b in zip(resumed, full[3:]):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert resumed_record["frames"] == record["frames"] == 6 and resumed_record["restarts"] == record["restarts"]
