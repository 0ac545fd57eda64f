"""Kino's AnimateDiff against diffusers' own pipelines: with one context window covering the clip, the
windowed loop (motion UNet sharing the checkpoint's modules, per-frame conditioning, whole-clip
scheduler steps) gives what ``AnimateDiffVideoToVideoPipeline`` and
``AnimateDiffVideoToVideoControlNetPipeline`` give at the same settings and random draws."""
from __future__ import annotations

import numpy as np
import pytest

from animatediff_support import moving_frames

PROMPT, NEGATIVE = "a painting", "blurry"
STEPS, STRENGTH, GUIDANCE, SEED = 4, 0.6, 5.0, 11


def _video(n=6):
    import torch
    frames = moving_frames(n)
    return frames, torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0


def _kino(pipe2d, adapter, video, *, controls=None, control_settings=()):
    """Kino's path on diffusers' random draws: encode (one generator, chunked), noise, windowed loop, decode."""
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    from kino_backend.animatediff.conditioning import ClipConditioning
    from kino_backend.animatediff.look import animatediff_scheduler
    from kino_backend.animatediff.sampler import UNetPredictor, decode_latents, denoise, encode_video, img2img_timesteps
    from kino_backend.animatediff.unet import build_motion_unet
    from kino_backend.animatediff.windows import context_windows, window_weights
    from kino_backend.stages.diffusion.engine import DiffusionEngine
    engine = DiffusionEngine(pipe2d, prompt=PROMPT, negative_prompt=NEGATIVE, steps=STEPS, strength=STRENGTH,
                             guidance=GUIDANCE, seed=SEED, controls=control_settings)
    sched = animatediff_scheduler(pipe2d.scheduler)
    n = video.shape[0]
    with torch.inference_mode():
        timesteps = img2img_timesteps(sched, STEPS, STRENGTH, "cpu")
        g = torch.Generator("cpu").manual_seed(SEED)
        x0 = encode_video(pipe2d.vae, video, g, chunk=16)
        noise = randn_tensor((1, *x0.shape), generator=g, dtype=x0.dtype)
        latents = sched.add_noise(x0[None], noise, timesteps[:1]).permute(0, 2, 1, 3, 4)
        windows = context_windows(n, 16, 4)
        assert windows == [list(range(n))]
        cond = ClipConditioning(engine, size=(64, 64), steps_total=len(timesteps),
                                controls=(lambda j: [controls[j]]) if controls is not None else None)
        predict = UNetPredictor(build_motion_unet(pipe2d.unet, adapter), sched, cond, guidance=GUIDANCE, do_cfg=True,
                                controlnet=getattr(pipe2d, "controlnet", None))
        out = denoise(latents, timesteps, windows, window_weights(windows, n, 4), predict,
                      lambda eps, t, x: sched.step(eps, t, x, eta=0.0).prev_sample)
        return decode_latents(pipe2d.vae, out[0].permute(1, 0, 2, 3))


def _reference(cls, pipe2d, adapter, video, **extra):
    import torch

    from kino_backend.animatediff.look import animatediff_scheduler
    parts = {k: getattr(pipe2d, k) for k in ("vae", "text_encoder", "tokenizer")}
    pipe = cls(unet=pipe2d.unet, motion_adapter=adapter, scheduler=animatediff_scheduler(pipe2d.scheduler),
               feature_extractor=None, image_encoder=None, **parts, **extra.pop("modules", {}))
    pipe.set_progress_bar_config(disable=True)
    out = pipe(video=list(video), prompt=PROMPT, negative_prompt=NEGATIVE, height=64, width=64,
               num_inference_steps=STEPS, strength=STRENGTH, guidance_scale=GUIDANCE,
               generator=torch.Generator("cpu").manual_seed(SEED), output_type="pt", **extra)
    return out.frames[0]


def test_one_window_equals_diffusers_video_to_video(tiny):
    from diffusers import AnimateDiffVideoToVideoPipeline

    from kino_backend.animatediff.adapter import load_motion_adapter
    from kino_backend.models.loader import load_img2img_pipeline
    pipe2d = load_img2img_pipeline(tiny["sd15-tiny"], cache={}).pipe
    adapter = load_motion_adapter(tiny["motion-adapter-tiny"])
    frames, video = _video()
    ref = _reference(AnimateDiffVideoToVideoPipeline, pipe2d, adapter, video)
    kino = _kino(pipe2d, adapter, video)
    assert kino.shape == ref.shape == (6, 3, 64, 64)
    diff = float((kino - ref).abs().max())
    print(f"max |kino - diffusers| = {diff:.2e}, spread {float(ref.std()):.3f}")
    assert diff < 1e-4
    assert float(ref.std()) > 0.02  # a real picture, not a constant
    # the motion module acts: the same frames through the 2D UNet alone differ
    assert float((kino - _kino_without_motion(pipe2d, video)).abs().mean()) > 1e-3


def _kino_without_motion(pipe2d, video):
    """The same loop with a motion adapter whose output layers are zero (what an untrained one does)."""
    import torch

    from kino_backend.animatediff.tiny import tiny_motion_adapter
    adapter = tiny_motion_adapter()
    with torch.no_grad():
        for name, p in adapter.named_parameters():
            if ".proj_out." in name:
                p.zero_()
    return _kino(pipe2d, adapter, video)


def test_one_window_equals_diffusers_with_controlnet(tiny):
    import torch
    from diffusers import AnimateDiffVideoToVideoControlNetPipeline

    from kino_backend.animatediff.adapter import load_motion_adapter
    from kino_backend.models.loader import load_img2img_pipeline
    from kino_backend.stages.diffusion.engine import ControlSettings
    loaded = load_img2img_pipeline(tiny["sd15-tiny"], controlnets=[(tiny["controlnet-tiny"], "canny")], cache={})
    pipe2d = loaded.pipe
    adapter = load_motion_adapter(tiny["motion-adapter-tiny"])
    frames, video = _video()
    edges = [np.repeat((np.abs(np.diff(f.astype(np.int16).mean(2), axis=1, prepend=0)) > 20)[..., None] * 255, 3, 2)
             .astype(np.uint8) for f in frames]
    cond = torch.from_numpy(np.stack(edges)).permute(0, 3, 1, 2).float() / 255.0
    settings = [ControlSettings(0.8, 0.0, 0.75)]
    ref = _reference(AnimateDiffVideoToVideoControlNetPipeline, pipe2d, adapter, video,
                     modules={"controlnet": pipe2d.controlnet}, conditioning_frames=list(cond),
                     controlnet_conditioning_scale=0.8, control_guidance_start=0.0, control_guidance_end=0.75)
    kino = _kino(pipe2d, adapter, video, controls=edges, control_settings=settings)
    diff = float((kino - ref).abs().max())
    print(f"ControlNet: max |kino - diffusers| = {diff:.2e}")
    assert diff < 1e-4
    plain = _kino(pipe2d, adapter, video, controls=[np.zeros_like(e) for e in edges], control_settings=settings)
    assert float((kino - plain).abs().mean()) > 1e-3  # the condition images steer
