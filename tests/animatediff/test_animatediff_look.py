"""The diffusion look with ``motion_adapter``: through the stage (and the workflow runner) with tiny
models -- equal to diffusers for one window, every adapter acting, cancel between steps, progress per
window and step, keyframe windows in the temporal stage's keyframe mode, provenance."""
from __future__ import annotations

import numpy as np
import pytest

from animatediff_support import context, face_frames, moving_frames, run_look


def mad(a, b) -> float:
    return float(np.mean([np.abs(x.astype(np.float32) - y.astype(np.float32)).mean() for x, y in zip(a, b)]))


def test_look_with_one_window_equals_diffusers(tiny):
    """The look's own path (per-frame VAE generators, the clip's fixed noise, conditioning, decode) against
    diffusers' AnimateDiffVideoToVideoPipeline started from the same noisy latents."""
    import torch
    from diffusers import AnimateDiffVideoToVideoPipeline
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents

    from kino_backend.animatediff.adapter import load_motion_adapter
    from kino_backend.animatediff.look import animatediff_scheduler
    from kino_backend.models.loader import load_img2img_pipeline
    from kino_backend.noise import fixed_noise
    images = moving_frames(5)
    outs, ctx = run_look({"model": tiny["sd15-tiny"], "motion_adapter": tiny["motion-adapter-tiny"], "noise": "fixed",
                          "guidance": 4.0, "negative_prompt": "blurry"}, images)
    pipe2d = load_img2img_pipeline(tiny["sd15-tiny"], cache={}).pipe
    sched = animatediff_scheduler(pipe2d.scheduler)
    sched.set_timesteps(4)
    t0 = sched.timesteps[4 - int(4 * 0.6):][:1]
    with torch.inference_mode():
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        x0 = torch.cat([retrieve_latents(pipe2d.vae.encode(x[i:i + 1]), generator=torch.Generator().manual_seed(5))
                        for i in range(5)]) * pipe2d.vae.config.scaling_factor
        noise = torch.from_numpy(fixed_noise(5, tuple(x0.shape[1:])))[None].expand_as(x0)
        start = sched.add_noise(x0, noise, t0).permute(1, 0, 2, 3)[None]
    ref_pipe = AnimateDiffVideoToVideoPipeline(vae=pipe2d.vae, text_encoder=pipe2d.text_encoder,
                                               tokenizer=pipe2d.tokenizer, unet=pipe2d.unet,
                                               motion_adapter=load_motion_adapter(tiny["motion-adapter-tiny"]),
                                               scheduler=sched, feature_extractor=None, image_encoder=None)
    ref_pipe.set_progress_bar_config(disable=True)
    ref = ref_pipe(latents=start, prompt="a painting", negative_prompt="blurry", height=64, width=64,
                   num_inference_steps=4, strength=0.6, guidance_scale=4.0, output_type="np").frames[0]
    ref = np.clip(np.round(ref * 255.0), 0, 255).astype(np.uint8)
    worst = max(int(np.abs(o.astype(int) - r.astype(int)).max()) for o, r in zip(outs, ref))
    assert worst <= 1, worst
    rec = ctx.provenance["diffusion"]["animatediff"]
    assert rec["windows"] == 1 and rec["frames_denoised"] == 5 and rec["variant"] == "v2"
    assert ctx.provenance["diffusion"]["noise"]["mode"] == "fixed"


def test_adapters_all_act_with_animatediff(tiny):
    """LoRA, ControlNet and an IP-Adapter with the frame itself as reference each change the video."""
    images = moving_frames(4)
    base = {"model": tiny["sd15-tiny"], "motion_adapter": tiny["motion-adapter-tiny"], "context_frames": 4}
    plain, _ = run_look(base, images)
    assert all(o.shape == (64, 64, 3) and o.dtype == np.uint8 for o in plain)
    assert float(np.std(np.stack(plain))) > 3
    for extra in ({"lora": [tiny["lora-tiny.safetensors"] + ":1.0"]},
                  {"controlnet": [tiny["controlnet-tiny"] + ":canny:1.0"]},
                  {"ip_adapter": tiny["ip-adapter-tiny"], "reference": "frame", "ip_scale": 1.0}):
        outs, ctx = run_look(dict(base, **extra), images)
        assert mad(outs, plain) > 0.5, extra
    # the LoRA went into the shared UNet: unloading it (no lora) gives the plain video back
    again, _ = run_look(base, images)
    assert mad(again, plain) < 0.5


def test_faceid_per_frame_with_animatediff(tiny):
    """FaceID with each frame's own face (face_reference=frame) steers the video."""
    import os
    images = face_frames(3)
    base = {"model": tiny["sd15-tiny"], "motion_adapter": tiny["motion-adapter-tiny"], "context_frames": 3,
            "strength": 0.7}
    ctx_args = dict(frames_total=3)
    plain, _ = run_look(base, images, ctx=_ctx128(**ctx_args))
    ctx = _ctx128(**ctx_args)
    ctx.models_dir = os.path.dirname(tiny["face-tiny"])
    face, ctx = run_look(dict(base, faceid=tiny["ip-adapter-faceid-tiny.safetensors"], face_reference="frame",
                              face_pack="face-tiny", faceid_scale=1.0), images, ctx=ctx)
    assert mad(face, plain) > 0.5
    assert ctx.provenance["diffusion"]["faceid"]["frames_without_face"] == []


def _ctx128(frames_total: int):
    c = context(frames_total)
    c.width = c.height = 128
    return c


def test_cancel_between_steps_and_progress_per_window(tiny):
    from kino_backend.stages.base import Cancelled
    reports = []
    ctx = context(10)
    ctx.report = lambda **kw: reports.append(kw)
    ctx.is_cancelled = lambda: len(reports) >= 5
    with pytest.raises(Cancelled):
        run_look({"model": tiny["sd15-tiny"], "motion_adapter": tiny["motion-adapter-tiny"], "context_frames": 4,
                  "context_overlap": 1}, moving_frames(10), ctx=ctx)
    assert len(reports) == 5
    assert {r["windows_total"] for r in reports} == {3}
    assert [(r["window"], r["step"]) for r in reports[:4]] == [(1, 1), (2, 1), (3, 1), (1, 2)]
    assert all(r["steps_total"] == 2 and r["stage"] == "diffusion" for r in reports)


def test_no_checkpoint_is_offered_so_a_resume_starts_the_clip_again(tiny):
    """Each frame depends on the windows it is denoised in, across the clip: a checkpoint between windows
    (an empty state read as "frames are independent") made a resumed job denoise the rest as another
    video, up to 62 levels off the uninterrupted one. With none, a resume runs the clip again and
    writes only the missing frames (exact)."""
    from kino_backend.stages.base import Frame
    from kino_backend.workflow import Pipeline
    wf, ctx, images = _workflow_parts(tiny, {"strength": 0.5}, 6)
    with Pipeline(wf, ctx) as pipe:
        states = [pipe.checkpoint() for _ in pipe.run(iter([Frame(i + 1, im, im.copy())
                                                            for i, im in enumerate(images)]))]
    assert len(states) == 6 and all(s is None for s in states)


def _workflow_parts(tiny, temporal: dict, n: int):
    from kino_backend.stages.base import JobContext
    from kino_backend.workflow import validate_workflow
    import types
    wf = validate_workflow({"version": 1, "look": "diffusion", "stages": [
        {"name": "diffusion", "params": {"model": tiny["sd15-tiny"], "motion_adapter": tiny["motion-adapter-tiny"],
                                         "prompt": "a painting", "steps": 4, "strength": 0.6, "context_frames": 4,
                                         "context_overlap": 2}},
        {"name": "temporal", "params": temporal}]})
    ctx = JobContext(job_id="wf", frames_total=n, width=64, height=64, seed=2,
                     resources=types.SimpleNamespace(cache={}))
    return wf, ctx, moving_frames(n)


def _workflow(tiny, temporal: dict, n: int):
    from kino_backend.stages.base import Frame
    from kino_backend.workflow import Pipeline
    wf, ctx, images = _workflow_parts(tiny, temporal, n)
    with Pipeline(wf, ctx) as pipe:
        out = list(pipe.run(iter([Frame(i + 1, im, im.copy()) for i, im in enumerate(images)])))
    return out, ctx


def test_keyframe_mode_denoises_keyframe_windows(tiny):
    out, ctx = _workflow(tiny, {"keyframe_interval": 3}, 8)
    assert [f.index for f in out] == list(range(1, 9))
    rec = ctx.provenance["diffusion"]["animatediff"]
    keys = ctx.provenance["temporal"]["keyframes"]
    assert rec["frames_denoised"] < 8  # only keyframes went through the model
    assert set(keys) <= {1, 4, 7, 8} | set(rec["frames_on_their_own"])
    assert ctx.provenance["diffusion"]["noise"]["mode"] == "warped"  # auto: the temporal stage is on
    assert all(not any(isinstance(v, np.ndarray) for v in f.meta.values()) for f in out)


def test_per_frame_temporal_mode_works_around_it(tiny):
    out, ctx = _workflow(tiny, {"strength": 0.5}, 6)
    assert [f.index for f in out] == list(range(1, 7))
    rec = ctx.provenance["diffusion"]["animatediff"]
    assert rec["frames_denoised"] == 6 and rec["windows"] == 2 and not rec["frames_on_their_own"]
    assert ctx.provenance["temporal"]["frames_stylized"] == 6


def test_bad_combinations_are_refused_with_the_fix():
    from kino_backend.stages import get_stage
    from kino_backend.stages.base import ParamError
    stage = get_stage("diffusion")
    with pytest.raises(ParamError, match="cross_frame_attention"):
        stage.validate({"model": "m", "motion_adapter": "a", "cross_frame_attention": True})


def test_sdxl_checkpoint_is_refused(tmp_path):
    from kino_backend.models.tiny import sdxl_pipeline
    from kino_backend.stages.base import StageError
    import torch
    with torch.no_grad():
        sdxl_pipeline().save_pretrained(str(tmp_path / "xl"), safe_serialization=True)
    from kino_backend.animatediff.tiny import write_tiny_motion_adapter
    ad = write_tiny_motion_adapter(str(tmp_path / "mm"))
    with pytest.raises(StageError, match="SD 1.5"):
        run_look({"model": str(tmp_path / "xl"), "motion_adapter": ad}, moving_frames(2))
