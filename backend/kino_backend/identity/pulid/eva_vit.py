"""EVA02-CLIP visual tower (the image side of EVA02-CLIP-L-14-336), as PuLID uses it.

Architecture (EVA02, Fang et al. 2023): patch embedding + class token + absolute position embedding,
then pre-norm transformer blocks whose attention has separate q/k/v projections (q and v biases, no k
bias), 2D rotary position embedding on the patch tokens (not the class token), a LayerNorm on the
attention output before its projection ("sub-LN"), and a SwiGLU MLP with its own sub-LN. The class
token after the final LayerNorm, projected by ``head``, is the image embedding. All LayerNorms use
eps 1e-6.

PuLID also takes hidden states: the token sequences entering blocks 4, 8, 12, 16 and 20 (i.e. the
outputs of blocks 3, 7, 11, 15, 19, counted from 0), in that order, before any normalisation.

The configuration is read from tensor shapes (``config_from_shapes``), so the real L-336 tower
(width 1024, 24 blocks, 16 heads of 64, SwiGLU 2730, 336 px / patch 14, embedding 768) and Kino's tiny
test tower load with the same code. The head size comes from the RoPE buffer (``rope.freqs_cos``) when
the file has one, else 64 (every EVA02 CLIP model). RoPE tables are recomputed, never loaded: EVA02
CLIP models were pre-trained at a 16 x 16 patch grid and interpolate the frequencies to the actual grid.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .eva_shapes import HIDDEN_BLOCKS, EvaConfig, config_from_shapes, visual_state

# EVA / OpenAI CLIP image normalisation (EVA-CLIP's transforms use OpenAI's constants)
IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)
PRETRAIN_GRID = 16
LN_EPS = 1e-6


def rope_tables(grid: int, head_dim: int, pretrain_grid: int = PRETRAIN_GRID) -> tuple:
    """cos/sin tables [grid*grid, head_dim] of EVA02's 2D RoPE: the first half of each head rotates
    with the patch row, the second half with the column; frequencies interleaved in pairs."""
    half = head_dim // 2
    inv_freq = 1.0 / (10000 ** (torch.arange(0, half, 2)[: half // 2].float() / half))
    pos = torch.arange(grid) / grid * pretrain_grid
    f = torch.einsum("i,f->if", pos, inv_freq).repeat_interleave(2, dim=-1)  # [grid, half]
    rows = f[:, None, :].expand(grid, grid, half)
    cols = f[None, :, :].expand(grid, grid, half)
    table = torch.cat([rows, cols], dim=-1).reshape(grid * grid, 2 * half)
    return table.cos(), table.sin()


def _rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    pairs = x.unflatten(-1, (-1, 2))
    return torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)


class _Attention(nn.Module):
    """EVA02 multi-head self-attention with 2D rotary position embedding and a sub-LayerNorm."""

    def __init__(self, cfg: EvaConfig):
        super().__init__()
        self.heads = cfg.heads
        inner = cfg.width
        self.q_proj = nn.Linear(cfg.width, inner, bias=False)
        self.k_proj = nn.Linear(cfg.width, inner, bias=False)
        self.v_proj = nn.Linear(cfg.width, inner, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(inner))
        self.v_bias = nn.Parameter(torch.zeros(inner))
        self.inner_attn_ln = nn.LayerNorm(inner, eps=LN_EPS)
        self.proj = nn.Linear(inner, cfg.width)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape
        return t.reshape(b, n, self.heads, -1).transpose(1, 2)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        q = self._heads(F.linear(x, self.q_proj.weight, self.q_bias))
        k = self._heads(F.linear(x, self.k_proj.weight))
        v = self._heads(F.linear(x, self.v_proj.weight, self.v_bias))

        def rope(t):  # class token (index 0) keeps its value
            patches = t[:, :, 1:]
            return torch.cat([t[:, :, :1], patches * cos + _rotate_pairs(patches) * sin], dim=2).type_as(v)

        out = F.scaled_dot_product_attention(rope(q), rope(k), v)
        out = out.transpose(1, 2).flatten(2)
        return self.proj(self.inner_attn_ln(out))


class _SwiGLU(nn.Module):
    """EVA02's SwiGLU feed-forward with its inner LayerNorm."""

    def __init__(self, cfg: EvaConfig):
        super().__init__()
        self.w1 = nn.Linear(cfg.width, cfg.mlp_hidden)
        self.w2 = nn.Linear(cfg.width, cfg.mlp_hidden)
        self.ffn_ln = nn.LayerNorm(cfg.mlp_hidden, eps=LN_EPS)
        self.w3 = nn.Linear(cfg.mlp_hidden, cfg.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w3(self.ffn_ln(F.silu(self.w1(x)) * self.w2(x)))


class _Block(nn.Module):
    """One EVA02 transformer block: pre-norm attention and SwiGLU, both residual."""

    def __init__(self, cfg: EvaConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.width, eps=LN_EPS)
        self.attn = _Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.width, eps=LN_EPS)
        self.mlp = _SwiGLU(cfg)

    def forward(self, x, cos, sin):
        x = x + self.attn(self.norm1(x), cos, sin)
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(nn.Module):
    """Image to patch tokens: one strided convolution."""

    def __init__(self, cfg: EvaConfig):
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class EvaVisionTower(nn.Module):
    """``forward(pixels [B, 3, S, S], normalised) -> (embedding [B, embed_dim], [hidden [B, 1+grid², width]] * 5)``."""

    def __init__(self, cfg: EvaConfig):
        super().__init__()
        self.cfg = cfg
        self.image_size = cfg.image_size
        self.image_mean, self.image_std = IMAGE_MEAN, IMAGE_STD
        self.patch_embed = _PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.grid ** 2 + 1, cfg.width))
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width, eps=LN_EPS)
        self.head = nn.Linear(cfg.width, cfg.embed_dim)
        cos, sin = rope_tables(cfg.grid, cfg.head_dim)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, pixels: torch.Tensor):
        x = self.patch_embed(pixels)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        cos, sin = self.rope_cos.to(x.dtype), self.rope_sin.to(x.dtype)
        hidden = []
        for idx, block in enumerate(self.blocks):
            if idx in HIDDEN_BLOCKS:
                hidden.append(x)
            x = block(x, cos, sin)
        return self.head(self.norm(x)[:, 0]), hidden


def build_tower(state: dict) -> EvaVisionTower:
    """An ``EvaVisionTower`` holding ``state`` (prefixed or not); strict on the tower's own tensors.

    Raises ``ValueError`` naming what does not fit (the adapter turns it into INVALID_PARAMS)."""
    vis = visual_state(state)
    if "blocks.0.attn.qkv.weight" in vis or "blocks.0.mlp.fc1.weight" in vis:
        raise ValueError("this is an EVA01-style tower (fused qkv / GELU MLP); PuLID needs EVA02-CLIP-L-14-336")
    cfg = config_from_shapes({k: tuple(v.shape) for k, v in vis.items()})
    tower = EvaVisionTower(cfg)
    weights = {k: v for k, v in vis.items() if not k.startswith("rope.") and ".rope." not in k}
    try:
        result = tower.load_state_dict(weights, strict=False)
    except RuntimeError as exc:  # size mismatch
        raise ValueError(f"EVA tower tensors do not fit its inferred config: {str(exc)[:300]}") from None
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"EVA tower tensors do not fit: missing {result.missing_keys[:4]}, "
                         f"unexpected {result.unexpected_keys[:4]}")
    return tower.eval()
