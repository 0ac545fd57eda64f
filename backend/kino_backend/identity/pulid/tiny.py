"""``make_tiny_pulid(out_dir, unet)``: tiny random PuLID test weights in the real file formats.

* ``pulid-tiny.safetensors``: ``id_adapter.*`` (an IDFormer, v1.1 layout: 32 queries, 5 ID tokens,
  depth 5, width 128 = 2 heads of 64) and ``id_adapter_attn_layers.<N>.id_to_k/id_to_v.weight`` for
  each cross-attention processor of ``unet`` (N = its position in ``unet.attn_processors``). The ID
  input is 512 (the tiny face pack's recognizer, like antelopev2) + the tiny tower's embedding.
* ``eva-clip-tiny.safetensors``: an EVA02 visual tower with keys ``visual.*`` (RoPE buffers
  included, as in the real checkpoint): 32 px, patch 8, width 32 (2 heads of 16), 24 blocks (the
  hidden states come from blocks 4..20), SwiGLU 85 (= 32 x 2.6667 like L-336), embedding 24.

Random weights from seeded generators: the same bytes on every run. Test models, not PuLID.
"""
from __future__ import annotations

import os

TOWER = dict(image_size=32, patch_size=8, width=32, depth=24, heads=2, mlp_hidden=85, embed_dim=24)
IDFORMER = dict(dim=128, inner=128, ff_inner=256, depth=5, queries=32, id_tokens=5, hidden=64)
V1_ENCODER = dict(tokens=5, hidden=64)
ID_DIM = 512
WEIGHTS_FILE = "pulid-tiny.safetensors"
ENCODER_FILE = "eva-clip-tiny.safetensors"


def _mlp_shapes(prefix: str, d_in: int, hidden: int, d_out: int) -> dict:
    return {f"{prefix}.0.weight": (hidden, d_in), f"{prefix}.3.weight": (hidden, hidden),
            f"{prefix}.6.weight": (d_out, hidden)}


def idformer_shapes(out_dim: int, vit_width: int, embed_dim: int, c: dict = IDFORMER) -> dict:
    """The shapes ``idformer.IDFormer`` reads its config from."""
    shapes = {"latents": (1, c["queries"], c["dim"]), "proj_out": (c["dim"], out_dim)}
    for i in range(c["depth"]):
        shapes[f"layers.{i}.0.to_q.weight"] = (c["inner"], c["dim"])
        shapes[f"layers.{i}.1.1.weight"] = (c["ff_inner"], c["dim"])
    for i in range(5):
        shapes.update(_mlp_shapes(f"mapping_{i}", vit_width, c["hidden"], c["dim"]))
    shapes.update(_mlp_shapes("id_embedding_mapping", ID_DIM + embed_dim, c["hidden"], c["dim"] * c["id_tokens"]))
    return shapes


def v1_encoder_shapes(out_dim: int, vit_width: int, embed_dim: int, c: dict = V1_ENCODER) -> dict:
    shapes = _mlp_shapes("body", ID_DIM + embed_dim, c["hidden"], out_dim * c["tokens"])
    for i in range(5):
        shapes.update(_mlp_shapes(f"mapping_{i}", vit_width, c["hidden"], out_dim))
        shapes.update(_mlp_shapes(f"mapping_patch_{i}", vit_width, c["hidden"], out_dim))
    return shapes


def _randomize(module, seed: int) -> dict:
    """Seeded random values for every tensor of ``module``: LayerNorm gains near 1, small biases,
    weights with variance 1 / fan-in. Returns a state dict."""
    import torch
    g = torch.Generator().manual_seed(seed)
    norms = {name for name, m in module.named_modules() if isinstance(m, torch.nn.LayerNorm)}
    out = {}
    for name, t in sorted(module.state_dict().items()):
        noise = torch.randn(t.shape, generator=g)
        owner, _, leaf = name.rpartition(".")
        if owner in norms and leaf == "weight":
            out[name] = 1.0 + 0.1 * noise
        elif t.ndim <= 1:
            out[name] = 0.02 * noise
        else:
            out[name] = noise / (t[0].numel() if t.ndim == 4 else t.shape[-1]) ** 0.5
    return out


def tiny_tower_state(seed: int = 71) -> dict:
    """Random EVA02 tower tensors, keys ``visual.*`` plus the RoPE buffers."""
    from .eva_vit import EvaConfig, EvaVisionTower, rope_tables
    cfg = EvaConfig(**TOWER)
    state = _randomize(EvaVisionTower(cfg), seed)
    state["cls_token"] = state["cls_token"] * 0.02
    state["pos_embed"] = state["pos_embed"] * 0.02
    state["rope.freqs_cos"], state["rope.freqs_sin"] = rope_tables(cfg.grid, cfg.head_dim)
    return {f"visual.{k}": v.contiguous() for k, v in state.items()}


def attn_layer_state(unet, cross_dim: int, seed: int = 73, gain: float = 2.0) -> dict:
    """Random ``id_adapter_attn_layers.<N>.id_to_k/id_to_v.weight`` for every cross-attention of ``unet``."""
    import torch
    g = torch.Generator().manual_seed(seed)
    state = {}
    for index, name in enumerate(unet.attn_processors):
        if name.endswith("attn1.processor"):
            continue
        hidden = unet.get_submodule(name[: -len(".processor")]).to_k.weight.shape[0]
        for proj in ("id_to_k", "id_to_v"):
            state[f"id_adapter_attn_layers.{index}.{proj}.weight"] = \
                torch.randn(hidden, cross_dim, generator=g) * gain / cross_dim ** 0.5
    return state


def tiny_pulid_state(unet, version: str = "v1.1", seed: int = 72) -> dict:
    """Random PuLID weights (``id_adapter.*`` + ``id_adapter_attn_layers.*``) for ``unet``."""
    from .idformer import IDEncoderV1, IDFormer
    cross = unet.config.cross_attention_dim
    if version == "v1.1":
        encoder = IDFormer(idformer_shapes(cross, TOWER["width"], TOWER["embed_dim"]))
    else:
        encoder = IDEncoderV1(v1_encoder_shapes(cross, TOWER["width"], TOWER["embed_dim"]))
    state = {f"id_adapter.{k}": v.contiguous() for k, v in _randomize(encoder, seed).items()}
    state.update(attn_layer_state(unet, cross))
    return state


def make_tiny_pulid(out_dir: str, unet) -> dict:
    """Write ``pulid-tiny.safetensors`` (for ``unet``, a tiny SDXL UNet) and ``eva-clip-tiny.safetensors``
    into ``out_dir``; return ``{filename: path}``."""
    from safetensors.torch import save_file
    os.makedirs(out_dir, exist_ok=True)
    out = {WEIGHTS_FILE: os.path.join(out_dir, WEIGHTS_FILE), ENCODER_FILE: os.path.join(out_dir, ENCODER_FILE)}
    save_file(tiny_pulid_state(unet), out[WEIGHTS_FILE], metadata={"format": "pt"})
    save_file(tiny_tower_state(), out[ENCODER_FILE], metadata={"format": "pt"})
    return out
