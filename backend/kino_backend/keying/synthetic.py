"""A synthetic green-screen shot with a known answer, for tests and the keying benchmark.

Fine detail (hair strands under a pixel wide, serrated autumn leaves on thin stems, a face) is drawn
4x supersampled and area-averaged, so edges carry true fractional coverage. It stands in front of an
unevenly lit screen (a left-to-right gradient and a vignette); the screen's light spills onto the
foreground near its edges; the plate mixes foreground and screen in linear light (as a camera does),
gets a little sensor noise and is stored as 8-bit sRGB. The true composite is the clean (spill-free)
foreground over a known background, as a straight alpha-over on sRGB values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

from .colorspace import linear_to_srgb, srgb_to_linear, to_u8

SS = 4  # supersampling factor


@dataclass
class SyntheticKeyCase:
    """A green-screen frame made with a known alpha, foreground and background, and its true composite."""
    plate: np.ndarray        # uint8 (H, W, 3) sRGB: what the camera saw
    alpha: np.ndarray        # float32 (H, W): true coverage
    foreground: np.ndarray   # float32 (H, W, 3) sRGB [0, 255]: the clean actor colour
    background: np.ndarray   # uint8 (H, W, 3) sRGB: the plate to composite over
    truth: np.ndarray        # float32 (H, W, 3) sRGB [0, 255]: the true composite
    key_rgb: Tuple[int, int, int]

    def edge_band(self, radius: int = 2) -> np.ndarray:
        soft = ((self.alpha > 0.01) & (self.alpha < 0.99)).astype(np.uint8)
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        return cv2.dilate(soft, k).astype(bool)


class _Canvas:
    """Premultiplied painter at SS x resolution (linear colours)."""

    def __init__(self, size: int):
        n = size * SS
        self.pre = np.zeros((n, n, 3), np.float32)
        self.alpha = np.zeros((n, n), np.float32)

    def paint(self, mask: np.ndarray, colour_srgb) -> None:
        m = mask.astype(np.float32)
        col = srgb_to_linear(np.asarray(colour_srgb, np.float32) / 255.0)
        self.pre = m[..., None] * col + (1.0 - m[..., None]) * self.pre
        self.alpha = m + (1.0 - m) * self.alpha

    def blank(self) -> np.ndarray:
        return np.zeros(self.alpha.shape, np.uint8)


def _curve(p0, p1, p2, n=40) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    pts = (1 - t) ** 2 * np.array(p0) + 2 * (1 - t) * t * np.array(p1) + t ** 2 * np.array(p2)
    return np.round(pts * SS).astype(np.int32)


def _draw_person(cv: _Canvas, size: int, rng: np.random.Generator) -> None:
    cx, top = size * 0.62, size * 0.42
    m = cv.blank()
    cv2.ellipse(m, (int(cx * SS), int(size * 0.98 * SS)), (int(size * 0.3 * SS), int(size * 0.2 * SS)), 0, 0, 360, 1, -1)
    cv.paint(m, (70, 60, 80))  # shoulders, dark shirt
    m = cv.blank()
    cv2.ellipse(m, (int(cx * SS), int(size * 0.66 * SS)), (int(size * 0.14 * SS), int(size * 0.19 * SS)), 0, 0, 360, 1, -1)
    cv.paint(m, (224, 172, 140))  # face
    m = cv.blank()
    cv2.ellipse(m, (int(cx * SS), int(size * 0.56 * SS)), (int(size * 0.16 * SS), int(size * 0.14 * SS)), 0, 180, 360, 1, -1)
    cv.paint(m, (62, 40, 28))  # hair cap
    for i in range(90):  # loose strands, 0.5 .. 1.25 px wide
        ang = rng.uniform(np.pi * 1.05, np.pi * 1.95)
        r0 = size * rng.uniform(0.10, 0.15)
        start = (cx + r0 * np.cos(ang), size * 0.56 + r0 * 0.9 * np.sin(ang))
        length = size * rng.uniform(0.10, 0.30)
        bend = rng.uniform(-0.6, 0.6)
        mid = (start[0] + np.cos(ang + bend) * length * 0.5, start[1] + np.sin(ang + bend) * length * 0.5)
        end = (start[0] + np.cos(ang + 2 * bend) * length, start[1] + np.sin(ang + 2 * bend) * length)
        m = cv.blank()
        cv2.polylines(m, [_curve(start, mid, end)], False, 1, thickness=int(rng.integers(2, 6)), lineType=cv2.LINE_8)
        shade = rng.uniform(0.7, 1.6)
        cv.paint(m, np.clip(np.array([62, 40, 28]) * shade, 0, 255))
    _ = top


def _leaf(cv: _Canvas, centre, length, width, angle, colour, rng) -> None:
    t = np.linspace(0, np.pi, 60)
    serr = 1.0 + 0.12 * (np.sin(t * 14) > 0)
    half = np.sin(t) * width * serr
    xs = np.concatenate([np.cos(t) * length, np.cos(t[::-1]) * length])
    ys = np.concatenate([half, -half[::-1]])
    ca, sa = np.cos(angle), np.sin(angle)
    pts = np.stack([centre[0] + xs * ca - ys * sa, centre[1] + xs * sa + ys * ca], 1)
    m = cv.blank()
    cv2.fillPoly(m, [np.round(pts * SS).astype(np.int32)], 1)
    cv.paint(m, colour)


def _draw_branch(cv: _Canvas, size: int, rng: np.random.Generator) -> None:
    stem = (np.array([0.0, 0.08]) * size, np.array([0.25, 0.3]) * size, np.array([0.42, 0.62]) * size)
    m = cv.blank()
    cv2.polylines(m, [_curve(*stem, n=80)], False, 1, thickness=7)
    cv.paint(m, (90, 60, 35))
    colours = [(232, 120, 32), (196, 48, 34), (222, 188, 52), (170, 80, 40), (240, 150, 60)]
    for i in range(14):
        t = (i + 0.5) / 14
        base = (1 - t) ** 2 * stem[0] + 2 * (1 - t) * t * stem[1] + t ** 2 * stem[2]
        side = 1 if i % 2 else -1
        ang = np.arctan2(stem[2][1] - stem[0][1], stem[2][0] - stem[0][0]) + side * rng.uniform(0.6, 1.2)
        ln = size * rng.uniform(0.035, 0.06)
        tip = base + ln * 1.2 * np.array([np.cos(ang), np.sin(ang)])
        m = cv.blank()
        cv2.line(m, tuple(np.round(base * SS).astype(int)), tuple(np.round(tip * SS).astype(int)), 1, thickness=3)
        cv.paint(m, (90, 60, 35))  # petiole, under a pixel wide
        centre = base + ln * 2.0 * np.array([np.cos(ang), np.sin(ang)])
        _leaf(cv, centre, ln, ln * 0.45, ang, colours[i % len(colours)], rng)


def _background(size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    bg = np.stack([60 + 120 * x, 90 + 80 * y, 170 - 90 * x * y], -1)
    bg += 25 * np.sin(x * 23)[..., None] * np.array([1.0, 0.5, -0.6])
    img = np.clip(bg, 0, 255).astype(np.uint8)
    for i in range(6):
        cv2.circle(img, (int(size * (0.15 + 0.14 * i)), int(size * (0.2 + 0.11 * i))), size // 14,
                   (240 - 30 * i, 60 + 25 * i, 40 + 30 * i), -1, lineType=cv2.LINE_AA)
    return img


def make_case(size: int = 256, seed: int = 7, key_rgb=(45, 170, 65), noise: float = 1.0,
              spill: float = 0.35, uneven: bool = True) -> SyntheticKeyCase:
    """Build the case. ``noise``: sensor noise sigma in 8-bit levels; ``spill``: spill strength;
    ``uneven``: light the screen with a gradient and a vignette (else evenly)."""
    rng = np.random.default_rng(seed)
    cv = _Canvas(size)
    _draw_person(cv, size, rng)
    _draw_branch(cv, size, rng)
    alpha = cv2.resize(cv.alpha, (size, size), interpolation=cv2.INTER_AREA)
    pre = cv2.resize(cv.pre, (size, size), interpolation=cv2.INTER_AREA)
    fg_lin = np.where(alpha[..., None] > 1e-6, pre / np.maximum(alpha, 1e-6)[..., None], 0.0)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    light = (0.62 + 0.45 * x) * (1.0 - 0.45 * ((x - 0.5) ** 2 + (y - 0.45) ** 2)) if uneven else np.ones_like(x)
    screen = srgb_to_linear(np.asarray(key_rgb, np.float32) / 255.0) * light[..., None]
    # spill: the screen's light reflected by the actor near its edges (a green cast on its albedo)
    spill_map = spill * cv2.GaussianBlur(1.0 - alpha, (0, 0), 2.5)[..., None]
    tint = screen / np.maximum(screen.max(-1, keepdims=True), 1e-6)
    observed_fg = fg_lin * (1.0 - spill_map + spill_map * tint)
    plate_lin = alpha[..., None] * observed_fg + (1.0 - alpha[..., None]) * screen
    plate = linear_to_srgb(plate_lin) * 255.0 + rng.normal(0.0, noise, plate_lin.shape)
    fg_srgb = linear_to_srgb(fg_lin) * 255.0
    background = _background(size)
    truth = alpha[..., None] * fg_srgb + (1.0 - alpha[..., None]) * background.astype(np.float32)
    return SyntheticKeyCase(plate=to_u8(plate / 255.0), alpha=alpha.astype(np.float32),
                            foreground=fg_srgb.astype(np.float32), background=background,
                            truth=truth.astype(np.float32), key_rgb=tuple(int(v) for v in key_rgb))
