"""Diffusers config folders for single-file checkpoints, derived FROM THE TENSORS.

A single-file checkpoint (LDM layout) carries no config. Kino reads the tensor names and shapes from
the safetensors header and derives channels, block count, layers per block, transformer depth,
cross-attention dim, text-encoder sizes and VAE channels, then writes a configs-only diffusers folder
(JSON + tokenizer, no weights) that ``from_single_file(path, config=folder)`` uses. Values that tensors
do not carry follow the architectures' known conventions (SD 1.5: 8 attention heads; SDXL: 64-channel
heads; CLIP text encoders: 64-channel heads; scheduler betas of the released models).
"""
from __future__ import annotations

import json
import os
import re

from ..stages.base import StageError
from . import tokenizer as tok
from kino_addon.protocol.errors import INVALID_PARAMS, MODEL_MISSING

UNET = "model.diffusion_model."
VAE = "first_stage_model."
TE_SD15 = "cond_stage_model.transformer.text_model."
TE1_XL = "conditioner.embedders.0.transformer.text_model."
TE2_XL = "conditioner.embedders.1.model."
SCHEDULER = {"_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "beta_start": 0.00085,
             "beta_end": 0.012, "beta_schedule": "scaled_linear", "clip_sample": False,
             "set_alpha_to_one": False, "steps_offset": 1, "prediction_type": "epsilon"}


def heads_for(hidden: int) -> int:
    """Text-encoder attention heads: CLIP uses 64-channel heads (tiny models: at least one head)."""
    return max(1, hidden // 64)


def _indices(shapes: dict, pattern: str) -> list:
    rx = re.compile(pattern)
    return sorted({int(m[1]) for k in shapes for m in [rx.match(k)] if m})


def _need(shapes: dict, key: str) -> tuple:
    if key not in shapes:
        raise StageError(MODEL_MISSING, f"the checkpoint lacks tensor {key}: it is not a complete SD 1.5/SDXL "
                         "checkpoint (maybe a LoRA, VAE or pruned file). Pick a full checkpoint.")
    return shapes[key]


def unet_config(shapes: dict, arch: str, te2_projection: int = 0, prefix: str = UNET) -> dict:
    p = prefix
    c0, in_ch = _need(shapes, p + "input_blocks.0.0.weight")[:2]
    n_inputs = max(_indices(shapes, re.escape(p) + r"input_blocks\.(\d+)\.")) + 1
    downs = [i for i in range(n_inputs) if p + f"input_blocks.{i}.0.op.weight" in shapes]
    levels = len(downs) + 1
    lpb = (n_inputs - 1 - len(downs)) // levels
    channels, attn, depth = [], [], []
    for lvl in range(levels):
        idx = 1 + lvl * (lpb + 1)
        channels.append(_need(shapes, p + f"input_blocks.{idx}.0.out_layers.3.weight")[0])
        blocks = _indices(shapes, re.escape(p + f"input_blocks.{idx}.1.transformer_blocks.") + r"(\d+)\.")
        attn.append(bool(blocks))
        depth.append(len(blocks) or 1)
    cross = next((s[1] for k, s in shapes.items() if k.startswith(p) and k.endswith("attn2.to_k.weight")), 768)
    proj_in = next((s for k, s in shapes.items() if k.startswith(p) and k.endswith(".proj_in.weight")), (1, 1, 1, 1))
    cfg = {"_class_name": "UNet2DConditionModel", "sample_size": 64 if arch == "sd15" else 128,
           "in_channels": in_ch, "out_channels": shapes.get(p + "out.2.weight", (in_ch,))[0],
           "block_out_channels": channels, "layers_per_block": lpb, "cross_attention_dim": cross,
           "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attn],
           "up_block_types": ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn)],
           "transformer_layers_per_block": depth, "use_linear_projection": len(proj_in) == 2,
           "attention_head_dim": 8 if arch == "sd15" else [max(1, c // 64) for c in channels],
           "norm_num_groups": 32, "center_input_sample": False, "flip_sin_to_cos": True, "freq_shift": 0}
    if p + "middle_block.1.proj_in.weight" not in shapes:
        cfg["mid_block_type"] = "UNetMidBlock2D"
    if p + "label_emb.0.0.weight" in shapes:
        adm = _need(shapes, p + "label_emb.0.0.weight")[1]
        cfg.update(addition_embed_type="text_time", projection_class_embeddings_input_dim=adm,
                   addition_time_embed_dim=(adm - te2_projection) // 6)
    return cfg


def controlnet_config(shapes: dict, arch: str, prefix: str = "") -> dict:
    """ControlNetModel config of an LDM-layout ControlNet (``input_hint_block``, ``zero_convs``)."""
    cfg = unet_config(shapes, arch, prefix=prefix, te2_projection=_xl_text_time(shapes, prefix))
    for k in ("up_block_types", "out_channels", "center_input_sample", "sample_size"):
        cfg.pop(k, None)
    hint = _indices(shapes, re.escape(prefix + "input_hint_block.") + r"(\d+)\.weight")
    outs = [shapes[f"{prefix}input_hint_block.{i}.weight"][0] for i in hint[:-1]]
    cfg.update(_class_name="ControlNetModel", conditioning_embedding_out_channels=outs[0::2],
               conditioning_channels=shapes[f"{prefix}input_hint_block.0.weight"][1])
    return cfg


def _xl_text_time(shapes: dict, prefix: str) -> int:
    """SDXL ControlNets carry no text encoder: the pooled text embedding is CLIP-G's 1280 (tiny: adm - 6*8)."""
    adm = shapes.get(prefix + "label_emb.0.0.weight", (0, 0))[1]
    return 1280 if adm == 2816 else max(0, adm - 48)


def vae_config(shapes: dict, arch: str, prefix: str = VAE) -> dict:
    p = prefix
    levels = _indices(shapes, re.escape(p + "encoder.down.") + r"(\d+)\.")
    if not levels:
        raise StageError(MODEL_MISSING, "the checkpoint has no VAE (first_stage_model.*); pick a full checkpoint "
                         "or give a separate VAE file with vae=PATH.")
    channels = [_need(shapes, p + f"encoder.down.{i}.block.0.conv2.weight")[0] for i in levels]
    lpb = len(_indices(shapes, re.escape(p + "encoder.down.0.block.") + r"(\d+)\."))
    return {"_class_name": "AutoencoderKL", "in_channels": _need(shapes, p + "encoder.conv_in.weight")[1],
            "out_channels": _need(shapes, p + "decoder.conv_out.weight")[0],
            "latent_channels": _need(shapes, p + "decoder.conv_in.weight")[1],
            "block_out_channels": channels, "layers_per_block": lpb, "norm_num_groups": 32,
            "down_block_types": ["DownEncoderBlock2D"] * len(channels),
            "up_block_types": ["UpDecoderBlock2D"] * len(channels), "act_fn": "silu",
            "sample_size": 512 if arch == "sd15" else 1024,
            "scaling_factor": 0.18215 if arch == "sd15" else 0.13025, "force_upcast": arch != "sd15",
            "use_quant_conv": p + "quant_conv.weight" in shapes,
            "use_post_quant_conv": p + "post_quant_conv.weight" in shapes,
            "mid_block_add_attention": p + "encoder.mid.attn_1.q.weight" in shapes}


def _clip(vocab: int, hidden: int, pos: int, layers: int, inter: int, act: str, arch_cls: str, proj: int = 0) -> dict:
    cfg = {"architectures": [arch_cls], "model_type": "clip_text_model", "vocab_size": vocab,
           "hidden_size": hidden, "intermediate_size": inter, "num_hidden_layers": layers,
           "num_attention_heads": heads_for(hidden), "max_position_embeddings": pos, "hidden_act": act,
           "layer_norm_eps": 1e-5, "bos_token_id": vocab - 2, "eos_token_id": vocab - 1, "pad_token_id": vocab - 1}
    if proj:
        cfg["projection_dim"] = proj
    return cfg


def clip_hf_config(shapes: dict, prefix: str) -> dict:
    vocab, hidden = _need(shapes, prefix + "embeddings.token_embedding.weight")
    layers = len(_indices(shapes, re.escape(prefix + "encoder.layers.") + r"(\d+)\."))
    return _clip(vocab, hidden, _need(shapes, prefix + "embeddings.position_embedding.weight")[0], layers,
                 _need(shapes, prefix + "encoder.layers.0.mlp.fc1.weight")[0], "quick_gelu", "CLIPTextModel")


def clip_openclip_config(shapes: dict, prefix: str = TE2_XL) -> dict:
    vocab, hidden = _need(shapes, prefix + "token_embedding.weight")
    layers = len(_indices(shapes, re.escape(prefix + "transformer.resblocks.") + r"(\d+)\."))
    return _clip(vocab, hidden, _need(shapes, prefix + "positional_embedding")[0], layers,
                 _need(shapes, prefix + "transformer.resblocks.0.mlp.c_fc.weight")[0], "gelu",
                 "CLIPTextModelWithProjection", proj=_need(shapes, prefix + "text_projection")[1])


def _dump(path: str, obj: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=1, sort_keys=True)


def write_config_folder(shapes: dict, arch: str, out_dir: str) -> str:
    """Write a configs-only diffusers folder for an LDM-layout checkpoint of ``arch`` into ``out_dir``."""
    if arch == "sd15":
        te = {"text_encoder": clip_hf_config(shapes, TE_SD15)}
        pipe_cls, te2_proj = "StableDiffusionPipeline", 0
    elif arch == "sdxl":
        te = {"text_encoder": clip_hf_config(shapes, TE1_XL), "text_encoder_2": clip_openclip_config(shapes)}
        pipe_cls, te2_proj = "StableDiffusionXLPipeline", te["text_encoder_2"]["projection_dim"]
    else:
        raise StageError(INVALID_PARAMS, f"unsupported architecture {arch!r}; Kino loads sd15 and sdxl checkpoints.")
    index = {"_class_name": pipe_cls, "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"], "scheduler": ["diffusers", "DDIMScheduler"]}
    _dump(os.path.join(out_dir, "unet", "config.json"), unet_config(shapes, arch, te2_proj))
    _dump(os.path.join(out_dir, "vae", "config.json"), vae_config(shapes, arch))
    _dump(os.path.join(out_dir, "scheduler", "scheduler_config.json"), SCHEDULER)
    for n, (name, cfg) in enumerate(te.items()):
        _dump(os.path.join(out_dir, name, "config.json"), cfg)
        tok_name = "tokenizer" if n == 0 else "tokenizer_2"
        tok.tokenizer_dir(cfg["vocab_size"], os.path.join(out_dir, tok_name), pad_token=tok.EOS if n == 0 else "!")
        index[name] = ["transformers", cfg["architectures"][0]]
        index[tok_name] = ["transformers", "CLIPTokenizer"]
    if arch == "sd15":
        index.update(safety_checker=[None, None], feature_extractor=[None, None], requires_safety_checker=False)
    else:
        index.update(force_zeros_for_empty_prompt=True)
    _dump(os.path.join(out_dir, "model_index.json"), index)
    return out_dir
