"""How much AnimateDiff does per call, chosen from the free GPU memory: how many context windows go
through the UNet together and how many frames the VAE decodes (and encodes) at once (VAE slicing).

Estimates per latent pixel (SD 1.5, half precision, PyTorch's fused attention) -- deliberately on the
safe side, measured sizes vary with the attention kernel: one UNet sample (one frame of one window, one
guidance half) ~48 KB per latent pixel (about 200 MB at 512x512), one VAE decode ~350 KB per latent
pixel (about 1.4 GB at 512x512). Scaled by the dtype's size for float32. On a CPU (or Apple MPS) one
window per call and 4 frames per VAE call keep the peak small.
"""
from __future__ import annotations

UNET_BYTES_PER_PX = 48_000
VAE_BYTES_PER_PX = 350_000
MAX_WINDOWS = 8
MAX_VAE_CHUNK = 16
USABLE = 0.7  # of the free memory, the rest stays for fragmentation and the other parts


def choose(free_bytes, latent_hw: tuple, frames_per_window: int, cfg: bool, dtype_bytes: int = 2) -> dict:
    """Pure logic: ``{"windows_per_call", "vae_chunk"}`` for ``free_bytes`` of GPU memory (None: no GPU)."""
    if free_bytes is None:
        return {"windows_per_call": 1, "vae_chunk": 4}
    px = latent_hw[0] * latent_hw[1]
    scale = dtype_bytes / 2.0
    per_window = frames_per_window * (2 if cfg else 1) * UNET_BYTES_PER_PX * px * scale
    budget = free_bytes * USABLE
    windows = int(max(1, min(MAX_WINDOWS, budget // max(per_window, 1))))
    chunk = int(max(1, min(MAX_VAE_CHUNK, budget // max(VAE_BYTES_PER_PX * px * scale, 1))))
    return {"windows_per_call": windows, "vae_chunk": chunk}


def plan(device, latent_hw: tuple, frames_per_window: int, cfg: bool, dtype) -> dict:
    """``choose`` with the device's free memory now (CUDA), recorded with it."""
    import torch
    free = None
    if getattr(device, "type", str(device)).startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
    out = choose(free, latent_hw, frames_per_window, cfg, dtype_bytes=torch.tensor([], dtype=dtype).element_size())
    out["free_bytes"] = int(free) if free is not None else None
    return out
