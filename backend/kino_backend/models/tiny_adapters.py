"""Random IP-Adapter attention and FaceID / FaceID Plus weights in the original file layouts: the test
models of ``make-tiny`` and the identity tests (needs torch; imported lazily by ``models/tiny.py``'s users)."""
from __future__ import annotations


def add_ip_attention_weights(state: dict, unet, g) -> dict:
    """Random ``ip_adapter.{k}.to_k_ip/to_v_ip`` weights, one pair per cross-attention processor in
    ``unet.attn_processors`` order (k = 1, 3, 5, ...), as IP-Adapter files lay them out."""
    import torch
    cross = unet.config.cross_attention_dim
    k = 1
    for name in unet.attn_processors:
        if not name.endswith("attn2.processor"):
            continue
        hidden = unet.get_submodule(name[: -len(".processor")]).to_k.weight.shape[0]
        for proj in ("to_k_ip", "to_v_ip"):
            state[f"ip_adapter.{k}.{proj}.weight"] = torch.randn(hidden, cross, generator=g) * 0.5
        k += 2
    return state


def tiny_faceid_state(unet, id_dim: int = 512, mult: int = 2, tokens: int = 4, seed: int = 41) -> dict:
    """Random IP-Adapter FaceID weights for ``unet`` in the original flat layout (a test model)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    cross = unet.config.cross_attention_dim
    state = {"image_proj.proj.0.weight": torch.randn(id_dim * mult, id_dim, generator=g) * 0.2,
             "image_proj.proj.0.bias": torch.zeros(id_dim * mult),
             "image_proj.proj.2.weight": torch.randn(cross * tokens, id_dim * mult, generator=g) * 0.2,
             "image_proj.proj.2.bias": torch.zeros(cross * tokens),
             "image_proj.norm.weight": torch.ones(cross), "image_proj.norm.bias": torch.zeros(cross)}
    return add_ip_attention_weights(state, unet, g)


def tiny_faceid_plus_state(unet, hidden_dims: int, id_dim: int = 512, inner: int = 64, depth: int = 4,
                           seed: int = 43) -> dict:
    """Random IP-Adapter FaceID Plus weights for ``unet`` in the original layout (``image_proj.proj``,
    ``image_proj.perceiver_resampler.*``, ``ip_adapter.*``) for a CLIP image encoder with ``hidden_dims``
    channels (a test model; the released files use 768 channels and 16 heads of 64). Its tokens have the
    UNet's cross-attention width, as Plus v2's shortcut (face tokens + perceiver output) needs."""
    import torch
    g = torch.Generator().manual_seed(seed)
    cross = embed = unet.config.cross_attention_dim

    def rnd(*shape):
        return torch.randn(*shape, generator=g) * (0.5 / shape[-1] ** 0.5 if len(shape) == 2 else 0.1)
    pre = "image_proj.perceiver_resampler."
    state = {"image_proj.proj.0.weight": rnd(id_dim * 2, id_dim), "image_proj.proj.0.bias": rnd(id_dim * 2),
             "image_proj.proj.2.weight": rnd(embed * 4, id_dim * 2), "image_proj.proj.2.bias": rnd(embed * 4),
             "image_proj.norm.weight": torch.ones(embed), "image_proj.norm.bias": torch.zeros(embed),
             pre + "proj_in.weight": rnd(embed, hidden_dims), pre + "proj_in.bias": rnd(embed),
             pre + "proj_out.weight": rnd(cross, embed), pre + "proj_out.bias": rnd(cross),
             pre + "norm_out.weight": torch.ones(cross), pre + "norm_out.bias": torch.zeros(cross)}
    for i in range(depth):
        layer = f"{pre}layers.{i}."
        for norm in ("0.norm1", "0.norm2", "1.0"):
            state[f"{layer}{norm}.weight"], state[f"{layer}{norm}.bias"] = torch.ones(embed), torch.zeros(embed)
        state.update({f"{layer}0.to_q.weight": rnd(inner, embed), f"{layer}0.to_kv.weight": rnd(2 * inner, embed),
                      f"{layer}0.to_out.weight": rnd(embed, inner), f"{layer}1.1.weight": rnd(4 * embed, embed),
                      f"{layer}1.3.weight": rnd(embed, 4 * embed)})
    return add_ip_attention_weights(state, unet, g)
