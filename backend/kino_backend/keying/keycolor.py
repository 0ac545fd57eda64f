"""Automatic key-colour detection: the colour of the large, flat area that fills the screen.

The screen is the biggest region of nearly constant colour in the shot. We look only at flat pixels
(low local gradient), histogram them in RGB, take the fullest bin (a saturated colour wins a close
tie, as keying screens are green or blue far more often than grey) and return the median colour of
the flat pixels around that bin, so lighting falloff across the screen averages out.
"""
from __future__ import annotations

from typing import Iterable, Sequence, Tuple

import cv2
import numpy as np

from kino_addon.protocol.quoting import quote

RGB = Tuple[int, int, int]
_BINS = 16  # per channel -> bins 16 levels wide


def parse_key_color(text) -> RGB:
    """``"R,G,B"`` (sRGB 0-255) or a 3-sequence -> tuple of ints; raises ValueError with a fix."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        vals = tuple(int(round(float(p))) for p in parts)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"key colour {quote(text)} must be R,G,B in sRGB 0-255, e.g. 40,180,60 (or 'auto')") from None
    if len(vals) != 3 or not all(0 <= v <= 255 for v in vals):
        raise ValueError(f"key colour {quote(text)} must be three numbers 0-255, e.g. 40,180,60 (or 'auto')")
    return vals  # type: ignore[return-value]


def _flat_pixels(image: np.ndarray, max_side: int = 160) -> np.ndarray:
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = cv2.resize(image, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    f = small.astype(np.float32)
    grad = np.zeros(f.shape[:2], np.float32)
    for c in range(3):
        gx = cv2.Sobel(f[..., c], cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(f[..., c], cv2.CV_32F, 0, 1, ksize=3)
        grad = np.maximum(grad, np.abs(gx) + np.abs(gy))
    flat = grad < 24.0  # Sobel sum: ~3 levels per pixel of slope
    return small.reshape(-1, 3)[flat.reshape(-1)]


MIN_SCREEN_CHROMA = 24  # levels between a screen colour's strongest and weakest channel (green/blue screens:
# 54-175 on the project's keying clips, a very dark one included; the flat colour of clips without a
# screen: foliage 15, walls 20-21, a white backdrop 7)
BLACK_SCREEN_MAX = 40  # a flat colour this dark is a black screen (keyed on luma), not a grey wall


def detect_key_color(frames: Iterable[np.ndarray]) -> RGB:
    """Return the screen colour (sRGB 0-255) of one or more 8-bit RGB frames.

    Raises ValueError when no flat area is found (pass the key colour explicitly then).
    """
    samples = [_flat_pixels(np.asarray(f)) for f in frames]
    pix = np.concatenate(samples) if samples else np.zeros((0, 3), np.uint8)
    if len(pix) < 50:
        raise ValueError("no flat screen area found to detect the key colour from; "
                         "pass it explicitly, e.g. --key-color 40,180,60")
    q = (pix // (256 // _BINS)).astype(np.int32)
    codes = (q[:, 0] * _BINS + q[:, 1]) * _BINS + q[:, 2]
    counts = np.bincount(codes, minlength=_BINS ** 3).astype(np.float64)
    centres = (np.stack(np.unravel_index(np.arange(_BINS ** 3), (_BINS,) * 3), 1) + 0.5) * (256 // _BINS)
    sat = (centres.max(1) - centres.min(1)) / 255.0
    # neighbouring bins share one screen under uneven light: score a bin with its 3x3x3 neighbourhood
    cube = counts.reshape((_BINS,) * 3)
    pooled = cube.copy()
    for axis in range(3):
        pooled = pooled + _shift_sum(pooled, axis)
    score = pooled.reshape(-1) * (1.0 + 0.5 * sat)
    best = centres[int(np.argmax(score))]
    near = pix[np.abs(pix.astype(np.float32) - best).max(1) <= 1.5 * (256 // _BINS)]
    return tuple(int(round(v)) for v in np.median(near.astype(np.float32), axis=0))  # type: ignore[return-value]


def screen_doubt(key: RGB):
    """A note when a detected key colour does not look like a keying screen: nearly grey and not black (a
    wall, the sky, foliage: the clip has probably no screen, and its matte will be a patchwork); None
    for green, blue and black screens."""
    if max(key) - min(key) >= MIN_SCREEN_CHROMA or max(key) <= BLACK_SCREEN_MAX:
        return None
    return (f"the clip's largest flat colour, {key[0]},{key[1]},{key[2]}, is nearly grey: it does not look like a "
            "green or blue screen, so the matte may be a patchwork; if the clip has a screen, give its colour "
            "(key.key_color=R,G,B), else stylize the clip without keying")


def _shift_sum(cube: np.ndarray, axis: int) -> np.ndarray:
    """Sum of the two neighbours along ``axis`` (zero outside)."""
    out = np.zeros_like(cube)
    sl = [slice(None)] * 3
    sl_src = [slice(None)] * 3
    sl[axis], sl_src[axis] = slice(1, None), slice(None, -1)
    out[tuple(sl)] += cube[tuple(sl_src)]
    sl[axis], sl_src[axis] = slice(None, -1), slice(1, None)
    out[tuple(sl)] += cube[tuple(sl_src)]
    return out
