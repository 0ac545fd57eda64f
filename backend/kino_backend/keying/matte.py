"""Pulling the matte: a colour-difference keyer against a clean plate, refined by projecting each pixel
onto the line between the local screen colour and the local foreground colour.

For a pixel C that covers a fraction ``a`` of a foreground colour F in front of the screen colour S,
in linear light ``C = a F + (1 - a) S``. We estimate

1. S everywhere: the screen's colour where the screen is plainly visible, spread smoothly behind the
   actor (push-pull fill), so an unevenly lit screen or a vignette keys as well as an even one.
   "Plainly visible" is judged twice: first against the key colour, then against the local screen
   estimate itself (within a few percent of its colour difference and chromaticity), so a strand of
   hair that covers 30% of a pixel no longer counts as screen and darkens the plate behind the hair
   (which made every soft pixel near dense hair or foliage key too transparent);
2. a first matte from the colour difference ``d(x) = x[p] - max(other channels)`` (p = the screen's
   primary channel): ``a0 = 1 - d(C) / d(S)``;
3. F near soft edges: each pixel un-mixed from the screen with the first matte, spread outwards
   from the mostly covered pixels;
4. ``a = (C - S)·(F - S) / |F - S|²`` wherever F and S differ enough to tell them apart, which keeps
   the fractional coverage of thin hair and leaf edges whatever their colour.

Then clip black/white, the garbage matte, optional guided-filter refinement, and the foreground colour
is un-mixed from the screen (``F = S + (C - S) / a``) and despilled (edges take the chromaticity of
the solid interior nearby, then the screen channel is limited), so edges carry no screen cast.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import cv2
import numpy as np

from .colorspace import linear_to_srgb, srgb_to_linear, to_u8
from .despill import Interior, despill, key_channels, restore_edge_colour
from .fill import push_pull


@dataclass(frozen=True)
class KeyParams:
    """The keyer's settings (the key stage's parameters, validated)."""
    clip_black: float = 0.03     # matte values below this become 0 (screen noise)
    clip_white: float = 0.99     # matte values above this become 1 (solid foreground)
    despill: float = 1.0         # spill suppression strength, 0 = off
    refine_radius: int = 0       # guided-filter edge refinement radius in px, 0 = off
    screen_smooth: int = 4       # clean-plate smoothing: pyramid level (2**level px) of the final estimate


@dataclass
class KeyResult:
    """What a key pulls from one frame: matte, un-mixed actor colour and the clean-plate estimate."""
    matte: np.ndarray        # float32 (H, W) in [0, 1]
    foreground: np.ndarray   # uint8 (H, W, 3): the despilled, un-mixed actor colour (sRGB)
    screen: np.ndarray       # float32 (H, W, 3): the clean plate estimate (linear)


def _difference(x: np.ndarray, p: int, others: Sequence[int]) -> np.ndarray:
    return x[..., p] - np.maximum(x[..., others[0]], x[..., others[1]])


def _is_chroma_key(key_lin: np.ndarray) -> bool:
    """A saturated screen (green, blue, also very dark green) keys by colour difference; a grey or black
    one by distance to the screen colour."""
    p, others = key_channels(key_lin)
    diff = float(_difference(key_lin[None], p, others)[0])
    return diff > 0.002 and diff > 0.3 * float(key_lin.max())


def _erode(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.erode(mask, k, borderType=cv2.BORDER_REPLICATE)


def _screen_confidence(lin: np.ndarray, key_lin: np.ndarray, chroma: bool) -> np.ndarray:
    """1 where the pixel is plainly the screen (same chromaticity, similar colour difference)."""
    if chroma:
        p, others = key_channels(key_lin)
        ratio = _difference(lin, p, others) / float(_difference(key_lin[None], p, others)[0])
        chrom = lin / np.maximum(lin.sum(-1, keepdims=True), 1e-4)
        kchrom = key_lin / max(float(key_lin.sum()), 1e-4)
        dist = np.abs(chrom - kchrom).max(-1)
        conf = np.clip((ratio - 0.35) / 0.25, 0, 1) * np.clip((0.12 - dist) / 0.06, 0, 1)
    else:
        dist = np.abs(lin - key_lin).max(-1)
        conf = np.clip((0.04 - dist) / 0.02, 0, 1)
    return _erode(conf.astype(np.float32), 2)


def _local_screen_confidence(lin: np.ndarray, key_lin: np.ndarray, screen: np.ndarray) -> np.ndarray:
    """1 where the pixel is the screen as lit right there: its colour difference within 10% of the local
    screen estimate's and its chromaticity within 0.03-0.06 of it (a partly covered pixel is not)."""
    p, others = key_channels(key_lin)
    ratio = _difference(lin, p, others) / np.maximum(_difference(screen, p, others), 1e-4)
    chrom = lin / np.maximum(lin.sum(-1, keepdims=True), 1e-4)
    local = screen / np.maximum(screen.sum(-1, keepdims=True), 1e-4)
    dist = np.abs(chrom - local).max(-1)
    conf = np.clip((ratio - 0.9) / 0.05, 0, 1) * np.clip((0.06 - dist) / 0.03, 0, 1)
    return _erode(conf.astype(np.float32), 1)


def clean_plate(lin: np.ndarray, key_lin: np.ndarray, chroma: bool, smooth: int = 4) -> np.ndarray:
    """The screen's colour everywhere (linear), from the pixels that are plainly screen (see above)."""
    conf = _screen_confidence(lin, key_lin, chroma)
    if float(conf.sum()) < 4.0:
        return np.broadcast_to(key_lin, lin.shape).astype(np.float32)
    screen = push_pull(lin, conf, start_level=min(2, smooth))
    if not chroma:
        return push_pull(lin, conf, start_level=smooth) if smooth != 2 else screen
    for _ in range(2):
        local = _local_screen_confidence(lin, key_lin, screen)
        if float(local.sum()) < 4.0:
            break
        conf = local
        screen = push_pull(lin, conf, start_level=smooth)
    return screen


def _first_matte(lin: np.ndarray, screen: np.ndarray, key_lin: np.ndarray, chroma: bool) -> np.ndarray:
    """Unclipped colour-difference matte (values > 1 are 'more foreground than needed')."""
    if chroma:
        p, others = key_channels(key_lin)
        ds = np.maximum(_difference(screen, p, others), 1e-3)
        return 1.0 - _difference(lin, p, others) / ds
    return np.abs(lin - screen).max(-1) / 0.08


def _project(lin: np.ndarray, screen: np.ndarray, fg: np.ndarray, a0: np.ndarray) -> np.ndarray:
    """Coverage along the screen -> foreground line; trusted where that line is long enough and the
    pixel lies near it (else the local foreground estimate is wrong there and ``a0`` is kept)."""
    d = fg - screen
    dd = (d * d).sum(-1)
    ap = np.clip(((lin - screen) * d).sum(-1) / np.maximum(dd, 1e-6), 0.0, 1.0)
    off_line = np.sqrt((((lin - screen) - ap[..., None] * d) ** 2).sum(-1))
    reliable = np.clip(dd / 0.01, 0.0, 1.0) * np.clip(1.0 - off_line / 0.1, 0.0, 1.0)
    return reliable * np.clip(ap, 0, 1) + (1.0 - reliable) * np.clip(a0, 0, 1)


def _foreground_estimate(lin: np.ndarray, screen: np.ndarray, a0: np.ndarray) -> Optional[np.ndarray]:
    """Local foreground colour: each pixel un-mixed from the screen with the first matte, spread from
    the mostly-covered pixels (weight grows with coverage) to their soft neighbours."""
    weight = np.clip((a0 - 0.9) / 0.1, 0.0, 1.0) ** 4
    if float(weight.sum()) < 4.0:
        return None
    unmixed = np.clip(screen + (lin - screen) / np.maximum(a0, 0.05)[..., None], 0.0, 1.0)
    return push_pull(unmixed, weight)


def _unmix(lin: np.ndarray, screen: np.ndarray, fg: np.ndarray, matte: np.ndarray) -> np.ndarray:
    a = matte[..., None]
    unmixed = screen + (lin - screen) / np.maximum(a, 1e-3)
    w = np.clip((a - 0.15) / 0.35, 0.0, 1.0)
    return np.clip(w * unmixed + (1.0 - w) * fg, 0.0, 1.0)


def pull_key(image: np.ndarray, key_rgb: Sequence[int], params: KeyParams = KeyParams(),
             garbage: Optional[np.ndarray] = None,
             adjust: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> KeyResult:
    """Key one 8-bit sRGB frame (H, W, 3) against the sRGB key colour ``key_rgb``.

    ``garbage`` (float (H, W), optional): 1 where the actor may be, 0 = always background.
    ``adjust`` (optional): takes the matte and returns the one to use (e.g. temporally smoothed); the
    actor's colour is then un-mixed with that matte, so colour and alpha stay consistent.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"pull_key needs an 8-bit RGB frame (H, W, 3), got {image.dtype} {image.shape}")
    lin = srgb_to_linear(image)
    key_lin = srgb_to_linear(np.asarray(key_rgb, np.float32) / 255.0)
    chroma = _is_chroma_key(key_lin)
    screen = clean_plate(lin, key_lin, chroma, params.screen_smooth)
    a0 = _first_matte(lin, screen, key_lin, chroma)
    fg = _foreground_estimate(lin, screen, np.clip(a0, 0.0, 1.0))
    matte = _project(lin, screen, fg, a0) if fg is not None else np.clip(a0, 0, 1)
    if fg is None:
        fg = lin
    span = max(params.clip_white - params.clip_black, 1e-3)
    matte = np.clip((matte - params.clip_black) / span, 0.0, 1.0).astype(np.float32)
    if params.refine_radius > 0:
        matte = _refine(image, matte, params.refine_radius)
    if garbage is not None:
        matte = matte * garbage.astype(np.float32)
    if adjust is not None:
        matte = np.clip(adjust(matte), 0.0, 1.0).astype(np.float32)
        if garbage is not None:
            matte = matte * garbage.astype(np.float32)
    colour = _unmix(lin, screen, fg, matte)
    if params.despill > 0:
        inside = Interior(lin, matte)
        colour = despill(restore_edge_colour(colour, lin, matte, key_lin, interior=inside), key_lin,
                         params.despill, matte, interior=inside)
    return KeyResult(matte=matte, foreground=to_u8(linear_to_srgb(colour)), screen=screen)


def _refine(image: np.ndarray, matte: np.ndarray, radius: int) -> np.ndarray:
    """Edge-aware smoothing of the matte guided by the image (removes noise, keeps strands)."""
    guide = image.astype(np.float32)  # ximgproc's eps is in the guide's units squared (0-255 here)
    if hasattr(cv2, "ximgproc"):
        out = cv2.ximgproc.guidedFilter(guide, matte, radius, 10.0)
    else:  # pragma: no cover - opencv-contrib is pinned; plain OpenCV falls back to a bilateral filter
        out = cv2.bilateralFilter(matte, 2 * radius + 1, 0.1, radius)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
