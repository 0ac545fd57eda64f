"""The ``watercolor`` look: soft transparent washes with darker pigment at their edges, on grainy paper.

The picture is abstracted into washes with an edge-preserving filter, the wash borders are made to
wander and bleed with a low-frequency displacement (wet-in-wet), and pigment density is then modulated
by the effects of real watercolour (after Bousseau et al., "Interactive watercolor rendering with
temporal coherence and abstraction", 2006): pigment pooling at the edges of a wash, turbulent flow
and the paper's grain. Every texture comes from a fixed seed and is the same on every frame.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..base import ParamSpec
from .common import (ClassicLook, pixel_grid, blur, edge_smooth, ink_lines, luminance, noise, paper, px,
                             resize_to, soft_posterize, to_float, to_uint8, work_size)

PAPER = np.array([0.975, 0.965, 0.94], np.float32)

PARAMS = (
    ParamSpec("wash_softness", "float", 0.6, "How broad and soft the colour washes are (0 = keeps "
              "detail, 1 = large, loose washes).", min=0.0, max=1.0),
    ParamSpec("paper_texture", "float", 0.4, "Strength of the paper grain showing through the paint.",
              min=0.0, max=1.0),
    ParamSpec("edge_bleed", "float", 0.5, "How much the washes bleed and wander past their edges, as "
              "paint on wet paper does.", min=0.0, max=1.0),
    ParamSpec("edge_darkening", "float", 0.6, "Darker pigment pooling at the edges of each wash.",
              min=0.0, max=1.0),
    ParamSpec("outline", "float", 0.2, "Strength of a light pen outline under the paint "
              "(0 = none).", min=0.0, max=1.0),
)


def _bleed(rgb: np.ndarray, amount: float) -> np.ndarray:
    """Wet-in-wet: displace the washes by a smooth fixed noise field and soften them."""
    if amount <= 0:
        return rgb
    h, w = rgb.shape[:2]
    reach = px(14.0 * amount, rgb.shape)
    dx = noise((h, w), px(40.0, rgb.shape, 1.0), salt=41) * reach
    dy = noise((h, w), px(40.0, rgb.shape, 1.0), salt=42) * reach
    gx, gy = pixel_grid(h, w)
    moved = cv2.remap(rgb, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return blur(moved, px(2.0 + 3.0 * amount, rgb.shape))


def _pigment(colour: np.ndarray, density: np.ndarray) -> np.ndarray:
    """Bousseau's pigment density model: density > 1 darkens like more pigment, < 1 lightens."""
    d = density[..., None] - 1.0
    return np.clip(colour - (colour - colour * colour) * d, 0.0, 1.0)


def _edge_pool(wash: np.ndarray, shape) -> np.ndarray:
    """Pigment pooling in [0, ~1]: where a wash meets a lighter one, on the wash's side of the edge."""
    lum = luminance(wash)
    band = px(6.0, shape)
    # Darker-than-surroundings side of each edge, over a band a few px wide.
    pool = np.clip(blur(lum, band) - lum, 0.0, None)
    return np.clip(pool * 10.0, 0.0, 1.0)


def render(image: np.ndarray, p: dict) -> np.ndarray:
    h, w = image.shape[:2]
    src = to_float(resize_to(image, work_size(image.shape)))
    shape = src.shape
    soft = p["wash_softness"]
    wash = edge_smooth(src, px(30.0 + 120.0 * soft, shape), 25.0 + 45.0 * soft, iterations=3)
    # Layered glazes: lightness falls into a few soft bands, whose borders then pool pigment.
    lab = soft_posterize(cv2.cvtColor(wash, cv2.COLOR_RGB2Lab), 7, 1.0, sharpness=1.5)
    wash = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0.0, 1.0)
    wash = _bleed(wash, p["edge_bleed"])
    # Watercolour is transparent: lift the values towards the paper, keep the hues clear.
    g = luminance(wash)[..., None]
    colour = np.clip(g + (wash - g) * 1.15, 0.0, 1.0)
    colour = (0.22 + 0.78 * np.power(colour, 0.7)) * PAPER
    grain = blur(paper(shape), px(3.0, shape))
    grain = grain / max(float(grain.std()), 1e-6)
    turbulence = noise(shape, px(50.0, shape, 1.0), salt=43)
    density = 1.0 + 0.2 * turbulence * (0.4 + 0.6 * soft)
    density = density + 0.15 * p["paper_texture"] * grain
    density = density + 1.8 * p["edge_darkening"] * _edge_pool(wash, shape)
    out = _pigment(colour, density.astype(np.float32))
    if p["outline"] > 0:
        lines = ink_lines(luminance(edge_smooth(src, px(10.0, shape), 16.0, iterations=2)), px(1.6, shape),
                          0.012, px(12.0, shape, 0.0))
        out = out * (1.0 - 0.7 * p["outline"] * lines[..., None])
    # Paper shows through the lightest areas.
    out = out + (PAPER - out) * np.clip((luminance(out) - 0.9) * 5.0, 0.0, 1.0)[..., None]
    return to_uint8(resize_to(np.clip(out, 0.0, 1.0), (w, h)))


STAGES = [ClassicLook(
    "watercolor", "Watercolor",
    "Watercolour painting: soft transparent washes that bleed at their borders, darker pigment at "
    "the edges, paper grain. CPU only, no model weights.",
    PARAMS, render)]
