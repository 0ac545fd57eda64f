"""LoRA weights from peft modules to kohya/A1111 keys (``lora_unet_<path>.lora_down.weight`` ...).

diffusers' ``load_lora_weights``, A1111 and ComfyUI all read these files.
"""
from __future__ import annotations

import json
import os
from typing import Dict

from kino_addon.protocol.atomic import usual_file_modes


def _kohya_prefix(prefix: str, module_path: str) -> str:
    if prefix == "lora_te" and not module_path.startswith("text_model."):
        module_path = "text_model." + module_path  # transformers 5 flattens CLIPTextModel; kohya keys keep it
    return f"{prefix}_{module_path.replace('.', '_')}"


def peft_to_kohya(model, prefix: str, alpha: float) -> Dict[str, "object"]:
    """kohya state dict of every peft LoRA layer in ``model`` (``prefix``: lora_unet or lora_te)."""
    import torch
    out = {}
    for name, module in model.named_modules():
        lora_a = getattr(module, "lora_A", None)
        if lora_a is None or not hasattr(lora_a, "keys") or "default" not in lora_a.keys():
            continue
        key = _kohya_prefix(prefix, name)
        out[f"{key}.lora_down.weight"] = lora_a["default"].weight.detach().float().cpu().contiguous()
        out[f"{key}.lora_up.weight"] = module.lora_B["default"].weight.detach().float().cpu().contiguous()
        out[f"{key}.alpha"] = torch.tensor(float(alpha))
    return out


def save_kohya(path: str, unet, text_encoder, rank: int, alpha: float, info: dict) -> int:
    """Write the LoRA file; return the number of LoRA layers saved."""
    from safetensors.torch import save_file
    state = peft_to_kohya(unet, "lora_unet", alpha)
    if text_encoder is not None:
        state.update(peft_to_kohya(text_encoder, "lora_te", alpha))
    if not state:
        raise RuntimeError("no LoRA layers found to save (internal error: the adapter was not attached)")
    from ..models.adapters import non_finite
    bad = non_finite(state)
    if bad:
        raise FloatingPointError(f"the trained weights are not finite ({len(bad)} of {len(state)} tensors, e.g. "
                                 f"{bad[0]}); nothing was written. Lower the learning rate (--lr) and try again.")
    meta = {"ss_network_module": "networks.lora", "ss_network_dim": str(rank), "ss_network_alpha": str(alpha),
            "kino_training": json.dumps(info, sort_keys=True)}
    tmp = f"{path}.part{os.getpid()}"
    try:
        save_file(state, tmp, metadata=meta)
        usual_file_modes(tmp)  # save_file makes it 0600: a LoRA is shared with render nodes and other users
        os.replace(tmp, path)  # a LoRA already there stays whole until the new one is complete
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return sum(1 for k in state if k.endswith(".alpha"))
