"""The ``pencil`` look: a pencil drawing with outlines and hatched shading on paper.

Outlines are flow-guided difference-of-Gaussians lines (thin, grey, graphite-like) with a wide soft
ramp. Shading is the darkness of a wide-blurred tone, eased in, and modulated by two fixed-seed stroke
textures (long, thin streaks at two angles), so darker areas get denser strokes and the darkest a
second, crossing layer. The textures and the paper grain are the same on every frame.

Built for video: coverage is a *continuous* function of the tone (no steep threshold against the
texture), so a small change of light shifts the strokes a little instead of popping them on and
off; and the screen-fixed textures have a modest contrast (``STROKE_CONTRAST``, ``PAPER_TOOTH``),
because strokes fixed to the screen do not move with the picture: on a moving camera they are what
the warping error and the temporal stage's blend disagree about (issue 5: measured with
``python -m kino_backend bench temporal --look pencil``).
"""
from __future__ import annotations

import functools

import numpy as np

from ..base import ParamSpec
from .common import (ClassicLook, blur, edge_smooth, ink_lines, luminance, noise, paper, px,
                             resize_to, smooth_along, to_float, to_uint8, work_size)

PAPER = np.array([0.965, 0.955, 0.925], np.float32)  # warm drawing paper
GRAPHITE = np.array([0.16, 0.17, 0.20], np.float32)  # cool dark grey of a soft pencil
STROKE_CONTRAST = 0.35  # how much the hatching texture modulates the shading (0 = smooth tone)
PAPER_TOOTH = 0.05  # how much the paper grain breaks up the graphite

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


def _darkness(tone: np.ndarray, start: float, amount: float) -> np.ndarray:
    """How much graphite an area wants: ``1 - tone`` above ``start``, eased in (smoothstep), so the
    shading fades in gently instead of starting at a hard tone level."""
    d = np.clip((1.0 - tone - start) / max(1e-3, 1.0 - start), 0.0, 1.0)
    return d * d * (3.0 - 2.0 * d) * amount


def _strokes(darkness: np.ndarray, texture: np.ndarray, contrast: float) -> np.ndarray:
    """Hatching coverage: the darkness modulated by the stroke texture. A continuous (linear)
    function of the tone, not a threshold, so a small change of light changes the strokes a little
    instead of switching them on or off (which flickers on video)."""
    return np.clip(darkness * (1.0 + contrast * (2.0 * texture - 1.0)), 0.0, 1.0)


def _outlines(gray: np.ndarray, detail: float, shape: tuple) -> np.ndarray:
    """Graphite outlines: DoG contours with a wide soft ramp (no popping) and a gentle gamma."""
    threshold = 0.004 + 0.03 * (1.0 - detail) ** 2
    lines = ink_lines(gray, px(2.0, shape), threshold, px(14.0, shape, 0.0))
    return blur(lines, 0.6) ** 0.8


def render(image: np.ndarray, p: dict) -> np.ndarray:
    h, w = image.shape[:2]
    src = to_float(resize_to(image, work_size(image.shape)))
    flat = edge_smooth(src, px(10.0, src.shape), 16.0, iterations=2)
    gray = luminance(flat)
    shape = gray.shape
    length = px(p["stroke_length"], shape, minimum=5.0)  # shorter would read as dots, not strokes
    colour = p["mode"] == "colour"
    # Tone: lifted so only the darker half of the picture gets hatched, as a sketch artist would;
    # blurred wide, so the stroke density follows the light of areas, not pixel noise.
    # Coloured pencils also need strokes where the colour is strong, so they use the darkest channel.
    base = flat.min(axis=2) if colour else gray
    tone = np.clip(blur(base, px(5.0, shape)) * 1.15 + 0.06, 0.0, 1.0)
    hatch_a = _hatch(shape[0], shape[1], round(length, 2), -np.pi / 3.0, 31)
    hatch_b = _hatch(shape[0], shape[1], round(length, 2), np.pi / 5.0, 32)
    shade = p["shading"]
    cover = 0.6 * _strokes(_darkness(tone, 0.25, 1.4 * shade), hatch_a, STROKE_CONTRAST)
    cover = cover + 0.4 * _strokes(_darkness(tone, 0.55, 1.4 * shade), hatch_b, STROKE_CONTRAST)
    lines = _outlines(gray, p["line_detail"], shape)
    cover = np.clip(cover + 0.85 * lines, 0.0, 1.0)
    grain = paper(shape)
    # Graphite catches on the paper's tooth: coverage breaks up a little with the grain.
    cover = np.clip(cover * (1.0 + PAPER_TOOTH * grain) * (0.45 + 0.55 * p["darkness"]), 0.0, 1.0)[..., None]
    sheet = PAPER * (1.0 + 0.012 * grain[..., None])
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
