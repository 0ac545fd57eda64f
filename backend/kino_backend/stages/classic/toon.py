"""The ``toon`` look: flat colour regions with clean dark ink outlines (cel shading).

Colour: edge-preserving smoothing flattens textures, then lightness is quantized into bands in the
perceptual CIELAB space. The quantization is *soft* (a steep tanh step between bands instead of a
hard threshold), so a pixel near a band boundary changes smoothly when the light changes a little:
no band flicker on video. Hue and chroma are kept (optionally boosted), never clustered per frame.

Ink: a thresholded difference of Gaussians (XDoG) of the flattened lightness, which gives clean,
connected outlines without the speckle of an edge detector run on raw footage.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..base import ParamSpec
from .common import (ClassicLook, edge_smooth, ink_lines, px, resize_to, soft_posterize, to_float, to_uint8,
                             work_size)

PARAMS = (
    ParamSpec("levels", "int", 5, "Number of brightness bands in the flat colours (fewer = bolder, "
              "more graphic; more = closer to the footage).", min=2, max=12),
    ParamSpec("smoothing", "float", 0.6, "How strongly detail and texture are flattened into plain "
              "colour regions (0 = keep detail, 1 = very flat).", min=0.0, max=1.0),
    ParamSpec("edge_thickness", "float", 3.5, "Width of the ink outlines in pixels of a 1080p frame "
              "(scaled with the frame size); 0 turns the outlines off.", min=0.0, max=12.0),
    ParamSpec("edge_sensitivity", "float", 0.5, "How many outlines are drawn: low keeps only strong "
              "contours, high also inks fainter detail (may get busy on noisy footage).", min=0.0, max=1.0),
    ParamSpec("saturation", "float", 1.25, "Colour saturation multiplier of the flat colours "
              "(1 = as filmed).", min=0.0, max=3.0),
)


def _flatten(rgb: np.ndarray, smoothing: float) -> np.ndarray:
    """Edge-preserving flattening: strong spatial reach, colour range growing with ``smoothing``."""
    sigma_space = px(20.0 + 100.0 * smoothing, rgb.shape)
    sigma_color = 12.0 + 38.0 * smoothing
    return edge_smooth(rgb, sigma_space, sigma_color, iterations=3)


def _ink(rgb: np.ndarray, thickness: float, sensitivity: float) -> np.ndarray:
    """Ink coverage in [0, 1]: flow-guided XDoG outlines of the lightly flattened lightness."""
    line_src = edge_smooth(rgb, px(12.0, rgb.shape), 18.0, iterations=2)
    lightness = cv2.cvtColor(line_src, cv2.COLOR_RGB2Lab)[..., 0] / 100.0
    sigma = px(0.9 * thickness, rgb.shape)
    threshold = 0.002 + 0.028 * (1.0 - sensitivity) ** 2  # lightness step (0-1) that starts a line
    coherence = px(max(12.0, 7.0 * thickness), rgb.shape, minimum=0.0)
    return ink_lines(lightness, sigma, threshold, coherence)


def render(image: np.ndarray, p: dict) -> np.ndarray:
    h, w = image.shape[:2]
    src = to_float(resize_to(image, work_size(image.shape)))
    flat = _flatten(src, p["smoothing"])
    lab = cv2.cvtColor(flat, cv2.COLOR_RGB2Lab)
    colour = np.clip(cv2.cvtColor(soft_posterize(lab, p["levels"], p["saturation"]), cv2.COLOR_Lab2RGB), 0.0, 1.0)
    if p["edge_thickness"] > 0:
        ink = _ink(src, p["edge_thickness"], p["edge_sensitivity"])[..., None]
        # A dark ink tinted by the colour under it reads better than flat black.
        colour = colour * (1.0 - ink) + (colour * 0.12) * ink
    return to_uint8(resize_to(colour, (w, h)))


STAGES = [ClassicLook(
    "toon", "Toon",
    "Cartoon / cel look: flat colour regions in a few brightness bands with dark ink outlines. "
    "CPU only, no model weights.",
    PARAMS, render)]
