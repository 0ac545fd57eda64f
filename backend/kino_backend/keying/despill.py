"""Spill suppression: take the screen's colour cast out of the foreground.

The screen's dominant channel (green for a green screen) is limited so that a pixel is no greener
than neutral. Deep inside the actor the limit is the larger of the two other channels, which leaves
every colour that is not screen-tinted alone (skin, hair, warm and yellow tones come through
untouched). Near the matte's edges, where the screen's light really spills onto the actor, the limit
moves to the mean of the two other channels, which removes the cast there as well. Working in linear
light keeps skin safe either way: its red channel dwarfs green there.

The foreground's own hue counts too: where the solid interior nearby is itself screen-tinted (green
leaves, a greenish coat on a green screen, a blue-green conifer on a blue one) the limit rises by the
interior's own screen channel over that same limit, so only the spill beyond the object's colour
goes. "Nearby" means within
``REACH`` px of that interior (``Interior``): soft pixels far from any solid part (a hazy tree, a
strand far from the head) keep their own colour instead of taking a distant object's.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from .fill import push_pull

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
REACH = 16.0  # px: how far the solid interior's colour informs the soft pixels around it


class Interior:
    """The colour of the solid foreground nearby (``colour``, spread by push-pull) and how near it is
    (``near``: 1 inside, falling to 0 at ``REACH`` px). ``colour`` is None without a solid part."""

    def __init__(self, observed: np.ndarray, matte: np.ndarray, depth: int = 2):
        deep = _erode((matte >= 0.95).astype(np.float32), depth)
        self.colour = push_pull(observed, deep) if float(deep.sum()) >= 4.0 else None
        dist = cv2.distanceTransform((deep < 0.5).astype(np.uint8), cv2.DIST_L2, 3)
        self.near = np.clip(1.0 - dist / REACH, 0.0, 1.0)


def key_channels(key_linear: np.ndarray):
    """(primary channel, the two others) of a key colour."""
    p = int(np.argmax(key_linear))
    return p, [c for c in range(3) if c != p]


def edge_weight(matte: np.ndarray, radius: float = 2.5) -> np.ndarray:
    """0 deep inside the solid foreground, rising to 1 at and beyond the matte's soft edges."""
    outside = (matte < 0.995).astype(np.float32)
    return np.clip(cv2.GaussianBlur(outside, (0, 0), radius) * 2.5, 0.0, 1.0)


def despill(image_linear: np.ndarray, key_linear: np.ndarray, strength: float = 1.0,
            matte: Optional[np.ndarray] = None, interior: Optional[Interior] = None) -> np.ndarray:
    """Return the despilled float image (linear RGB). ``strength`` 0 = off, 1 = full.

    ``matte`` (optional) makes the limit edge-aware as described above; without it the safe
    max-of-others limit is used everywhere. ``interior`` (optional) lets the object's own hue stand.
    """
    if strength <= 0.0 or _is_neutral(key_linear):
        return image_linear
    p, (a, b) = key_channels(key_linear)
    edge = edge_weight(matte) if matte is not None else 0.0

    def limit_of(x):  # the largest screen channel a colour may keep (see above)
        hi = np.maximum(x[..., a], x[..., b])
        return hi - edge * (hi - 0.5 * (x[..., a] + x[..., b]))

    limit = limit_of(image_linear)
    if interior is not None and interior.colour is not None:
        ic = interior.colour  # its own screen channel over the same limit: what the object itself has
        own = np.clip(ic[..., p] / np.maximum(limit_of(ic), 1e-5), 1.0, 3.0)
        limit = limit * (1.0 + (own - 1.0) * interior.near)
    excess = np.maximum(image_linear[..., p] - limit, 0.0)
    out = image_linear.copy()
    out[..., p] = image_linear[..., p] - strength * excess
    return out


def _erode(mask: np.ndarray, radius: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.erode(mask, k, borderType=cv2.BORDER_REPLICATE)


def restore_edge_colour(colour: np.ndarray, observed: np.ndarray, matte: np.ndarray, key_linear: np.ndarray,
                        closeness: float = 0.3, interior: Optional[Interior] = None) -> np.ndarray:
    """Give soft and near-edge pixels the chromaticity of the solid interior nearby (keeping their own
    luminance), which the screen's light did not reach: that takes out spill which a channel limit
    cannot see (a warm colour made a little less warm). Only where it lowers the screen-channel
    excess, only where edge and interior are already close in colour (``closeness``, chromaticity
    units), so a different-coloured part of the costume next to the edge is never repainted, and only
    within ``REACH`` px of that interior.
    """
    if _is_neutral(key_linear):
        return colour
    inside = interior if interior is not None else Interior(observed, matte)
    if inside.colour is None:
        return colour
    interior = inside.colour
    lum_c = (colour * _LUMA).sum(-1, keepdims=True)
    lum_i = (interior * _LUMA).sum(-1, keepdims=True)
    moved = np.clip(interior * lum_c / np.maximum(lum_i, 1e-5), 0.0, 1.0)
    p, (a, b) = key_channels(key_linear)

    def excess(x):
        return x[..., p] - np.maximum(x[..., a], x[..., b])

    def chroma(x):
        return x / np.maximum(x.sum(-1, keepdims=True), 1e-5)

    close = np.clip(1.0 - np.abs(chroma(colour) - chroma(interior)).max(-1) / closeness, 0.0, 1.0)
    w = edge_weight(matte) * close * inside.near * (excess(moved) < excess(colour))
    return w[..., None] * moved + (1.0 - w[..., None]) * colour


def _is_neutral(key_linear: np.ndarray) -> bool:
    k = np.asarray(key_linear, np.float32)
    return float(k.max() - k.min()) < 0.02
