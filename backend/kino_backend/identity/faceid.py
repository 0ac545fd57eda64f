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


def face_embedding(model, images: Sequence[np.ndarray]) -> np.ndarray:
    """Unit mean embedding of the largest face in each RGB image; StageError when none shows a face."""
    embs = [e for e in (model.embedding(img) for img in images) if e is not None]
    if not embs:
        raise StageError("INVALID_PARAMS", "no face found in the reference image(s); use a photo where the "
                         "actor's face is clearly visible, frontal and not too small.")
    mean = np.mean(embs, axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def faceid_embeds(model, images: Sequence[np.ndarray], *, do_cfg: bool = True, device="cpu", dtype=None) -> list:
    """``ip_adapter_image_embeds`` for one FaceID adapter from the actor's photo(s)."""
    import torch
    emb = torch.from_numpy(face_embedding(model, images)).reshape(1, 1, -1)
    if do_cfg:
        emb = torch.cat([torch.zeros_like(emb), emb])
    return [emb.to(device=device, dtype=dtype or torch.float32)]


def load_faceid(pipe, path: str, scale: float = 1.0) -> None:
    """Attach the IP-Adapter FaceID weights file ``path`` (no image encoder) to ``pipe``."""
    if not os.path.isfile(path):
        raise StageError("MODEL_MISSING", f"IP-Adapter FaceID weights not found: {path}. Put the file (e.g. "
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
