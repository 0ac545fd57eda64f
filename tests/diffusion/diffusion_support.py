"""Helpers for the diffusion tests (a uniquely named module: several test folders have a conftest)."""
from __future__ import annotations

import os

import numpy as np

FOOTAGE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "footage")


def textured(seed: int, h: int = 64, w: int = 64) -> np.ndarray:
    """A frame with shapes and gradients (edges for canny, colours for the VAE)."""
    import cv2
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 90)], axis=2).astype(np.uint8)
    for _ in range(4):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        x, y = (int(v) for v in rng.integers(4, min(h, w) - 20, 2))
        cv2.rectangle(img, (x, y), (x + 14, y + 12), c, -1)
    return img


def face_image(seed, h=128, w=128, face=True) -> np.ndarray:
    """Dark frame with a soft gradient; with ``face`` a bright textured 48 px square: what the tiny face
    pack's detector takes for a face (a test model, not a real face detector)."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([40 + xx * 30 // w, 40 + yy * 30 // h, np.full_like(xx, 40)], axis=2).astype(np.uint8)
    if face:
        rng = np.random.default_rng(seed)
        coarse = rng.integers(180, 256, (4, 4, 3))
        img[40:88, 40:88] = np.repeat(np.repeat(coarse, 12, 0), 12, 1).astype(np.uint8)
    return img


def mean_abs_diff(a, b) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def face_frame(i, face=True):
    """Frame ``i`` with its own face (or none)."""
    from kino_backend.stages.base import Frame
    img = face_image(10 + i, face=face)
    return Frame(index=i, source=img, image=img)


def write_face_refs(folder) -> dict:
    """Two reference photos of different tiny "faces", ``{1: path, 2: path}`` (PNG, written with cv2)."""
    import cv2
    refs = {}
    for seed in (1, 2):
        refs[seed] = folder / f"actor{seed}.png"
        cv2.imwrite(str(refs[seed]), face_image(seed)[:, :, ::-1])
    return refs
