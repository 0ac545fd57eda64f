"""IP-Adapter FaceID: identity-preserving generation from the actor's face embedding.

An IP-Adapter FaceID file (e.g. ``ip-adapter-faceid_sd15.bin`` / ``.safetensors``, users supply it) has
an ``image_proj`` that maps a 512-d ArcFace embedding (from a face pack, ``faces.py``) to 4 tokens; it
needs no CLIP image encoder. ``load_faceid(pipe, path)`` attaches it to a diffusers SD pipeline and
``faceid_embeds(model, images)`` makes the ``ip_adapter_image_embeds`` argument: the mean of the
largest faces' unit embeddings, shaped ``[2, 1, 512]`` with the zero embedding first for
classifier-free guidance (``[1, 1, 512]`` without it).

Random FaceID test weights (``tiny_faceid_state``) live with the tiny models in ``models/tiny_adapters.py``.
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


def is_faceid_plus(shapes: dict) -> bool:
    """FaceID Plus (a perceiver over CLIP image features as well as the face embedding)."""
    return any(k.startswith("image_proj.perceiver_resampler.") for k in shapes)


def aligned_face_crop(image_rgb: np.ndarray, face, size: int = 224) -> np.ndarray:
    """The face aligned on its 5 landmarks (ArcFace template), ``size`` px: FaceID Plus's CLIP input."""
    from insightface.utils import face_align
    return np.ascontiguousarray(face_align.norm_crop(image_rgb, landmark=np.asarray(face.kps), image_size=size))
