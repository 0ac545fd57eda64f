"""ControlNet condition images ("annotators"): ``annotate(rgb_uint8) -> rgb_uint8`` of the same size.

Always available (numpy + OpenCV, mediapipe 0.10.21's bundled pose model): ``canny``, ``tile``,
``pose``. Optional (need torchvision, controlnet_aux and the annotator weights; GPU environments):
``depth``, ``lineart``, ``softedge`` -- without them ``make_annotator`` raises
``StageError(MODEL_MISSING, ...)`` saying what to install and where to put the files.

Importing this package needs only numpy and cv2; mediapipe/torch are imported when an annotator
is made.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
from kino_addon.protocol.errors import MODEL_MISSING

ANNOTATOR_TYPES = ("canny", "tile", "pose", "depth", "lineart", "softedge")
ALWAYS_AVAILABLE = ("canny", "tile", "pose")

Annotator = Callable[[np.ndarray], np.ndarray]


def make_annotator(kind: str, *, models_dir: Optional[str] = None, video: bool = False) -> Annotator:
    """Return an annotator for ``kind``. ``video=True`` lets stateful detectors (pose) track across
    consecutive frames; ``models_dir`` is searched for optional annotator weights."""
    if kind == "canny":
        from .canny import CannyAnnotator
        return CannyAnnotator()
    if kind == "tile":
        from .tile import TileAnnotator
        return TileAnnotator()
    if kind == "pose":
        from .pose import PoseAnnotator
        return PoseAnnotator(video=video)
    if kind in ("depth", "lineart", "softedge"):
        from .optional import make_optional_annotator
        return make_optional_annotator(kind, models_dir=models_dir)
    raise ValueError(f"unknown annotator {kind!r}; valid: {', '.join(ANNOTATOR_TYPES)}")


def annotate(kind: str, rgb: np.ndarray, **kwargs) -> np.ndarray:
    """One-shot helper: make the annotator, run it on one image, release it."""
    ann = make_annotator(kind, **kwargs)
    try:
        return ann(rgb)
    finally:
        close = getattr(ann, "close", None)
        if close is not None:
            close()


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    """Validate an 8-bit RGB HxWx3 image (the annotators' input contract)."""
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        got = getattr(rgb, "shape", type(rgb)), getattr(rgb, "dtype", None)
        raise ValueError(f"annotators take uint8 RGB images of shape (H, W, 3); got {got}")
    return rgb
