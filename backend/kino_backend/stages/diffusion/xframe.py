"""Cross-frame attention to a keyframe (the idea of Rerender-A-Video / Text2Video-Zero, written for Kino).

In every UNet self-attention layer, each frame's queries also attend to the keys and values of the
clip's keyframe (its first stylized frame) at the same denoising step, so textures and colours the
keyframe chose are reused in later frames. The keyframe itself is unchanged: attending to a copy of
its own tokens gives the same softmax average.

``CrossFrameAttention(unet)`` swaps the self-attention processors of that UNet (``attn1``) and
``remove()`` puts the original ones back (the UNet is shared through the warm model cache).
Call ``begin(n_frames, cfg)`` before each pipeline call. Torch is imported lazily.
"""
from __future__ import annotations


class _KeyframeState:
    """Per-layer hidden states recorded while the keyframe is denoised, replayed for the other frames."""

    def __init__(self):
        self.store: dict[str, list] = {}  # layer -> keyframe hidden states per denoising step
        self.counter: dict[str, int] = {}
        self.recorded = False
        self.n = 1
        self.cfg = False

    def key_rows(self) -> list[int]:
        """Rows of the batched hidden states that belong to the first frame (uncond, cond)."""
        return [0, self.n] if self.cfg else [0]


class _KeyframeSelfAttention:
    """Self-attention whose keys/values are the frame's own tokens plus the keyframe's."""

    def __init__(self, state: _KeyframeState, name: str, base):
        self.state = state
        self.name = name
        self.base = base  # the processor this one replaced

    def _keyframe_context(self, hidden_states):
        import torch
        st = self.state
        step = st.counter.get(self.name, 0)
        st.counter[self.name] = step + 1
        stored = st.store.setdefault(self.name, [])
        if not st.recorded:  # this call holds the keyframe: keep its tokens for later frames
            stored.append(hidden_states[st.key_rows()].detach())
        key = stored[min(step, len(stored) - 1)]
        if st.cfg:  # uncond rows attend to the keyframe's uncond tokens, cond rows to its cond tokens
            b = hidden_states.shape[0] // 2
            key = torch.cat([key[0:1].expand(b, -1, -1), key[1:2].expand(b, -1, -1)])
        else:
            key = key[0:1].expand(hidden_states.shape[0], -1, -1)
        return torch.cat([hidden_states, key.to(hidden_states.dtype)], dim=1)

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        import torch.nn.functional as F
        if hidden_states.ndim != 3 or encoder_hidden_states is not None or attn.group_norm is not None \
                or attn.spatial_norm is not None or attention_mask is not None:
            raise RuntimeError(f"cross-frame attention supports transformer self-attention only ({self.name})")
        residual = hidden_states
        batch = hidden_states.shape[0]
        context = self._keyframe_context(hidden_states)
        query, key, value = attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        out = F.scaled_dot_product_attention(query, key, value, dropout_p=0.0, is_causal=False)
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


class CrossFrameAttention:
    """Swaps the UNet's self-attention processors for ones that also attend to the keyframe's
    recorded states (style shared across frames); ``remove()`` puts the originals back."""

    def __init__(self, unet):
        self.unet = unet
        self.state = _KeyframeState()
        swapped = {}
        for name, proc in unet.attn_processors.items():
            base = proc.base if isinstance(proc, _KeyframeSelfAttention) else proc
            swapped[name] = _KeyframeSelfAttention(self.state, name, base) if name.endswith("attn1.processor") else proc
        if not any(isinstance(p, _KeyframeSelfAttention) for p in swapped.values()):
            raise RuntimeError("this UNet has no self-attention layers for cross-frame attention")
        unet.set_attn_processor(swapped)

    def begin(self, n_frames: int, cfg: bool) -> None:
        """Before each pipeline call: ``n_frames`` frames, with classifier-free guidance or not."""
        st = self.state
        if st.store and not st.recorded:
            st.recorded = True  # the previous call produced the keyframe
        st.counter = {}
        st.n, st.cfg = n_frames, cfg

    def remove(self) -> None:
        """Put back the processors this instance replaced (others' stay as they are)."""
        def restore(p):
            return p.base if isinstance(p, _KeyframeSelfAttention) and p.state is self.state else p
        self.unet.set_attn_processor({n: restore(p) for n, p in self.unet.attn_processors.items()})
        self.state.store.clear()
