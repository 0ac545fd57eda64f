"""Give a diffusers img2img call Kino's own initial noise.

diffusers' img2img pipelines draw their noise inside the call and add it to the encoded image with
``scheduler.add_noise(latents, noise, timestep)``, once per call. ``preset_noise`` swaps in the noise
Kino chose (one (C, h, w) field per frame of the call) for the duration of one call.
"""
from __future__ import annotations

import contextlib

from ..stages.base import StageError


@contextlib.contextmanager
def preset_noise(scheduler, noise):
    """While active, ``scheduler.add_noise`` adds ``noise`` (a tensor shaped like the latents) instead of
    the noise the pipeline drew. ``noise=None`` changes nothing."""
    if noise is None:
        yield
        return
    original = scheduler.add_noise
    calls = []

    def add_noise(original_samples, _drawn, timesteps):
        if tuple(original_samples.shape) != tuple(noise.shape):
            raise StageError("INTERNAL", f"preset noise {tuple(noise.shape)} does not match the latents "
                             f"{tuple(original_samples.shape)}", stage="diffusion")
        calls.append(1)
        return original(original_samples, noise.to(original_samples.device, original_samples.dtype), timesteps)

    scheduler.add_noise = add_noise
    try:
        yield
    finally:
        scheduler.__dict__.pop("add_noise", None)
    if not calls:
        raise StageError("INTERNAL", "the pipeline never added noise, so the chosen noise was not used",
                         stage="diffusion")
