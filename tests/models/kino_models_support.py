"""Helpers for the models tests (a uniquely named module: safe when several test folders run together)."""


def latents(loaded, image, steps=4, seed=1, **kw):
    """Run img2img to latents (random-weight images saturate; latents are the honest comparison)."""
    import torch
    out = loaded.pipe(prompt="a photo of a cat", image=image, strength=0.6, num_inference_steps=steps,
                      guidance_scale=7.5, generator=torch.Generator("cpu").manual_seed(seed),
                      output_type="latent", **kw)
    return out.images.float()
