"""sRGB <-> linear conversions (IEC 61966-2-1), float32, vectorised."""
from __future__ import annotations

import numpy as np

_LUT_TO_LINEAR = None


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] (float) or uint8 -> linear float32 in [0, 1]."""
    global _LUT_TO_LINEAR
    if values.dtype == np.uint8:
        if _LUT_TO_LINEAR is None:
            _LUT_TO_LINEAR = srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0)
        return _LUT_TO_LINEAR[values]
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    """Linear float values -> sRGB-encoded float32 in [0, 1] (clipped)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1.0 / 2.4) - 0.055).astype(np.float32)


def to_u8(values: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint8 with rounding."""
    return np.clip(np.rint(np.asarray(values, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
