"""``noise=inverted``: each frame's initial noise found by DDIM inversion of the frame itself.

The frame is encoded as the img2img call will encode it (the VAE's latent distribution sampled with
the frame generator of the clip seed), then walked *up* the scheduler's timesteps with the UNet's
noise prediction (deterministic DDIM run backwards, no guidance, the look's prompt; each step refined
by a few fixed-point rounds) until the timestep where img2img starts. The noise returned is the one for
which ``add_noise(latents, noise, t_start)`` gives exactly that inverted latent, so img2img starts from a
point that carries the frame's own structure; denoised back with the same prompt and no guidance it
returns (nearly) the frame.
Results are cached per clip (``cache``), keyed by the frame's content and the settings.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..stages.base import StageError

REFINE = 3  # fixed-point rounds per inversion step


def start_timesteps(scheduler, steps: int, strength: float) -> list:
    """The timesteps img2img denoises through (diffusers' ``get_timesteps``), first = where it starts."""
    scheduler.set_timesteps(steps)
    init = min(int(steps * strength), steps)
    t_start = max(steps - init, 0)
    return [int(t) for t in scheduler.timesteps[t_start * scheduler.order:]]


def encode_like_img2img(pipe, image, seed: int):
    """(1, C, h, w) latents of ``image`` ((1, 3, h, w) in [0, 1]) as the img2img pipeline computes them
    with a generator seeded with ``seed`` (diffusers' ``retrieve_latents`` in sample mode)."""
    import torch
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents
    vae = pipe.vae
    upcast = bool(getattr(vae.config, "force_upcast", False)) and vae.dtype == torch.float16
    dtype = torch.float32 if upcast else vae.dtype
    x = (image * 2.0 - 1.0).to(vae.device, dtype)
    g = torch.Generator("cpu").manual_seed(int(seed))
    if upcast:
        vae.to(dtype=torch.float32)
    try:
        latents = retrieve_latents(vae.encode(x), generator=g)
    finally:
        if upcast:
            vae.to(dtype=torch.float16)
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return (latents - shift) * vae.config.scaling_factor


def _unet_kwargs(engine, height: int, width: int) -> dict:
    """Conditioning for a plain UNet call: the prompt (conditional part), SDXL's pooled text and size ids,
    IP-Adapter embeddings fixed for the clip."""
    import torch
    prompt = engine._prompt
    cond = prompt["prompt_embeds"]
    kw = {"encoder_hidden_states": cond}
    added = {}
    if engine.is_xl:
        ids = [height, width, 0, 0]
        ids += [6.0] if getattr(engine.pipe.config, "requires_aesthetics_score", False) else [height, width]
        added["text_embeds"] = prompt["pooled_prompt_embeds"]
        added["time_ids"] = torch.tensor([ids], device=cond.device, dtype=cond.dtype)
    if getattr(engine.pipe.unet, "encoder_hid_proj", None) is not None:
        missing = [s for s in engine.ip_slots if s not in engine._slot_embeds]
        if missing:
            raise StageError("INVALID_PARAMS", "noise=inverted needs IP-Adapter / FaceID inputs fixed for the clip "
                             "(reference=IMAGE, face_reference=IMAGE); with per-frame references use noise=warped",
                             stage="diffusion")
        added["image_embeds"] = [engine._slot_embeds[s][-1:] for s in engine.ip_slots]
    if added:
        kw["added_cond_kwargs"] = added
    return kw


def invert_latents(engine, latents, timesteps: list, refine: int = REFINE):
    """DDIM-invert clean ``latents`` (1, C, h, w) up to ``timesteps[0]``; returns the noisy latents there.

    Each step solves for the x_t whose DDIM step (with the UNet's prediction *at x_t*) lands on the
    current latents: first with the prediction at the current latents (plain DDIM inversion), then
    ``refine`` fixed-point rounds with the prediction at the new estimate, which removes most of plain
    inversion's error (the prediction changes between neighbouring timesteps)."""
    import torch
    from diffusers import DDIMScheduler
    ddim = DDIMScheduler.from_config(engine.pipe.scheduler.config)
    alphas = ddim.alphas_cumprod
    a_prev = float(ddim.final_alpha_cumprod)
    unet = engine.pipe.unet
    kw = _unet_kwargs(engine, latents.shape[-2] * 8, latents.shape[-1] * 8)
    x = latents
    for t in reversed(timesteps):
        a_t = float(alphas[t])
        guess = x
        for _ in range(1 + max(0, int(refine))):
            eps = unet(guess.to(unet.dtype), torch.tensor(t, device=x.device), **kw).sample.to(x.dtype)
            x0 = (x - (1.0 - a_prev) ** 0.5 * eps) / a_prev ** 0.5
            guess = a_t ** 0.5 * x0 + (1.0 - a_t) ** 0.5 * eps
        x = guess
        a_prev = a_t
    return x


def inverted_noise(engine, image, *, steps: int, strength: float, seed: int, scheduler=None):
    """The noise (1, C, h, w) float32 for one frame ``image`` ((1, 3, h, w) in [0, 1] at work size)."""
    import torch
    sched = scheduler if scheduler is not None else engine.pipe.scheduler
    timesteps = start_timesteps(type(sched).from_config(sched.config), steps, strength)
    with torch.inference_mode():
        x0 = encode_like_img2img(engine.pipe, image, seed).float()
        xt = invert_latents(engine, x0, timesteps).float()
    from diffusers import DDIMScheduler
    a = float(DDIMScheduler.from_config(sched.config).alphas_cumprod[timesteps[0]])
    return ((xt - a ** 0.5 * x0) / (1.0 - a) ** 0.5).cpu()


class InversionCache:
    """Inverted noise of a clip's frames, computed once per frame content and settings."""

    def __init__(self, cache: dict, max_items: int = 4096):
        self.store = cache.setdefault("kino.noise.inverted", {})
        self.max_items = max_items
        self.computed = 0

    def get(self, key: str, make) -> "np.ndarray":
        if key not in self.store:
            if len(self.store) >= self.max_items:
                self.store.pop(next(iter(self.store)))
            self.store[key] = make()
            self.computed += 1
        return self.store[key]


def settings_key(image_key: str, *, seed: int, steps: int, strength: float, size, prompt: str,
                 model: Optional[str]) -> str:
    return f"{image_key}|{seed}|{steps}|{strength:.6f}|{size[0]}x{size[1]}|{prompt}|{model}"
