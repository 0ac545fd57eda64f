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

from ..base import ParamSpec
from .common import (ClassicLook, blur, edge_smooth, ink_lines, luminance, noise, paper, px, resize_to,
                             smooth_along, soft_posterize, tangent_field, to_float, to_uint8, work_size)

PARAMS = (
    ParamSpec("brush_size", "float", 16.0, "Width of a brush stroke in pixels of a 1080p frame (scaled "
              "with the frame size); strokes are about three times as long as they are wide.",
              min=2.0, max=60.0),
    ParamSpec("detail", "float", 0.4, "How much fine detail survives the painting (0 = broad, loose "
              "strokes; 1 = tight, detailed painting).", min=0.0, max=1.0),
    ParamSpec("stroke_relief", "float", 0.45, "Visibility of the brush-stroke texture and paint relief "
              "(0 = smooth paint, 1 = thick impasto).", min=0.0, max=1.0),
    ParamSpec("saturation", "float", 1.3, "Colour saturation multiplier (1 = as filmed).",
              min=0.0, max=3.0),
)


def _relief(shape, direction: tuple, brush: float) -> tuple:
    """Two zero-mean fields smeared along the strokes: the strokes' height, and a warm/cool shift
    of each stroke's colour (from a different fixed noise), each of unit variance."""
    seeds = np.empty((shape[0], shape[1], 2), np.float32)
    for i, salt in enumerate((21, 23)):
        dabs = noise(shape, max(0.7, brush / 2.5), salt=salt + 1)  # one bump per stroke
        bristles = noise(shape, max(0.5, brush / 8.0), salt=salt)  # grooves left by the bristles
        seeds[..., i] = 0.5 * dabs + 0.6 * bristles
    fields = smooth_along(seeds, direction, 1.5 * brush, max_samples=5)
    height, warm = np.ascontiguousarray(fields[..., 0]), np.ascontiguousarray(fields[..., 1])
    return height / max(float(height.std()), 1e-6), warm / max(float(warm.std()), 1e-6)


def _dabs(rgb: np.ndarray, s: int) -> np.ndarray:
    """Colour laid down in dabs: a smooth-weighted Kuwahara filter. Each pixel takes the mean colour
    of whichever of its four neighbouring quadrants is most uniform (weighted by inverse variance,
    so the choice is continuous), which turns texture into flat, sharp-edged patches of paint.
    Variances do not change when the exposure shifts, so dabs do not jump with small light changes."""
    h, w = rgb.shape[:2]
    k = 2 * s + 1
    mean = cv2.boxFilter(rgb, -1, (k, k), borderType=cv2.BORDER_REFLECT)
    square = cv2.boxFilter(rgb * rgb, -1, (k, k), borderType=cv2.BORDER_REFLECT)
    var = np.clip(square - mean * mean, 0.0, None).sum(axis=2)
    pm = cv2.copyMakeBorder(mean, s, s, s, s, cv2.BORDER_REFLECT)
    pv = cv2.copyMakeBorder(var, s, s, s, s, cv2.BORDER_REFLECT)
    total = np.zeros_like(rgb)
    weights = np.zeros((h, w), np.float32)
    for dy in (0, 2 * s):
        for dx in (0, 2 * s):
            wq = pv[dy:dy + h, dx:dx + w] + 1e-4
            wq = np.reciprocal(wq * wq)
            total += pm[dy:dy + h, dx:dx + w] * wq[..., None]
            weights += wq
    return total / weights[..., None]


def _big_dabs(rgb: np.ndarray, radius: int) -> np.ndarray:
    """Kuwahara dabs; big ones are made at half resolution (4x cheaper, the same look)."""
    h, w = rgb.shape[:2]
    if radius < 3 or min(h, w) < 32:
        return _dabs(rgb, radius)
    small = resize_to(rgb, (max(16, w // 2), max(16, h // 2)))
    return resize_to(_dabs(small, max(1, radius // 2)), (w, h), cv2.INTER_LINEAR)


def _busy(rgb: np.ndarray, brush: float) -> np.ndarray:
    """Where the picture has fine structure (eyes, lettering), in [0, 1]: local lightness contrast
    over a few brush widths, smoothed so the brush size changes gradually."""
    lum = luminance(rgb)
    k = max(3, int(round(2.0 * brush)) | 1)
    mean = cv2.boxFilter(lum, -1, (k, k), borderType=cv2.BORDER_REFLECT)
    var = np.clip(cv2.boxFilter(lum * lum, -1, (k, k), borderType=cv2.BORDER_REFLECT) - mean * mean, 0.0, None)
    return blur(np.clip((np.sqrt(var) - 0.04) / 0.08, 0.0, 1.0), brush)


def render(image: np.ndarray, p: dict) -> np.ndarray:
    h, w = image.shape[:2]
    src = to_float(resize_to(image, work_size(image.shape)))
    brush = px(p["brush_size"], src.shape, minimum=1.0)
    detail = p["detail"]
    flat = edge_smooth(src, brush * (2.0 - 1.2 * detail), 12.0 + 28.0 * (1.0 - detail), iterations=2)
    # Coarse to fine, as a painter works: big dabs, and a fine brush where the picture is busy.
    radius = max(1, int(round(brush * (0.6 - 0.3 * detail))))
    fine = _busy(src, brush)[..., None]
    dabs = _big_dabs(flat, radius) * (1.0 - fine) + flat * fine
    gray = luminance(flat)
    direction = tangent_field(gray, max(1.0, brush * (1.2 - 0.6 * detail)), floor=2e-4)
    painted = smooth_along(np.ascontiguousarray(dabs, dtype=np.float32), direction, 0.4 * brush, max_samples=5)
    painted = painted * (1.0 - 0.6 * fine) + dabs * (0.6 * fine)
    # Paint in value planes: a gentle banding of lightness, as a painter mixes a few tones per area.
    lab = soft_posterize(cv2.cvtColor(painted, cv2.COLOR_RGB2Lab), int(round(6 + 6 * detail)),
                         p["saturation"], sharpness=2.2)
    painted = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0.0, 1.0)
    # Darker paint along the main contours, laid with the brush (soft, half opaque).
    contour = ink_lines(gray, max(0.7, 0.25 * brush), 0.008, 1.5 * brush, direction, samples=5)
    painted = painted * (1.0 - 0.45 * contour[..., None])
    relief = p["stroke_relief"]
    if relief > 0:
        height, warm = _relief(src.shape, direction, brush)
        # Lit from the top left: the derivative of the height along the light direction.
        shade = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) + cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3)
        shade = shade / max(float(np.abs(shade).mean()) * 4.0, 1e-6)
        relief = relief * (1.0 - 0.6 * fine[..., 0])
        light = 1.0 - 0.2 * relief * shade - 0.05 * relief * height + 0.04 * relief * paper(src.shape)
        # Broken colour: each stroke a little warmer or cooler than its neighbours.
        warm = (0.05 * relief) * warm
        painted = painted * light[..., None]
        painted[..., 0] += warm * painted[..., 0]
        painted[..., 2] -= warm * painted[..., 2]
        painted = np.clip(painted, 0.0, 1.0)
    return to_uint8(resize_to(painted, (w, h)))


STAGES = [ClassicLook(
    "paint", "Paint",
    "Painting look: colours laid down in visible brush strokes that follow the forms, with paint "
    "relief. CPU only, no model weights.",
    PARAMS, render)]
