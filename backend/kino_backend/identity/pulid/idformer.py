"""PuLID's ID encoders: ``IDFormer`` (v1.1) and ``IDEncoder`` (v1); configs read from tensor shapes.

Input of both: ``id_cond`` = [insightface embedding (512), unit EVA image embedding (768)] = 1280
numbers per face, and the EVA tower's five hidden states (``eva_vit.HIDDEN_BLOCKS``).

* IDFormer (v1.1): a perceiver-resampler. ``id_embedding_mapping`` (MLP) turns each face's ``id_cond``
  into 5 ID tokens; 32 learned query latents are concatenated with them. For each of the 5 hidden
  states in order, ``mapping_i`` (MLP) projects the ViT tokens; ``depth / 5`` perceiver layers then let
  the latents attend to [ID tokens, mapped ViT tokens, latents], each followed by a feed-forward layer
  (both residual). The first 32 latents times ``proj_out`` are the output: [B, 32, cross_dim].
  Several faces: ``id_cond`` [B, n, 1280] gives 5n ID tokens, their hidden states are concatenated
  along the token axis.
* IDEncoder (v1): an MLP ``body`` gives 5 tokens; for each hidden state i, ``mapping_i`` of the class
  token plus the patch-token mean of ``mapping_patch_i`` gives one more: [B, 10, cross_dim].

Attention heads: 64 channels each (the reference's ``dim_head``), one head when narrower.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

DIM_HEAD = 64


def _mlp(shapes: dict, prefix: str) -> nn.Sequential:
    """Linear-LN-LeakyReLU-Linear-LN-LeakyReLU-Linear (indices 0..6), sizes from ``shapes``."""
    d_in, h1, h2 = shapes[f"{prefix}.0.weight"][1], shapes[f"{prefix}.0.weight"][0], shapes[f"{prefix}.3.weight"][0]
    d_out = shapes[f"{prefix}.6.weight"][0]
    return nn.Sequential(nn.Linear(d_in, h1), nn.LayerNorm(h1), nn.LeakyReLU(), nn.Linear(h1, h2),
                         nn.LayerNorm(h2), nn.LeakyReLU(), nn.Linear(h2, d_out))


def _feed_forward(dim: int, inner: int) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, inner, bias=False), nn.GELU(),
                         nn.Linear(inner, dim, bias=False))


class _PerceiverAttention(nn.Module):
    """Latents attend to [context, latents] (both LayerNormed); keys/values from one projection."""

    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.heads = max(1, inner // DIM_HEAD)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, context: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        context, latents = self.norm1(context), self.norm2(latents)
        b, n, _ = latents.shape
        k, v = self.to_kv(torch.cat([context, latents], dim=1)).chunk(2, dim=-1)

        def heads(t):
            return t.reshape(b, t.shape[1], self.heads, -1).transpose(1, 2)

        out = F.scaled_dot_product_attention(heads(self.to_q(latents)), heads(k), heads(v))
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


def _count(shapes: dict, pattern: str) -> int:
    return len({m.group(1) for k in shapes for m in [re.match(pattern, k)] if m})


class IDFormer(nn.Module):
    """PuLID v1.1 ID encoder; ``forward(id_cond [B, 1280] or [B, n, 1280], hidden[5]) -> [B, queries, out]``."""

    def __init__(self, shapes: dict):
        super().__init__()
        _, self.num_queries, self.dim = shapes["latents"]
        self.latents = nn.Parameter(torch.zeros(shapes["latents"]))
        self.proj_out = nn.Parameter(torch.zeros(shapes["proj_out"]))
        inner = shapes["layers.0.0.to_q.weight"][0]
        ff_inner = shapes["layers.0.1.1.weight"][0]
        depth = _count(shapes, r"layers\.(\d+)\.")
        if depth % 5:
            raise ValueError(f"IDFormer depth {depth} is not a multiple of 5")
        self.per_scale = depth // 5
        self.layers = nn.ModuleList(nn.ModuleList([_PerceiverAttention(self.dim, inner),
                                                   _feed_forward(self.dim, ff_inner)]) for _ in range(depth))
        for i in range(5):
            setattr(self, f"mapping_{i}", _mlp(shapes, f"mapping_{i}"))
        self.id_embedding_mapping = _mlp(shapes, "id_embedding_mapping")
        self.num_id_token = shapes["id_embedding_mapping.6.weight"][0] // self.dim

    def forward(self, id_cond: torch.Tensor, hidden: list) -> torch.Tensor:
        faces = id_cond.shape[1] if id_cond.ndim == 3 else 1
        latents = self.latents.expand(id_cond.shape[0], -1, -1)
        ids = self.id_embedding_mapping(id_cond).reshape(-1, self.num_id_token * faces, self.dim)
        latents = torch.cat([latents, ids], dim=1)
        for i in range(5):
            context = torch.cat([ids, getattr(self, f"mapping_{i}")(hidden[i])], dim=1)
            for attn, ff in self.layers[i * self.per_scale:(i + 1) * self.per_scale]:
                latents = attn(context, latents) + latents
                latents = ff(latents) + latents
        return latents[:, :self.num_queries] @ self.proj_out


class IDEncoderV1(nn.Module):
    """PuLID v1 ID encoder; ``forward(id_cond [B, 1280], hidden[5]) -> [B, 5 + 5, out]``."""

    def __init__(self, shapes: dict):
        super().__init__()
        self.body = _mlp(shapes, "body")
        self.context_dim = shapes["mapping_0.6.weight"][0]
        self.num_token = shapes["body.6.weight"][0] // self.context_dim
        for i in range(5):
            setattr(self, f"mapping_{i}", _mlp(shapes, f"mapping_{i}"))
            setattr(self, f"mapping_patch_{i}", _mlp(shapes, f"mapping_patch_{i}"))

    def forward(self, id_cond: torch.Tensor, hidden: list) -> torch.Tensor:
        tokens = [self.body(id_cond).reshape(-1, self.num_token, self.context_dim)]
        for i, h in enumerate(hidden):
            cls_part = getattr(self, f"mapping_{i}")(h[:, :1])
            patch_part = getattr(self, f"mapping_patch_{i}")(h[:, 1:]).mean(dim=1, keepdim=True)
            tokens.append(cls_part + patch_part)
        return torch.cat(tokens, dim=1)


def build_id_encoder(state: dict) -> tuple:
    """(encoder, version) from the ``id_adapter.*`` tensors (prefix removed); strict load.

    Raises ``ValueError`` when the tensors fit neither encoder."""
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    try:
        if "latents" in shapes:
            enc, version = IDFormer(shapes), "v1.1"
        elif "body.0.weight" in shapes:
            enc, version = IDEncoderV1(shapes), "v1"
        else:
            raise ValueError("no IDFormer (latents) or IDEncoder (body) tensors")
        enc.load_state_dict(state, strict=True)
    except (KeyError, RuntimeError) as exc:
        raise ValueError(f"PuLID ID encoder tensors do not fit: {str(exc)[:300]}") from None
    return enc.eval(), version
