"""Helpers for the identity tests (uniquely named: safe when all test folders run in one pytest).

What is real here: insightface's own ``FaceAnalysis`` code path (model routing by graph shape, SCRFD
decoding, NMS, face alignment, ArcFace preprocessing) and onnxruntime. What is a test model: the tiny
face pack from ``kino_backend.identity.tiny_face`` (a bright square is a "face").
"""
import numpy as np


def square_image(h=160, w=192, boxes=((40, 60, 64),), level=255, background=40, texture_seed=None):
    """RGB uint8 image, dark background with bright squares (x, y, side); optional texture inside."""
    img = np.full((h, w, 3), background, np.uint8)
    rng = np.random.default_rng(texture_seed) if texture_seed is not None else None
    for x, y, s in boxes:
        patch = np.full((s, s, 3), level, np.uint8)
        if rng is not None:  # a coarse 4 x 4 pattern in 180..255: still "bright", distinct per seed
            coarse = rng.integers(180, 256, (4, 4, 3))
            patch = np.repeat(np.repeat(coarse, -(-s // 4), 0), -(-s // 4), 1)[:s, :s].astype(np.uint8)
        img[y:y + s, x:x + s] = patch
    return img
