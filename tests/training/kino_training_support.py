"""Helpers for the training tests (uniquely named: safe when all test folders run in one pytest)."""
import os

import numpy as np


def write_images(folder: str, n: int = 3, size=(80, 96)) -> str:
    """A small "character": a green disc on a red ground, shifted a little in each image (PNG, BGR on disk)."""
    import cv2
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        img = np.zeros((*size, 3), np.uint8)
        img[:] = (40, 60, 200)
        cv2.circle(img, (40 + 5 * i, 40), 20, (90, 220, 30), -1)
        cv2.imwrite(os.path.join(folder, f"img_{i}.png"), img)
    return folder


def settings(tiny, images, out, **kw):
    from kino_backend.training.lora import LoraSettings
    base = dict(images=images, model=tiny["sd15-tiny.safetensors"], out=out, steps=25, resolution=64, rank=4,
                lr=1e-2, batch=2, seed=0, prompt="a photo of kino_subject")
    base.update(kw)
    return LoraSettings(**base)


def latents(pipe, image, seed=3):
    """img2img latents (random-weight images saturate; latents are the honest comparison)."""
    import torch
    out = pipe(prompt="a photo of kino_subject", image=image, strength=0.7, num_inference_steps=4,
               guidance_scale=5.0, generator=torch.Generator("cpu").manual_seed(seed), output_type="latent")
    return out.images.float()
