"""EVA02 visual-tower configuration from tensor names and shapes (no torch: used by ``classify_pulid``).

See ``eva_vit`` for the architecture. The head size comes from the RoPE buffer (``rope.freqs_cos``,
[grid², head size]) when the file has one, else 64 (every EVA02 CLIP model).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

HIDDEN_BLOCKS = (4, 8, 12, 16, 20)  # PuLID's hidden states = the inputs of these blocks


@dataclass(frozen=True)
class EvaConfig:
    """The EVA02-CLIP vision tower's shape, read from the checkpoint's tensor shapes."""
    image_size: int
    patch_size: int
    width: int
    depth: int
    heads: int
    mlp_hidden: int
    embed_dim: int

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def head_dim(self) -> int:
        return self.width // self.heads


VISUAL_PREFIX = "visual."
_VISUAL_ROOTS = ("cls_token", "pos_embed", "patch_embed.", "blocks.", "norm.", "head.", "rope.", "fc_norm.")


def visual_state(state: dict) -> dict:
    """The visual tower's tensors from a state dict with or without the ``visual.`` prefix; text
    tower tensors and anything else are dropped."""
    has_prefix = any(k.startswith(VISUAL_PREFIX) for k in state)
    out = {}
    for key, value in state.items():
        if has_prefix:
            if not key.startswith(VISUAL_PREFIX):
                continue
            key = key[len(VISUAL_PREFIX):]
        if key.startswith(_VISUAL_ROOTS):
            out[key] = value
    return out


def is_eva_visual(shapes: dict) -> bool:
    """True when ``shapes`` ({name: shape}, prefixed or not) hold an EVA02 visual tower."""
    vis = visual_state(shapes)
    return all(k in vis for k in ("cls_token", "pos_embed", "patch_embed.proj.weight", "head.weight")) and \
        "blocks.0.attn.q_proj.weight" in vis and "blocks.0.mlp.w1.weight" in vis


def config_from_shapes(shapes: dict) -> EvaConfig:
    """Tower configuration from {name: shape} (visual keys, prefix already removed)."""
    width = int(shapes["cls_token"][-1])
    patch = int(shapes["patch_embed.proj.weight"][-1])
    grid = math.isqrt(int(shapes["pos_embed"][1]) - 1)
    depth = 1 + max(int(m.group(1)) for k in shapes for m in [re.match(r"blocks\.(\d+)\.", k)] if m)
    rope = shapes.get("rope.freqs_cos") or shapes.get("blocks.0.attn.rope.freqs_cos")
    head_dim = int(rope[-1]) if rope else min(64, width)
    return EvaConfig(image_size=grid * patch, patch_size=patch, width=width, depth=depth,
                     heads=max(1, width // head_dim), mlp_hidden=int(shapes["blocks.0.mlp.w1.weight"][0]),
                     embed_dim=int(shapes["head.weight"][0]))
