"""AnimateDiff motion modules: recognise them, read their configuration from the tensors, load them.

Two layouts are accepted for ``motion_adapter=PATH``:

- a diffusers ``MotionAdapter`` folder (``config.json`` + ``diffusion_pytorch_model.safetensors``);
- an original AnimateDiff motion-module file (``mm_sd_v15_v2.ckpt``, ``v3_sd15_mm.ckpt``,
  ``AnimateLCM_sd15_t2v.ckpt`` ...) once converted to ``.safetensors`` with ``scripts/kino models
  convert`` (tensors only; Kino never unpickles while stylizing). Its keys are renamed to the diffusers
  layout here and the configuration is read from the tensors' shapes.

Versions, from the tensors: v1 (positional table of 24 frames, no middle-block module), v2 (32 frames,
a middle-block module), v3 (32 frames, none in the middle) and AnimateLCM (v2's layout, told apart by
its name). Torch/diffusers are imported lazily.
"""
from __future__ import annotations

import json
import os
import re
from typing import Optional

from ..stages.base import StageError

MOTION_KEY = re.compile(r"(^|\.)motion_modules\.\d+\.")
_ORIGINAL_RENAMES = ((".temporal_transformer.", "."), (".attention_blocks.0.", ".attn1."),
                     (".attention_blocks.1.", ".attn2."), (".norms.0.", ".norm1."), (".norms.1.", ".norm2."),
                     (".ff_norm.", ".norm3."))


def is_motion_state(keys) -> bool:
    return any(MOTION_KEY.search(k) for k in keys)


def is_original_layout(keys) -> bool:
    return any(".temporal_transformer." in k for k in keys)


def to_diffusers_keys(state: dict) -> dict:
    """Original AnimateDiff keys -> diffusers ``MotionAdapter`` keys (values untouched). The positional
    table sits once per transformer block in diffusers (``pos_embed.pe``); the original repeats it for
    both attention layers, so the second copy is dropped."""
    out = {}
    for key, value in state.items():
        if ".attention_blocks.1.pos_encoder." in key:
            continue
        new = key.replace(".attention_blocks.0.pos_encoder.", ".pos_embed.")
        for old, rep in _ORIGINAL_RENAMES:
            new = new.replace(old, rep)
        out[new] = value
    return out


def _count(shapes: dict, pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in shapes for m in [rx.match(k)] if m})


def adapter_config(shapes: dict) -> dict:
    """The ``MotionAdapter`` configuration of diffusers-layout tensors ``{name: shape}``."""
    blocks = _count(shapes, r"^down_blocks\.(\d+)\.motion_modules\.")
    if not blocks:
        raise StageError("INVALID_PARAMS", "no motion modules in these weights "
                         "(expected down_blocks.N.motion_modules.*)")
    channels = [shapes[f"down_blocks.{i}.motion_modules.0.proj_in.weight"][0] for i in range(blocks)]
    layers = _count(shapes, r"^down_blocks\.0\.motion_modules\.(\d+)\.")
    tlayers = _count(shapes, r"^down_blocks\.0\.motion_modules\.0\.transformer_blocks\.(\d+)\.")
    pe = next((s for k, s in shapes.items() if k.endswith("pos_embed.pe")), None)
    mid = any(k.startswith("mid_block.motion_modules.") for k in shapes)
    cfg = {"block_out_channels": channels, "motion_layers_per_block": layers,
           "motion_transformer_layers_per_block": tlayers, "motion_num_attention_heads": 8,
           "motion_norm_num_groups": 32, "motion_max_seq_length": int(pe[1]) if pe else 32,
           "use_motion_mid_block": mid}
    if mid:
        cfg["motion_mid_block_layers_per_block"] = _count(shapes, r"^mid_block\.motion_modules\.(\d+)\.")
    if "conv_in.weight" in shapes:
        cfg["conv_in_channels"] = shapes["conv_in.weight"][1]
    return cfg


def variant(config: dict, name: str = "") -> str:
    """v1, v2, v3, animatelcm, sdxl or sparsectrl/pia (the last two are not for Kino's video-to-video)."""
    if config.get("conv_in_channels"):
        return "sparsectrl_or_pia"
    if len(config["block_out_channels"]) == 3:
        return "sdxl"
    if "lcm" in os.path.basename(os.path.normpath(name)).lower():
        return "animatelcm"
    if config.get("motion_max_seq_length") == 24:
        return "v1"
    return "v2" if config.get("use_motion_mid_block") else "v3"


def classify_motion(shapes: dict, path: str) -> dict:
    """Registry entry fields for a motion-module file (``shapes``: its tensors, any layout)."""
    layout = "original" if is_original_layout(shapes) else "diffusers"
    conv = shapes if layout == "diffusers" else to_diffusers_keys(shapes)
    try:
        cfg = adapter_config(conv)
    except (StageError, KeyError, IndexError):
        return {"kind": "unknown", "arch": None, "format": "single_file"}
    var = variant(cfg, path)
    return {"kind": "motion_adapter", "arch": "sdxl" if var == "sdxl" else "sd15", "format": "single_file",
            "layout": layout, "variant": var, "frames": cfg["motion_max_seq_length"]}


def classify_motion_folder(path: str, config: dict) -> dict:
    cfg = {k: config.get(k) for k in ("block_out_channels", "motion_max_seq_length", "use_motion_mid_block",
                                      "conv_in_channels")}
    var = variant(cfg, path)
    return {"kind": "motion_adapter", "arch": "sdxl" if var == "sdxl" else "sd15", "format": "diffusers",
            "variant": var, "frames": cfg.get("motion_max_seq_length") or 32}


def _file_state(path: str) -> dict:
    from safetensors.torch import load_file
    from ..models.files import PICKLE_EXT
    if path.lower().endswith(PICKLE_EXT):
        raise StageError("INVALID_PARAMS", f"{path} is a pickle file, which Kino does not load while stylizing; "
                         f"convert it once: scripts/kino models convert {path} (tensors only), then use the "
                         ".safetensors file it writes", stage="diffusion")
    if not path.lower().endswith(".safetensors"):
        raise StageError("INVALID_PARAMS", f"{path}: give a diffusers MotionAdapter folder or a motion-module "
                         ".safetensors file", stage="diffusion")
    state = load_file(path)
    if not is_motion_state(state):
        checkpoint = any(k.startswith("model.diffusion_model.") for k in state)  # classify's checkpoint test
        raise StageError("INVALID_PARAMS", f"{path} holds no AnimateDiff motion modules"
                         + (" (it is a Stable Diffusion checkpoint: give it as model=)" if checkpoint else "")
                         + "; pick a motion module (a MotionAdapter folder, or an mm_sd_v15*.safetensors file) as "
                         "motion_adapter=", stage="diffusion")
    return to_diffusers_keys(state) if is_original_layout(state) else state


def load_motion_adapter(path: str):
    """A diffusers ``MotionAdapter`` (float32, CPU) from a folder or a motion-module safetensors file."""
    from diffusers import MotionAdapter
    if os.path.isdir(path):
        cfg_path = os.path.join(path, "config.json")
        try:
            with open(cfg_path, encoding="utf-8") as fh:
                is_adapter = json.load(fh).get("_class_name") == "MotionAdapter"
        except (OSError, ValueError):
            is_adapter = False
        if not is_adapter:
            raise StageError("INVALID_PARAMS", f"{path} is not a diffusers MotionAdapter folder (its config.json "
                             "must name MotionAdapter)", stage="diffusion")
        try:
            return MotionAdapter.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise StageError("MODEL_MISSING", f"motion adapter {path} could not be read ({exc}); put the whole "
                             "MotionAdapter folder there", stage="diffusion") from exc
    state = _file_state(path)
    cfg = adapter_config({k: tuple(v.shape) for k, v in state.items()})
    adapter = MotionAdapter(**cfg)
    result = adapter.load_state_dict(state, strict=False)
    unexpected = list(result.unexpected_keys)
    missing = [k for k in result.missing_keys if not k.endswith("pos_embed.pe")]  # the table is computed
    if unexpected or missing:
        raise StageError("INVALID_PARAMS", f"{path}: motion-module tensors do not match their layout "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})", stage="diffusion")
    return adapter


def check_compatible(adapter, unet) -> None:
    """The motion modules must sit in this UNet: same blocks, channels and layers per block."""
    a = adapter.config
    ucfg = unet.config
    ub = list(ucfg.block_out_channels)
    layers = ucfg.layers_per_block if isinstance(ucfg.layers_per_block, int) else ucfg.layers_per_block[0]
    if list(a.block_out_channels) != ub or int(a.motion_layers_per_block if isinstance(a.motion_layers_per_block, int)
                                               else a.motion_layers_per_block[0]) != int(layers):
        raise StageError("INVALID_PARAMS", f"this motion adapter (blocks {list(a.block_out_channels)}) does not fit "
                         f"the checkpoint's UNet (blocks {ub}); AnimateDiff motion modules for SD 1.5 need an "
                         "SD 1.5 checkpoint", stage="diffusion")
