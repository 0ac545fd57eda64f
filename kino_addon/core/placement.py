"""Where the keyed actor sits on the background in ``scripts/kino composite``: a scale about the bottom
centre of the frame (an actor standing on the frame's bottom edge stays on it) and an offset in pixels
(x right, y down). The actor's colour and matte are resampled together (bilinear); outside the moved
actor the matte is 0, so the background shows there.
"""
from __future__ import annotations

import re
from typing import Tuple

import numpy as np


class PlacementError(ValueError):
    """A placement value that cannot work; the message says what to give instead."""


def parse_offset(text: str) -> Tuple[float, float]:
    m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*", text or "")
    if not m:
        raise PlacementError(f"--actor-offset must be X,Y in pixels (x right, y down), e.g. 40,-10; got {text!r}")
    return float(m.group(1)), float(m.group(2))


def check(scale: float, offset: Tuple[float, float], width: int, height: int) -> None:
    if not 0.05 <= scale <= 20:
        raise PlacementError(f"--actor-scale must be between 0.05 and 20, got {scale:g}")
    if abs(offset[0]) >= width * max(1.0, scale) or abs(offset[1]) >= height * max(1.0, scale):
        raise PlacementError(f"--actor-offset {offset[0]:g},{offset[1]:g} moves the actor out of the "
                             f"{width}x{height} frame")


def _sample(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` (h, w, c) float32 at (xs, ys); outside the image: 0."""
    h, w = image.shape[:2]
    x0, y0 = np.floor(xs).astype(np.int64), np.floor(ys).astype(np.int64)
    fx, fy = (xs - x0)[..., None], (ys - y0)[..., None]
    out = np.zeros(xs.shape + image.shape[2:], np.float32)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            xi, yi = x0 + dx, y0 + dy
            ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            vals = np.zeros_like(out)
            vals[ok] = image[yi[ok], xi[ok]]
            out += vals * (wx * wy)
    return out


def place(image: np.ndarray, matte: np.ndarray, scale: float = 1.0, offset=(0.0, 0.0)):
    """(image uint8 (h, w, 3), matte uint8 (h, w)) moved as the placement says, same size."""
    if scale == 1.0 and offset[0] == 0 and offset[1] == 0:
        return image, matte
    h, w = matte.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = (w - 1) / 2.0, h - 1.0  # the bottom row's centre stays put
    sx = (xs - offset[0] - cx) / scale + cx
    sy = (ys - offset[1] - cy) / scale + cy
    a = matte.astype(np.float32).reshape(h, w, 1) / 255.0
    premult = _sample(np.concatenate([image.astype(np.float32) * a, a], axis=2), sx, sy)
    alpha = premult[..., 3:]
    colour = np.where(alpha > 1e-4, premult[..., :3] / np.maximum(alpha, 1e-4), 0.0)
    out_img = np.clip(np.rint(colour), 0, 255).astype(np.uint8)
    out_matte = np.clip(np.rint(alpha[..., 0] * 255.0), 0, 255).astype(np.uint8)
    return out_img, out_matte
