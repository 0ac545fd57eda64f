"""The AnimateDiff video-to-video denoising loop over sliding context windows.

Per denoising step, every window's noise prediction is computed (``windows_per_call`` windows per
UNet call, classifier-free guidance in the same call), the predictions are blended per frame with the
windows' ramp weights (``windows``), and the scheduler steps the whole clip's latents once with the
blended prediction. So the scheduler sees one clip (multistep schedulers keep one history), and with a
single window covering the clip this is step for step what diffusers' ``AnimateDiffVideoToVideoPipeline``
(and its ControlNet variant) computes.

Layouts follow diffusers: clip latents (1, C, F, h, w); a UNet call's rows are window-major, frame-minor
(row = b * L + f), the unconditional half first under guidance.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import numpy as np


def encode_video(vae, video, generator, chunk: int = 16):
    """(N, 3, h, w) in [0, 1] -> (N, C, h/8, w/8) scaled latents, sampling the VAE's latent distribution
    with ``generator`` (one for the whole clip, drawn chunk by chunk as diffusers does, or one per frame)."""
    import torch
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents
    out = []
    for i in range(0, video.shape[0], chunk):
        part = (video[i:i + chunk] * 2.0 - 1.0).to(vae.device, vae.dtype)
        gen = generator[i:i + chunk] if isinstance(generator, list) else generator
        out.append(retrieve_latents(vae.encode(part), generator=gen))
    return torch.cat(out) * vae.config.scaling_factor


def decode_latents(vae, latents, chunk: int = 16):
    """(N, C, h, w) scaled latents -> (N, 3, h*8, w*8) float32 images in [0, 1]."""
    import torch
    latents = latents / vae.config.scaling_factor
    parts = [vae.decode(latents[i:i + chunk].to(vae.dtype)).sample for i in range(0, latents.shape[0], chunk)]
    return (torch.cat(parts).float() / 2.0 + 0.5).clamp(0.0, 1.0)


def img2img_timesteps(scheduler, steps: int, strength: float, device) -> list:
    """diffusers' ``retrieve_timesteps`` + ``get_timesteps``: the timesteps video-to-video runs through."""
    scheduler.set_timesteps(steps, device=device)
    init = min(int(steps * strength), steps)
    t_start = max(steps - init, 0)
    return scheduler.timesteps[t_start * scheduler.order:]


def denoise(latents, timesteps, windows: List[List[int]], weights: List[np.ndarray], predict: Callable,
            step: Callable, *, windows_per_call: int = 1, on_step: Optional[Callable] = None):
    """Run the windowed loop. ``latents``: (1, C, F, h, w) at the first timestep. ``predict(x, t, i,
    group)`` returns the guided noise prediction (B, C, L, h, w) of windows ``group`` (frame index lists)
    from their latents ``x`` (B, C, L, h, w); ``step(eps, t, latents)`` steps the clip.
    ``on_step(window_number, windows_total, step_number, steps_total)`` is called after each window's
    prediction (it may raise to cancel)."""
    import torch
    n = latents.shape[2]
    acc_w = torch.zeros(n, dtype=torch.float32, device=latents.device)
    for w, wt in zip(windows, weights):
        acc_w[w] += torch.from_numpy(wt).to(latents.device)
    wts = [torch.from_numpy(wt).to(latents.device) for wt in weights]
    total = len(timesteps)
    for i, t in enumerate(timesteps):
        eps = torch.zeros(latents.shape, dtype=torch.float32, device=latents.device)
        for g in range(0, len(windows), windows_per_call):
            group = windows[g:g + windows_per_call]
            x = torch.stack([latents[0][:, w] for w in group])
            pred = predict(x, t, i, group).float()
            for b, w in enumerate(group):
                eps[0][:, w] += pred[b] * wts[g + b][None, :, None, None]
            if on_step is not None:
                on_step(g + len(group), len(windows), i + 1, total)
        eps = (eps / acc_w[None, None, :, None, None]).to(latents.dtype)
        latents = step(eps, t, latents)
    return latents


class UNetPredictor:
    """``predict`` for ``denoise``: the motion UNet (+ ControlNets) with guidance, conditioning per frame.

    ``cond`` supplies ``text(rows)`` (encoder hidden states for ``rows`` frames per half),
    ``control(frames, keep)`` (condition images and scales per ControlNet, or None) and
    ``image_tokens(frames)`` (projected IP-Adapter tokens per adapter, or None), where ``frames`` lists
    the clip frame of every row of one half.
    """

    def __init__(self, unet, scheduler, cond, *, guidance: float, do_cfg: bool, controlnet=None):
        self.unet, self.scheduler, self.cond = unet, scheduler, cond
        self.guidance, self.do_cfg, self.controlnet = float(guidance), bool(do_cfg), controlnet

    def __call__(self, x, t, i: int, group: Sequence[Sequence[int]]):
        import torch
        frames = [f for w in group for f in w]
        model_in = torch.cat([x, x]) if self.do_cfg else x
        model_in = self.scheduler.scale_model_input(model_in, t)
        text = self.cond.text(len(frames))
        tokens = self.cond.image_tokens(frames)
        hidden = (text, tokens) if tokens is not None else text
        extra = {}
        if self.controlnet is not None:
            extra = self._control(model_in, t, i, text, frames)
        pred = self.unet(model_in, t, encoder_hidden_states=hidden, **extra).sample
        if self.do_cfg:
            uncond, cond = pred.chunk(2)
            pred = uncond + self.guidance * (cond - uncond)
        return pred

    def _control(self, model_in, t, i: int, text, frames) -> dict:
        images, scales = self.cond.control(frames, i)
        if images is None:
            return {}
        rows = model_in.transpose(1, 2).reshape(-1, *model_in.shape[1:2], *model_in.shape[3:])
        down, mid = self.controlnet(rows, t, encoder_hidden_states=text, controlnet_cond=images,
                                    conditioning_scale=scales, guess_mode=False, return_dict=False)
        return {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}
