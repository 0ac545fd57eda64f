"""Helpers shared by the clip benchmarks (``keyframes``, ``interpolate``): reading an excerpt of a
clip, scaled, and PSNR."""
from __future__ import annotations

import os
from typing import List

import cv2
import numpy as np

from ..metrics.frames import load_clip


def excerpt(path: str, start: int, count: int, width: int = 0) -> List[np.ndarray]:
    """``count`` RGB frames of ``path`` from 0-based ``start``, scaled to ``width`` (0: as they are)."""
    if not os.path.exists(path):
        raise SystemExit(f"clip {path} not found; pass --clip with a video file or a folder of images")
    frames = load_clip(path, start=start, count=count)
    if not frames:
        raise SystemExit(f"{path}: no frames from {start}")
    if width and frames[0].shape[1] != width:
        h, w = frames[0].shape[:2]
        size = (width, max(2, int(round(h * width / w / 2)) * 2))
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    return frames


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB, peak 255) of two uint8 images."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10.0 * np.log10(255.0 ** 2 / max(mse, 1e-10))


def mean(values) -> float:
    values = [float(v) for v in values]
    return round(float(np.mean(values)), 4) if values else float("nan")
