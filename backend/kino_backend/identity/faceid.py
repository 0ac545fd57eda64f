"""IP-Adapter FaceID: identity-preserving generation from the actor's face embedding.

An IP-Adapter FaceID file (e.g. ``ip-adapter-faceid_sd15.bin`` / ``.safetensors``, users supply it) has
an ``image_proj`` that maps a 512-d ArcFace embedding (from a face pack, ``faces.py``) to 4 tokens; it
needs no CLIP image encoder. ``load_faceid(pipe, path)`` attaches it to a diffusers SD pipeline and
``faceid_embeds(model, images)`` makes the ``ip_adapter_image_embeds`` argument: the mean of the
largest faces' unit embeddings, shaped ``[2, 1, 512]`` with the zero embedding first for
classifier-free guidance (``[1, 1, 512]`` without it).

``tiny_faceid_state(unet)`` builds random FaceID weights in the original layout for tests.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..stages.base import StageError
from kino_addon.protocol.errors import INVALID_PARAMS, MODEL_MISSING


def face_embedding(model, images: Sequence[np.ndarray]) -> np.ndarray:
    """Unit mean embedding of the largest face in each RGB image; StageError when none shows a face."""
    embs = [e for e in (model.embedding(img) for img in images) if e is not None]
    if not embs:
        raise StageError(INVALID_PARAMS, "no face found in the reference image(s); use a photo where the "
                         "actor's face is clearly visible, frontal and not too small.")
    mean = np.mean(embs, axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def face_input(embedding: np.ndarray, *, do_cfg: bool = True, device="cpu", dtype=None):
    """FaceID's input for one unit face embedding: ``[2, 1, D]`` with the zero embedding first under
    classifier-free guidance, ``[1, 1, D]`` without."""
    import torch
    emb = torch.from_numpy(np.ascontiguousarray(embedding, dtype=np.float32)).reshape(1, 1, -1)
    if do_cfg:
        emb = torch.cat([torch.zeros_like(emb), emb])
    return emb.to(device=device, dtype=dtype or torch.float32)


def faceid_embeds(model, images: Sequence[np.ndarray], *, do_cfg: bool = True, device="cpu", dtype=None) -> list:
    """``ip_adapter_image_embeds`` for one FaceID adapter from the actor's photo(s)."""
    return [face_input(face_embedding(model, images), do_cfg=do_cfg, device=device, dtype=dtype)]


def load_faceid(pipe, path: str, scale: float = 1.0) -> None:
    """Attach the IP-Adapter FaceID weights file ``path`` (no image encoder) to ``pipe``."""
    if not os.path.isfile(path):
        raise StageError(MODEL_MISSING, f"IP-Adapter FaceID weights not found: {path}. Put the file (e.g. "
                         "ip-adapter-faceid_sd15.bin) into the models folder; Kino never downloads models.")
    pipe.load_ip_adapter(os.path.dirname(os.path.abspath(path)), subfolder="", weight_name=os.path.basename(path),
                         image_encoder_folder=None, local_files_only=True)
    pipe.set_ip_adapter_scale(scale)


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
    from ..models.tiny import add_ip_attention_weights
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
    from ..models.tiny import add_ip_attention_weights
    return add_ip_attention_weights(state, unet, g)


def is_faceid_plus(shapes: dict) -> bool:
    """FaceID Plus (a perceiver over CLIP image features as well as the face embedding)."""
    return any(k.startswith("image_proj.perceiver_resampler.") for k in shapes)


def aligned_face_crop(image_rgb: np.ndarray, face, size: int = 224) -> np.ndarray:
    """The face aligned on its 5 landmarks (ArcFace template), ``size`` px: FaceID Plus's CLIP input."""
    from insightface.utils import face_align
    return np.ascontiguousarray(face_align.norm_crop(image_rgb, landmark=np.asarray(face.kps), image_size=size))
