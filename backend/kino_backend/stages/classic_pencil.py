"""The ``pencil`` look: a pencil drawing with outlines and hatched shading on paper.

Outlines are flow-guided difference-of-Gaussians lines (thin, grey, graphite-like). Shading is
drawn with hatching strokes: two fixed-seed stroke textures (long, thin streaks at two angles)
compared with the tone of the picture, so darker areas get denser strokes and the darkest a second,
crossing layer. The stroke textures and the paper grain are the same on every frame (no crawling
noise); only the tone they are compared with moves with the picture.
"""
from __future__ import annotations

import functools

import numpy as np

from .base import ParamSpec
from .classic_common import (ClassicLook, blur, edge_smooth, ink_lines, luminance, noise, paper, px,
                             resize_to, smooth_along, to_float, to_uint8, work_size)

PAPER = np.array([0.965, 0.955, 0.925], np.float32)  # warm drawing paper
GRAPHITE = np.array([0.16, 0.17, 0.20], np.float32)  # cool dark grey of a soft pencil

PARAMS = (
    ParamSpec("mode", "enum", "graphite", "graphite: grey pencil on white paper; colour: coloured "
              "pencils that take their colours from the footage.", choices=("graphite", "colour")),
    ParamSpec("shading", "float", 0.6, "Amount of hatched shading in the darker areas (0 = outlines "
              "only, 1 = heavily shaded).", min=0.0, max=1.0),
    ParamSpec("darkness", "float", 0.6, "How dark the pencil strokes are (light touch to heavy "
              "pressure).", min=0.0, max=1.0),
    ParamSpec("stroke_length", "float", 28.0, "Length of the hatching strokes in pixels of a 1080p frame "
              "(scaled with the frame size).", min=4.0, max=80.0),
    ParamSpec("line_detail", "float", 0.5, "How many outlines are drawn (low = main contours only, "
              "high = also fine detail).", min=0.0, max=1.0),
)


@functools.lru_cache(maxsize=8)
def _hatch(h: int, w: int, length: float, angle: float, salt: int) -> np.ndarray:
    """Stroke texture in [0, 1]: fine noise streaked along ``angle``; uniform-ish distribution, so
    ``texture < darkness`` covers about that fraction of the paper with strokes."""
    seed = noise((h, w), 0.6, salt=salt)
    direction = (np.full((h, w), np.cos(angle), np.float32), np.full((h, w), np.sin(angle), np.float32))
    streaks = smooth_along(np.ascontiguousarray(seed), direction, length, max_samples=11)
    streaks = streaks / max(float(streaks.std()), 1e-6)
    out = (0.5 + 0.5 * np.tanh(0.85 * streaks)).astype(np.float32)
    out.setflags(write=False)
    return out


def _coverage(tone: np.ndarray, texture: np.ndarray, start: float, amount: float) -> np.ndarray:
    """Fraction of graphite where the darkness ``1 - tone`` exceeds ``start``, drawn as strokes."""
    darkness = np.clip((1.0 - tone - start) / max(1e-3, 1.0 - start), 0.0, 1.0) * amount
    return np.clip((darkness - texture) * 6.0 + 0.5 * darkness, 0.0, 1.0)


def render(image: np.ndarray, p: dict) -> np.ndarray:
    h, w = image.shape[:2]
    src = to_float(resize_to(image, work_size(image.shape)))
    flat = edge_smooth(src, px(10.0, src.shape), 16.0, iterations=2)
    gray = luminance(flat)
    shape = gray.shape
    length = px(p["stroke_length"], shape, minimum=5.0)  # shorter would read as dots, not strokes
    colour = p["mode"] == "colour"
    # Tone: lifted so only the darker half of the picture gets hatched, as a sketch artist would.
    # Coloured pencils also need strokes where the colour is strong, so they use the darkest channel.
    base = flat.min(axis=2) if colour else gray
    tone = np.clip(blur(base, px(3.0, shape)) * 1.2 + 0.08, 0.0, 1.0)
    hatch_a = _hatch(shape[0], shape[1], round(length, 2), -np.pi / 3.0, 31)
    hatch_b = _hatch(shape[0], shape[1], round(length, 2), np.pi / 5.0, 32)
    shade = p["shading"]
    cover = 0.55 * _coverage(tone, hatch_a, 0.3, 1.5 * shade)
    cover = cover + 0.45 * _coverage(tone, hatch_b, 0.6, 1.5 * shade)
    detail = p["line_detail"]
    lines = ink_lines(gray, px(2.0, shape), 0.003 + 0.03 * (1.0 - detail) ** 2, px(14.0, shape, 0.0))
    cover = np.clip(cover + 0.9 * lines, 0.0, 1.0)
    grain = paper(shape)
    # Graphite catches on the paper's tooth: coverage breaks up with the grain.
    cover = np.clip(cover * (1.0 + 0.35 * grain) * (0.45 + 0.55 * p["darkness"]), 0.0, 1.0)[..., None]
    sheet = PAPER * (1.0 + 0.025 * grain[..., None])
    if colour:
        # Coloured pencil: the pigment is the footage's colour, a little richer and darker.
        g = gray[..., None]
        pigment = np.clip(g + (flat - g) * 1.4, 0.0, 1.0) * 0.8
        # A light layer of colour everywhere (pencils laid flat), the hatching on top of it.
        sheet = sheet * (1.0 - 0.35 * (1.0 - np.clip(g + (flat - g) * 1.4, 0.0, 1.0)))
        out = sheet * (1.0 - cover) + pigment * sheet * cover
        out = out * (1.0 - 0.5 * lines[..., None] * p["darkness"])
    else:
        out = sheet * (1.0 - cover) + GRAPHITE * cover
    return to_uint8(resize_to(np.clip(out, 0.0, 1.0), (w, h)))


STAGES = [ClassicLook(
    "pencil", "Pencil",
    "Pencil drawing: graphite (or coloured pencil) outlines and hatched shading on paper. CPU only, "
    "no model weights.",
    PARAMS, render)]
