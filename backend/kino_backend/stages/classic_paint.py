"""The ``paint`` look: an oil / gouache painting with visible brush strokes.

Colour is flattened with an edge-preserving filter, then smeared along the local contour direction
(the edge tangent field), which turns texture into elongated dabs that follow the forms, as a painter's
strokes do. The strokes' relief (impasto) is a line integral convolution of a fixed-seed noise along
the same directions, lit from the top left; the noise is fixed in screen space, so strokes do not
crawl on static parts of the picture.
"""
from __future__ import annotations

import cv2
import numpy as np

from .base import ParamSpec
from .classic_common import (ClassicLook, edge_smooth, luminance, noise, paper, px, resize_to, smooth_along,
                             tangent_field, to_float, to_uint8, work_size)

PARAMS = (
    ParamSpec("brush_size", "float", 14.0, "Width of a brush stroke in pixels of a 1080p frame (scaled "
              "with the frame size); strokes are about three times as long as they are wide.",
              min=2.0, max=60.0),
    ParamSpec("detail", "float", 0.5, "How much fine detail survives the painting (0 = broad, loose "
              "strokes; 1 = tight, detailed painting).", min=0.0, max=1.0),
    ParamSpec("stroke_relief", "float", 0.5, "Visibility of the brush-stroke texture and paint relief "
              "(0 = smooth paint, 1 = thick impasto).", min=0.0, max=1.0),
    ParamSpec("saturation", "float", 1.15, "Colour saturation multiplier (1 = as filmed).",
              min=0.0, max=3.0),
)


def _saturate(rgb: np.ndarray, amount: float) -> np.ndarray:
    if abs(amount - 1.0) < 1e-6:
        return rgb
    gray = luminance(rgb)[..., None]
    return np.clip(gray + (rgb - gray) * amount, 0.0, 1.0)


def _relief(shape, direction: tuple, brush: float) -> np.ndarray:
    """Height field of the strokes: fine fixed noise smeared along the strokes, zero mean."""
    dabs = noise(shape, max(0.7, brush / 2.5), salt=22)  # one bump per stroke
    bristles = noise(shape, max(0.5, brush / 8.0), salt=21)  # grooves left by the bristles
    seed = np.ascontiguousarray(0.5 * dabs + 0.6 * bristles)
    height = smooth_along(seed, direction, 1.5 * brush, max_samples=9)
    return height / max(float(height.std()), 1e-6)


def _dabs(rgb: np.ndarray, brush: float, detail: float) -> np.ndarray:
    """Colour laid down in dabs: OpenCV's oil-painting filter (the most frequent colour of each
    neighbourhood) run at half resolution, where a dab is about half a brush wide."""
    h, w = rgb.shape[:2]
    small_size = (max(8, w // 2), max(8, h // 2))
    small = to_uint8(resize_to(rgb, small_size))
    radius = max(1, int(round(brush * (0.45 - 0.25 * detail))))
    dabs = cv2.xphoto.oilPainting(small, radius, 6, cv2.COLOR_RGB2Lab)
    return resize_to(to_float(dabs), (w, h), cv2.INTER_LINEAR)


def render(image: np.ndarray, p: dict) -> np.ndarray:
    h, w = image.shape[:2]
    src = to_float(resize_to(image, work_size(image.shape)))
    brush = px(p["brush_size"], src.shape, minimum=1.0)
    detail = p["detail"]
    flat = edge_smooth(src, brush * (2.0 - 1.2 * detail), 12.0 + 28.0 * (1.0 - detail), iterations=2)
    dabs = _dabs(flat, brush, detail)
    direction = tangent_field(luminance(flat), max(1.0, brush * (1.2 - 0.6 * detail)), floor=2e-4)
    painted = np.empty_like(dabs)
    for c in range(3):
        painted[..., c] = smooth_along(np.ascontiguousarray(dabs[..., c]), direction, 0.4 * brush)
    painted = _saturate(painted, p["saturation"])
    relief = p["stroke_relief"]
    if relief > 0:
        height = _relief(src.shape, direction, brush)
        # Lit from the top left: the derivative of the height along the light direction.
        shade = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) + cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3)
        shade = shade / max(float(np.abs(shade).mean()) * 4.0, 1e-6)
        light = 1.0 - 0.12 * relief * shade - 0.03 * relief * height + 0.03 * relief * paper(src.shape)
        painted = np.clip(painted * light[..., None], 0.0, 1.0)
    return to_uint8(resize_to(painted, (w, h)))


STAGES = [ClassicLook(
    "paint", "Paint",
    "Painting look: colours laid down in visible brush strokes that follow the forms, with paint "
    "relief. CPU only, no model weights.",
    PARAMS, render)]
