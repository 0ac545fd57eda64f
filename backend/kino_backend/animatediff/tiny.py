"""A tiny random ``MotionAdapter`` shaped for Kino's tiny SD 1.5 UNet (``models.tiny_specs``), saved in
the real diffusers folder format, with 8 attention heads like every released motion module. diffusers
initialises a motion module's output projection to zero (an untrained module does nothing); here every
weight is random, so the tiny module really mixes frames."""
from __future__ import annotations

from ..models import tiny_specs as S


def tiny_motion_adapter(seed: int = 71):
    import torch
    from diffusers import MotionAdapter
    torch.manual_seed(seed)
    unet = S.SD15_UNET
    adapter = MotionAdapter(block_out_channels=tuple(unet["block_out_channels"]),
                            motion_layers_per_block=unet["layers_per_block"], motion_norm_num_groups=32,
                            motion_num_attention_heads=8, motion_max_seq_length=32, use_motion_mid_block=True)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in adapter.named_parameters():
            if name.endswith("pos_embed.pe"):
                continue
            if p.ndim == 1:  # norms and biases: identity-ish norms, small biases
                p.copy_((1.0 if name.split(".")[-2].startswith("norm") and name.endswith("weight") else 0.0)
                        + 0.02 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * (1.0 / p.shape[-1]) ** 0.5)
    return adapter


def write_tiny_motion_adapter(path: str) -> str:
    tiny_motion_adapter().save_pretrained(path, safe_serialization=True)
    return path
