"""OpenCV DIS optical flow (the CPU default, and the flow of the warping-error metric, docs/metrics.md)."""
from __future__ import annotations

import cv2
import numpy as np


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale of an RGB (or already gray) image; floats in [0, 1] are scaled to 0..255."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(np.rint(img.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if img.ndim == 3 and img.shape[2] == 1:
        return img[..., 0]
    if img.ndim == 2:
        return img
    raise ValueError(f"expected an RGB or gray image, got shape {img.shape}")


MIN_SIDE = 16  # OpenCV's DIS needs 12 px or more a side; 16 leaves a pyramid level


class DISFlow:
    """DIS flow with ``DISOPTICAL_FLOW_PRESET_MEDIUM`` on grayscale frames."""

    name = "dis"

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM):
        self.preset = preset
        self._dis = cv2.DISOpticalFlow_create(preset)

    @property
    def key(self) -> str:
        return f"dis{self.preset}"

    def calc(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow from image ``a`` to image ``b`` (float32 H x W x 2). Frames under ``MIN_SIDE`` px a side
        (OpenCV's DIS refuses them) are padded by repeating their edges and the flow cut back to size."""
        ga, gb = to_gray(a), to_gray(b)
        if ga.shape != gb.shape:
            raise ValueError(f"flow needs two frames of the same size, got {ga.shape} and {gb.shape}")
        h, w = ga.shape
        if h >= MIN_SIDE and w >= MIN_SIDE:
            return self._dis.calc(ga, gb, None)
        pad = ((0, max(0, MIN_SIDE - h)), (0, max(0, MIN_SIDE - w)))
        flow = self._dis.calc(np.pad(ga, pad, mode="edge"), np.pad(gb, pad, mode="edge"), None)
        return np.ascontiguousarray(flow[:h, :w])
