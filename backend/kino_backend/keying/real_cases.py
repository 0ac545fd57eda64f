"""Keying cases with real fine detail and a known alpha, built from real footage (no matting data set
with known alpha is at hand, so the answer is derived from real images, then put on a green screen).

Each case takes a crop of a real frame where dark fine detail stands against a bright, flat background
(tree foliage and twigs against the sky, dark hair and loose strands against a wall or the sky):

1. **alpha** from the crop's own structure: in linear light, the background's luminance B(x) is a
   smooth quadratic fitted (robustly) to the plainly bright pixels, the foreground's D(x) is spread
   from the plainly dark ones (push-pull fill), and ``alpha = (B - L) / (B - D)`` clipped to [0, 1]
   (below 0.06 -> 0, above 0.96 -> 1, so the background's own texture is not counted as coverage). Thin twigs, leaf gaps and single
   hairs get the fractional coverage the camera recorded.
2. **foreground colour**: the crop's colours where alpha > 0.9, spread into the soft pixels around
   them (push-pull), so a semi-transparent strand has the colour of the hair next to it.
3. **plate**: in linear light ``alpha F' + (1 - alpha) S`` with S a real green screen colour (blue for
   green leaves, as productions shoot them) lit
   unevenly (a gradient and a vignette) and F' the foreground with the screen's spill near its edges
   (as ``synthetic.py``); the screen's light falls off across the source frame (the crop gets the
   part at its place); then a lens blur (sigma 0.6 px, the truth is blurred with it:
   ``alpha_t = blur(alpha)``, ``F_t = blur(alpha F) / alpha_t``), sensor noise (sigma 1.2 levels) and
   8-bit sRGB. ``chroma_420`` also halves the colour resolution as consumer codecs do (reported as a
   separate, harder variant: colour-difference keying of single strands then has half the detail).
4. **truth**: ``alpha_t F_t + (1 - alpha_t) Bg`` on sRGB values, Bg a real frame of another clip.

The result has the fields of ``synthetic.SyntheticKeyCase`` (so ``metrics.score`` applies) plus
``name`` and ``source`` (clip, frame, crop) saying exactly what it was made from.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Tuple

import cv2
import numpy as np

from .colorspace import linear_to_srgb, srgb_to_linear, to_u8
from .fill import push_pull
from .synthetic import SyntheticKeyCase

GREEN = (52, 160, 84)  # real screen colours (greenscreen_actor's green is about 68, 152, 103)
BLUE = (38, 78, 170)

# name: (clip, 0-based frame, crop X, Y, W, H in source px, what it shows, screen, key colour detected?)
CASES: Dict[str, Tuple[str, int, Tuple[int, int, int, int], str, tuple, bool]] = {
    # green leaves are shot on a blue screen (on green no keyer can tell them apart); 90% of the crop
    # is leaves, too little screen to detect its colour: it is given, as an artist would pick it
    "foliage_leaves": ("handheld_park.mp4", 200, (120, 0, 150, 110), "leaves with the sky showing through",
                       BLUE, False),
    "foliage_trees": ("runner_tracking_shot.mp4", 10, (352, 92, 88, 120), "a soft-focus tree with twigs against "
                      "the sky", GREEN, True),
    "hair_strands": ("runner_tracking_shot.mp4", 40, (120, 130, 110, 110), "flying hair strands against the sky",
                     GREEN, True),
    "hair_edge": ("talking_head.mp4", 50, (30, 100, 120, 240), "a dark hair edge and strays against a wall",
                  GREEN, True),
    "hair_top": ("talking_head.mp4", 50, (140, 10, 240, 100), "the top of a head, flyaway hairs", GREEN, True),
}
BACKGROUND = ("handheld_seattle.avi", 60)


@dataclass
class RealDetailCase(SyntheticKeyCase):
    name: str = ""
    source: str = ""
    detect_key: bool = True  # False: the screen's colour is given to the keyer (too little screen to find it)


def read_frame(path: str, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(path)
    cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
    ok, bgr = cap.read()
    cap.release()
    if not ok:
        raise FileNotFoundError(f"could not read frame {index} of {path}")
    return np.ascontiguousarray(bgr[..., ::-1])


def _smooth_fit(lum: np.ndarray, weight: np.ndarray, degree: int = 2) -> np.ndarray:
    """Least-squares 2-D polynomial of ``degree`` through ``lum`` where ``weight`` > 0 (a sky's or a
    wall's smooth light falloff)."""
    h, w = lum.shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = x / w - 0.5, y / h - 0.5
    terms = [x ** i * y ** j for i in range(degree + 1) for j in range(degree + 1 - i)]
    basis = np.stack([t.ravel() for t in terms], 1)
    wv = weight.ravel().astype(np.float64)
    coef, *_ = np.linalg.lstsq(basis * wv[:, None], lum.ravel() * wv, rcond=None)
    return (basis @ coef).reshape(h, w).astype(np.float32)


def alpha_from_structure(crop: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(alpha, foreground colour, linear) of dark detail in front of a bright, smoothly lit background."""
    lin = srgb_to_linear(crop)
    lum = lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    lo, hi = np.percentile(lum, 5), np.percentile(lum, 95)
    bright = (lum > lo + 0.6 * (hi - lo)).astype(np.float32)
    back = _smooth_fit(lum, bright)
    for _ in range(3):  # robust: refit on the pixels close to the fitted background
        bright = (lum > back - 0.12 * (back - lo)).astype(np.float32) * (lum > lo + 0.4 * (hi - lo))
        back = _smooth_fit(lum, bright)
    dark = np.clip((back - lum) / np.maximum(back - lo, 1e-4), 0, 1) > 0.85
    front = push_pull(lum[..., None], dark.astype(np.float32), start_level=2)[..., 0]
    alpha = np.clip((back - lum) / np.maximum(back - front, 1e-3), 0.0, 1.0)
    alpha = np.where(alpha < 0.06, 0.0, np.where(alpha > 0.96, 1.0, alpha)).astype(np.float32)
    solid = np.clip((alpha - 0.9) / 0.1, 0.0, 1.0) ** 2
    fg = push_pull(lin, solid) if float(solid.sum()) >= 4 else lin
    return alpha, np.clip(fg, 0.0, 1.0).astype(np.float32)


def _subsample_chroma(srgb: np.ndarray) -> np.ndarray:
    """4:2:0: colour at half resolution each way, brightness at full (values 0..255 float)."""
    ycc = cv2.cvtColor(np.clip(srgb, 0, 255).astype(np.float32) / 255.0, cv2.COLOR_RGB2YCrCb)
    h, w = ycc.shape[:2]
    for c in (1, 2):
        small = cv2.resize(ycc[..., c], ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
        ycc[..., c] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB) * 255.0


def compose_case(alpha: np.ndarray, fg_lin: np.ndarray, background: np.ndarray, *, seed: int = 0,
                 key_rgb=GREEN, spill: float = 0.3, blur: float = 0.6, noise: float = 1.2, chroma_420: bool = False,
                 origin=(0, 0), frame_size=None) -> dict:
    """The plate, truth and answer for a known alpha and foreground (see the module text). The screen's
    light falls off across the whole source frame (``frame_size``); the crop at ``origin`` gets its part."""
    h, w = alpha.shape
    rng = np.random.default_rng(seed)
    fw, fh = frame_size or (w, h)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = (x + origin[0]) / fw, (y + origin[1]) / fh
    light = (0.7 + 0.4 * x) * (1.0 - 0.4 * ((x - 0.5) ** 2 + (y - 0.45) ** 2))
    screen = srgb_to_linear(np.asarray(key_rgb, np.float32) / 255.0) * light[..., None]
    spill_map = spill * cv2.GaussianBlur(1.0 - alpha, (0, 0), 2.0)[..., None]
    tint = screen / np.maximum(screen.max(-1, keepdims=True), 1e-6)
    observed = fg_lin * (1.0 - spill_map + spill_map * tint)
    a3 = alpha[..., None]
    plate_lin = cv2.GaussianBlur(a3 * observed + (1.0 - a3) * screen, (0, 0), blur)
    alpha_t = cv2.GaussianBlur(alpha, (0, 0), blur)
    fg_t = cv2.GaussianBlur(a3 * fg_lin, (0, 0), blur) / np.maximum(alpha_t, 1e-4)[..., None]
    plate = linear_to_srgb(np.clip(plate_lin, 0, 1)) * 255.0 + rng.normal(0.0, noise, plate_lin.shape)
    if chroma_420:
        plate = _subsample_chroma(plate)
    fg_srgb = linear_to_srgb(np.clip(fg_t, 0, 1)) * 255.0
    truth = alpha_t[..., None] * fg_srgb + (1.0 - alpha_t[..., None]) * background.astype(np.float32)
    return {"plate": to_u8(plate / 255.0), "alpha": alpha_t.astype(np.float32), "foreground": fg_srgb.astype(np.float32),
            "background": background, "truth": truth.astype(np.float32), "key_rgb": tuple(int(v) for v in key_rgb)}


def build(footage: str, name: str, seed: int = 0, chroma_420: bool = False) -> RealDetailCase:
    clip, index, (cx, cy, cw, ch), what, screen, detect = CASES[name]
    frame = read_frame(os.path.join(footage, clip), index)
    crop = frame[cy:cy + ch, cx:cx + cw]
    alpha, fg = alpha_from_structure(crop)
    bg_clip, bg_index = BACKGROUND
    bg = cv2.resize(read_frame(os.path.join(footage, bg_clip), bg_index), (cw, ch), interpolation=cv2.INTER_AREA)
    parts = compose_case(alpha, fg, bg, seed=seed, key_rgb=screen, chroma_420=chroma_420, origin=(cx, cy),
                         frame_size=(frame.shape[1], frame.shape[0]))
    source = (f"{what}: {clip} frame {index}, crop {cx},{cy},{cw}x{ch}; background {bg_clip} frame {bg_index}; "
              f"screen sRGB {screen}; key colour {'detected' if detect else 'given'}"
              + ("; 4:2:0 chroma" if chroma_420 else ""))
    return RealDetailCase(name=name, source=source, detect_key=detect, **parts)


def available(footage: str) -> bool:
    needed = {c[0] for c in CASES.values()} | {BACKGROUND[0]}
    return all(os.path.isfile(os.path.join(footage, n)) for n in needed)
