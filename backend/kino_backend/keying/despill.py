"""Spill suppression: take the screen's colour cast out of the foreground.

The screen's dominant channel (green for a green screen) is limited so that a pixel is no greener
than neutral. Deep inside the actor the limit is the larger of the two other channels, which leaves
every colour that is not screen-tinted alone (skin, hair, warm and yellow tones come through
untouched). Near the matte's edges, where the screen's light really spills onto the actor, the limit
moves to the mean of the two other channels, which removes the cast there as well. Working in linear
light keeps skin safe either way: its red channel dwarfs green there.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from .fill import push_pull

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def key_channels(key_linear: np.ndarray):
    """(primary channel, the two others) of a key colour."""
    p = int(np.argmax(key_linear))
    return p, [c for c in range(3) if c != p]


def edge_weight(matte: np.ndarray, radius: float = 2.5) -> np.ndarray:
    """0 deep inside the solid foreground, rising to 1 at and beyond the matte's soft edges."""
    outside = (matte < 0.995).astype(np.float32)
    return np.clip(cv2.GaussianBlur(outside, (0, 0), radius) * 2.5, 0.0, 1.0)


def despill(image_linear: np.ndarray, key_linear: np.ndarray, strength: float = 1.0,
            matte: Optional[np.ndarray] = None) -> np.ndarray:
    """Return the despilled float image (linear RGB). ``strength`` 0 = off, 1 = full.

    ``matte`` (optional) makes the limit edge-aware as described above; without it the safe
    max-of-others limit is used everywhere.
    """
    if strength <= 0.0 or _is_neutral(key_linear):
        return image_linear
    p, (a, b) = key_channels(key_linear)
    hi = np.maximum(image_linear[..., a], image_linear[..., b])
    limit = hi
    if matte is not None:
        mean = 0.5 * (image_linear[..., a] + image_linear[..., b])
        limit = hi - edge_weight(matte) * (hi - mean)
    excess = np.maximum(image_linear[..., p] - limit, 0.0)
    out = image_linear.copy()
    out[..., p] = image_linear[..., p] - strength * excess
    return out


def _erode(mask: np.ndarray, radius: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.erode(mask, k, borderType=cv2.BORDER_REPLICATE)


def restore_edge_colour(colour: np.ndarray, observed: np.ndarray, matte: np.ndarray, key_linear: np.ndarray,
                        depth: int = 4, closeness: float = 0.3) -> np.ndarray:
    """Give soft and near-edge pixels the chromaticity of the solid interior nearby (keeping their own
    luminance), which the screen's light did not reach: that takes out spill which a channel limit
    cannot see (a warm colour made a little less warm). Only where it lowers the screen-channel
    excess, and only where edge and interior are already close in colour (``closeness``, chromaticity
    units), so a different-coloured part of the costume next to the edge is never repainted.
    """
    if _is_neutral(key_linear):
        return colour
    deep = _erode((matte >= 0.999).astype(np.float32), depth)
    if float(deep.sum()) < 4.0:
        return colour
    interior = push_pull(observed, deep)
    lum_c = (colour * _LUMA).sum(-1, keepdims=True)
    lum_i = (interior * _LUMA).sum(-1, keepdims=True)
    moved = np.clip(interior * lum_c / np.maximum(lum_i, 1e-5), 0.0, 1.0)
    p, (a, b) = key_channels(key_linear)

    def excess(x):
        return x[..., p] - np.maximum(x[..., a], x[..., b])

    def chroma(x):
        return x / np.maximum(x.sum(-1, keepdims=True), 1e-5)

    close = np.clip(1.0 - np.abs(chroma(colour) - chroma(interior)).max(-1) / closeness, 0.0, 1.0)
    w = edge_weight(matte) * close * (excess(moved) < excess(colour))
    return w[..., None] * moved + (1.0 - w[..., None]) * colour


def _is_neutral(key_linear: np.ndarray) -> bool:
    k = np.asarray(key_linear, np.float32)
    return float(k.max() - k.min()) < 0.02
