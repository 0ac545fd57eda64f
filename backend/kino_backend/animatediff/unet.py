"""A ``UNetMotionModel`` that *shares* the checkpoint's UNet: the spatial layers are the very modules
of the loaded ``UNet2DConditionModel`` (no copy, no extra memory), the temporal layers are the motion
adapter's. So everything Kino attaches to the checkpoint's UNet -- LoRAs (peft layers inside its
attention modules), IP-Adapter / FaceID attention processors -- acts in the motion UNet as well.

diffusers' ``UNetMotionModel.from_unet2d`` copies the weights instead; built here on the meta device
(no allocation) and then given the shared modules, it computes exactly what diffusers' copy computes.
"""
from __future__ import annotations

SPATIAL_TOP = ("conv_in", "time_proj", "time_embedding", "conv_norm_out", "conv_act", "conv_out")
SPATIAL_BLOCK = ("resnets", "attentions", "downsamplers", "upsamplers")


def build_motion_unet(unet, adapter):
    """The motion UNet for ``unet`` + ``adapter`` (adapter already on the UNet's device and dtype)."""
    import torch
    from diffusers import UNetMotionModel
    from .adapter import check_compatible
    check_compatible(adapter, unet)
    with torch.device("meta"):  # the structure only: every parameter is replaced below
        model = UNetMotionModel.from_unet2d(unet, adapter, load_weights=False)
    for name in SPATIAL_TOP:
        setattr(model, name, getattr(unet, name))
    for mine, theirs, motion in zip(model.down_blocks, unet.down_blocks, adapter.down_blocks):
        _share_block(mine, theirs, motion)
    for mine, theirs, motion in zip(model.up_blocks, unet.up_blocks, adapter.up_blocks):
        _share_block(mine, theirs, motion)
    _share_block(model.mid_block, unet.mid_block, adapter.mid_block)
    model.encoder_hid_proj = None  # Kino projects IP-Adapter embeddings itself, one row per frame
    meta = [n for n, p in list(model.named_parameters()) + list(model.named_buffers()) if p.device.type == "meta"]
    if meta:
        raise RuntimeError(f"motion UNet left unshared parameters: {meta[:5]}")
    return model.eval()


def _share_block(mine, theirs, motion) -> None:
    for name in SPATIAL_BLOCK:
        if getattr(theirs, name, None) is not None:
            setattr(mine, name, getattr(theirs, name))
    if motion is not None and hasattr(mine, "motion_modules"):
        mine.motion_modules = motion.motion_modules
