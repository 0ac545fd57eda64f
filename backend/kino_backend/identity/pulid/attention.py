"""The diffusers attention processor that adds PuLID's ID branch to one cross-attention layer.

``out = attention(q, k_text, v_text) + scale * correction``, before the layer's output projection,
where ``id = attention(q, id_to_k(T), id_to_v(T))`` over the ID tokens ``T`` followed by ``num_zero``
all-zero tokens (they dilute the ID attention; more zeros = more editability) and

* mode ``fidelity`` (the reference's ORTHO_v2, its default): ``id + (a - 1) * proj(id on text)``,
  ``a`` = the mean over heads of the ID attention's (unscaled-logit softmax) weight on the first 5 ID
  tokens, so only the part of the text direction the ID tokens claim is replaced;
* mode ``style`` (ORTHO, the reference's "extremely style"): ``id - proj(id on text)``, the ID
  component orthogonal to the text attention (per channel, over tokens; a channel whose text attention
  is all zero, as with SDXL's zeroed empty negative prompt, projects to 0 instead of the reference's NaN);
* mode ``plain`` (neither): ``id``.

The ID tokens are set on the processor (``set_tokens``), not passed through ``cross_attention_kwargs``,
and batched to the UNet's batch at call time: with classifier-free guidance diffusers stacks
[uncond x n, cond x n], so the first half gets the uncond tokens and the second half the cond tokens;
without it every sample gets the cond tokens. Token tensors with batch 1 are broadcast; a batch of n
(one per frame) is used as is. Scale 0 (or no tokens) calls the UNet's own processor unchanged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("fidelity", "style", "plain")
NUM_ID_TOKENS_FOR_WEIGHT = 5


class PulidAttnProcessor(nn.Module):
    """A UNet cross-attention processor that adds PuLID's ID tokens (its own K/V projections) to the
    UNet's own attention; holds the current ID tokens and the scale/mode set by the adapter."""

    def __init__(self, hidden_size: int, cross_dim: int, base):
        super().__init__()
        self.id_to_k = nn.Linear(cross_dim, hidden_size, bias=False)
        self.id_to_v = nn.Linear(cross_dim, hidden_size, bias=False)
        self.__dict__["base"] = base  # the UNet's own processor, not a submodule (not in state_dict)
        self.uncond = self.cond = None
        self.scale, self.mode, self.num_zero, self.do_cfg = 0.0, "fidelity", 0, True

    def set_tokens(self, uncond, cond, scale: float, mode: str, num_zero: int, do_cfg: bool) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.uncond, self.cond = uncond, cond
        self.scale, self.mode, self.num_zero, self.do_cfg = float(scale), mode, int(num_zero), bool(do_cfg)

    def clear(self) -> None:
        self.uncond = self.cond = None

    def batched_tokens(self, batch: int) -> torch.Tensor:
        """ID tokens for a UNet batch of ``batch`` samples, in diffusers' CFG layout."""
        def fit(t, n):
            if t.shape[0] == n:
                return t
            if t.shape[0] == 1:
                return t.expand(n, -1, -1)
            raise ValueError(f"ID tokens for {t.shape[0]} samples do not fit a UNet batch of {n}")
        if not self.do_cfg:
            tokens = fit(self.cond, batch)
        elif batch % 2:
            raise ValueError(f"classifier-free guidance needs an even UNet batch, got {batch}")
        else:
            tokens = torch.cat([fit(self.uncond, batch // 2), fit(self.cond, batch // 2)])
        if self.num_zero:
            tokens = torch.cat([tokens, tokens.new_zeros(tokens.shape[0], self.num_zero, tokens.shape[2])], dim=1)
        return tokens

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 *args, **kwargs):
        if self.cond is None or self.scale == 0.0 or encoder_hidden_states is None:
            return self.base(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
        out = self._attend(attn, hidden_states, encoder_hidden_states, attention_mask)
        out = attn.to_out[1](attn.to_out[0](out))
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(batch, channel, height, width)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor

    def _attend(self, attn, hidden_states, encoder_hidden_states, attention_mask):
        batch = encoder_hidden_states.shape[0]
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, encoder_hidden_states.shape[1], batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)

        def heads(t):
            return t.view(batch, -1, attn.heads, t.shape[-1] // attn.heads).transpose(1, 2)

        query = heads(query)
        key, value = heads(attn.to_k(encoder_hidden_states)), heads(attn.to_v(encoder_hidden_states))
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        text = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask)
        text = text.transpose(1, 2).reshape(batch, -1, attn.heads * query.shape[-1]).to(query.dtype)
        tokens = self.batched_tokens(batch).to(device=query.device, dtype=self.id_to_k.weight.dtype)
        id_key = heads(self.id_to_k(tokens).to(query.dtype))
        id_value = heads(self.id_to_v(tokens).to(query.dtype))
        ident = F.scaled_dot_product_attention(query, id_key, id_value)
        ident = ident.transpose(1, 2).reshape(batch, -1, attn.heads * query.shape[-1]).to(query.dtype)
        return combine(text, ident, query, id_key, self.scale, self.mode)


def combine(text, ident, query, id_key, scale: float, mode: str):
    """Text attention plus the scaled ID correction of ``mode`` (shapes [B, N, C]; query/id_key per head)."""
    if mode == "plain":
        return text + scale * ident
    dtype = text.dtype
    text32, ident32 = text.float(), ident.float()
    num, den = (text32 * ident32).sum(dim=-2, keepdim=True), (text32 * text32).sum(dim=-2, keepdim=True)
    # a channel whose text attention is zero on every token (e.g. SDXL's all-zero empty negative prompt)
    # has no text direction to project on: 0 there, where the reference would give 0 / 0 = NaN
    safe = torch.where(den > 0, den, torch.ones_like(den))
    projection = torch.where(den > 0, num / safe, torch.zeros_like(den)) * text32
    if mode == "fidelity":
        weights = (query @ id_key.transpose(-2, -1)).softmax(dim=-1).mean(dim=1)  # [B, N, T]
        weight = weights[:, :, :NUM_ID_TOKENS_FOR_WEIGHT].sum(dim=-1, keepdim=True)
        correction = ident32 + (weight - 1) * projection
    else:
        correction = ident32 - projection
    return (text32 + scale * correction).to(dtype)
