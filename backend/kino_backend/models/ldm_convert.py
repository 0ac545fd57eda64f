"""Convert diffusers state dicts to the original LDM single-file layout (the Civitai checkpoint layout).

Used by ``make-tiny`` to write ``sd15-tiny.safetensors`` exactly the way real SD 1.5 checkpoints are laid
out, so the single-file loading path is exercised for real (diffusers converts it back on load).
"""
from __future__ import annotations

import re

RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
          "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
UNET_TOP = {"conv_in": "input_blocks.0.0", "time_embedding.linear_1": "time_embed.0",
            "time_embedding.linear_2": "time_embed.2", "conv_norm_out": "out.0", "conv_out": "out.2",
            "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2"}


def _resnet(rest: str) -> str:
    head, _, tail = rest.partition(".")
    return f"{RESNET.get(head, head)}.{tail}"


def unet_key(key: str, lpb: int, up_has_attn: list) -> str:
    """One diffusers UNet key -> LDM key (without the ``model.diffusion_model.`` prefix)."""
    for src, dst in UNET_TOP.items():
        if key.startswith(src + "."):
            return dst + key[len(src):]
    m = re.match(r"down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)\.(.*)", key)
    if m:
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        if kind == "downsamplers":
            return f"input_blocks.{1 + i * (lpb + 1) + lpb}.0.op.{rest.split('.', 1)[1]}"
        idx = 1 + i * (lpb + 1) + j
        return f"input_blocks.{idx}.0.{_resnet(rest)}" if kind == "resnets" else f"input_blocks.{idx}.1.{rest}"
    m = re.match(r"up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)\.(.*)", key)
    if m:
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        if kind == "upsamplers":
            return f"output_blocks.{i * (lpb + 1) + lpb}.{2 if up_has_attn[i] else 1}.{rest}"
        idx = i * (lpb + 1) + j
        return f"output_blocks.{idx}.0.{_resnet(rest)}" if kind == "resnets" else f"output_blocks.{idx}.1.{rest}"
    m = re.match(r"mid_block\.(resnets|attentions)\.(\d+)\.(.*)", key)
    if m:
        kind, j, rest = m[1], int(m[2]), m[3]
        if kind == "attentions":
            return f"middle_block.1.{rest}"
        return f"middle_block.{0 if j == 0 else 2}.{_resnet(rest)}"
    raise KeyError(f"no LDM name for UNet key {key}")


def unet_to_ldm(state: dict, config: dict) -> dict:
    lpb = int(config["layers_per_block"])
    up_has_attn = ["CrossAttn" in t for t in config["up_block_types"]]
    return {"model.diffusion_model." + unet_key(k, lpb, up_has_attn): v for k, v in state.items()}


VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _vae_resnet(rest: str) -> str:
    return rest.replace("conv_shortcut", "nin_shortcut")


def vae_key(key: str, n_levels: int) -> str:
    top = {"encoder.conv_norm_out": "encoder.norm_out", "decoder.conv_norm_out": "decoder.norm_out"}
    for src, dst in top.items():
        if key.startswith(src + "."):
            return dst + key[len(src):]
    m = re.match(r"encoder\.down_blocks\.(\d+)\.(resnets\.(\d+)|downsamplers\.0)\.(.*)", key)
    if m:
        i = int(m[1])
        if m[3] is not None:
            return f"encoder.down.{i}.block.{m[3]}.{_vae_resnet(m[4])}"
        return f"encoder.down.{i}.downsample.{m[4]}"
    m = re.match(r"decoder\.up_blocks\.(\d+)\.(resnets\.(\d+)|upsamplers\.0)\.(.*)", key)
    if m:
        i = n_levels - 1 - int(m[1])
        if m[3] is not None:
            return f"decoder.up.{i}.block.{m[3]}.{_vae_resnet(m[4])}"
        return f"decoder.up.{i}.upsample.{m[4]}"
    m = re.match(r"(encoder|decoder)\.mid_block\.(resnets\.(\d+)|attentions\.0)\.(.*)", key)
    if m:
        if m[3] is not None:
            return f"{m[1]}.mid.block_{int(m[3]) + 1}.{_vae_resnet(m[4])}"
        for src, dst in VAE_ATTN.items():
            if m[4].startswith(src + "."):
                return f"{m[1]}.mid.attn_1.{dst}{m[4][len(src):]}"
    if re.match(r"(encoder\.conv_(in|out)|decoder\.conv_(in|out)|quant_conv|post_quant_conv)\.", key):
        return key
    raise KeyError(f"no LDM name for VAE key {key}")


def vae_to_ldm(state: dict, n_levels: int, prefix: str = "first_stage_model.") -> dict:
    out = {}
    for k, v in state.items():
        new = vae_key(k, n_levels)
        if ".mid.attn_1." in new and new.endswith(".weight") and v.ndim == 2:
            v = v.reshape(v.shape[0], v.shape[1], 1, 1)  # LDM uses 1x1 convs for q/k/v/proj_out
        out[prefix + new] = v
    return out


def text_encoder_to_ldm(state: dict, prefix: str = "cond_stage_model.transformer.text_model.") -> dict:
    out = {}
    for k, v in state.items():
        if k.endswith("position_ids"):
            continue
        k = k[len("text_model."):] if k.startswith("text_model.") else k
        out[prefix + k] = v
    return out


def sd15_pipeline_to_ldm(pipe) -> dict:
    """The whole SD 1.5 checkpoint (UNet, VAE, text encoder) as one LDM-layout state dict."""
    state = unet_to_ldm(pipe.unet.state_dict(), dict(pipe.unet.config))
    state.update(vae_to_ldm(pipe.vae.state_dict(), len(pipe.vae.config.block_out_channels)))
    state.update(text_encoder_to_ldm(pipe.text_encoder.state_dict()))
    return {k: v.detach().contiguous().clone() for k, v in state.items()}


OPENCLIP_LAYER = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
                  "self_attn.out_proj": "attn.out_proj"}


def openclip_text_to_ldm(state: dict, prefix: str = "conditioner.embedders.1.model.") -> dict:
    """A CLIPTextModelWithProjection state dict in OpenCLIP's layout (fused q/k/v ``in_proj``, [H, P] projection)."""
    state = {(k[len("text_model."):] if k.startswith("text_model.") else k): v for k, v in state.items()}
    out = {prefix + "token_embedding.weight": state["embeddings.token_embedding.weight"],
           prefix + "positional_embedding": state["embeddings.position_embedding.weight"],
           prefix + "ln_final.weight": state["final_layer_norm.weight"],
           prefix + "ln_final.bias": state["final_layer_norm.bias"],
           prefix + "text_projection": state["text_projection.weight"].T.contiguous()}
    n_layers = len({k.split(".")[2] for k in state if k.startswith("encoder.layers.")})
    import torch
    for i in range(n_layers):
        src, dst = f"encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[dst + f"attn.in_proj_{kind}"] = torch.cat([state[src + f"self_attn.{p}_proj.{kind}"] for p in "qkv"])
            for a, b in OPENCLIP_LAYER.items():
                out[dst + f"{b}.{kind}"] = state[src + f"{a}.{kind}"]
    return out


def sdxl_pipeline_to_ldm(pipe) -> dict:
    """The whole SDXL checkpoint (UNet, VAE, both text encoders) as one LDM-layout state dict."""
    state = unet_to_ldm(pipe.unet.state_dict(), dict(pipe.unet.config))
    state.update(vae_to_ldm(pipe.vae.state_dict(), len(pipe.vae.config.block_out_channels)))
    state.update(text_encoder_to_ldm(pipe.text_encoder.state_dict(), "conditioner.embedders.0.transformer.text_model."))
    state.update(openclip_text_to_ldm(pipe.text_encoder_2.state_dict()))
    return {k: v.detach().contiguous().clone() for k, v in state.items()}


def controlnet_to_ldm(state: dict, config: dict, prefix: str = "control_model.") -> dict:
    """A diffusers ControlNetModel state dict in the original ControlNet layout (``input_hint_block``,
    ``zero_convs``, ``middle_block_out``)."""
    lpb = int(config["layers_per_block"])
    n_blocks = len({k.split(".")[2] for k in state if k.startswith("controlnet_cond_embedding.blocks.")})
    out = {}
    for k, v in state.items():
        m = re.match(r"controlnet_cond_embedding\.(conv_in|conv_out|blocks\.(\d+))\.(.*)", k)
        if m:
            idx = 0 if m[1] == "conv_in" else 2 * (n_blocks + 1) if m[1] == "conv_out" else 2 * (int(m[2]) + 1)
            new = f"input_hint_block.{idx}.{m[3]}"
        elif k.startswith("controlnet_down_blocks."):
            i, rest = k[len("controlnet_down_blocks."):].split(".", 1)
            new = f"zero_convs.{i}.0.{rest}"
        elif k.startswith("controlnet_mid_block."):
            new = "middle_block_out.0." + k[len("controlnet_mid_block."):]
        else:
            new = unet_key(k, lpb, [])
        out[prefix + new] = v.detach().contiguous().clone()
    return out
