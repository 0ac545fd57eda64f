"""Shared machinery of the classic looks (``toon``, ``paint``, ``pencil``, ``watercolor``).

The classic looks are pure OpenCV/numpy image filters: CPU only, no model weights, deterministic
(the same frame and parameters give the same pixels, bit for bit) and local (no per-frame global
decision such as a k-means palette, which would flicker from frame to frame).

Sizes are *resolution independent*: a length parameter is given in pixels of a 1080p frame (its
shorter side 1080 px) and scaled to the frame, so 176x144 and 1920x1080 get the same look. Heavy
filtering runs at a working resolution whose shorter side is at most ``WORK_SHORT_SIDE`` px and the
result is scaled back to the frame's size; lines and grain are drawn at the frame's own size.

Textures (paper grain, hatching) come from a fixed seed and depend only on the frame size, so they
are identical on every frame of a clip and never flicker.
"""
from __future__ import annotations

import functools
from typing import Callable, Optional, Sequence

import cv2
import numpy as np

from ..base import Frame, ParamSpec, Stage, StageError, StageRun
from kino_addon.protocol.errors import INTERNAL, INVALID_PARAMS

WORK_SHORT_SIDE = 720  # heavy filters run at most at this shorter side, then scale back up
REFERENCE_SHORT_SIDE = 1080.0  # length parameters are in px of a frame with this shorter side
MIN_FILTER_SIDE = 16  # smaller frames (e.g. 1-px strips) are padded to this for filtering
TEXTURE_SEED = 20240611  # fixed: textures must be the same on every frame and every run


def unit(shape: Sequence[int]) -> float:
    """Pixels of a frame of ``shape`` (h, w, ...) per pixel of a 1080p frame."""
    return min(shape[0], shape[1]) / REFERENCE_SHORT_SIDE


def px(length_1080: float, shape: Sequence[int], minimum: float = 0.5) -> float:
    """A length given in px at 1080p, in px of a frame of ``shape`` (at least ``minimum``)."""
    return max(minimum, float(length_1080) * unit(shape))


def odd(n: float, minimum: int = 1) -> int:
    """The nearest odd integer >= ``minimum`` (kernel sizes)."""
    k = max(minimum, int(round(n)))
    return k if k % 2 == 1 else k + 1


def check_image(image: np.ndarray, stage: str) -> np.ndarray:
    """Return ``image`` as a C-contiguous uint8 HxWx3 array or raise a clear StageError."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise StageError(INVALID_PARAMS, f"the {stage} look needs an RGB frame of shape (height, width, 3); "
                         f"got shape {shape}. Send 8-bit RGB frames.", stage=stage)
    if image.dtype != np.uint8:
        raise StageError(INVALID_PARAMS, f"the {stage} look needs 8-bit frames (uint8); got {image.dtype}. "
                         "Convert the frame to 8-bit RGB before sending it.", stage=stage)
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise StageError(INVALID_PARAMS, f"the {stage} look got an empty frame {image.shape}.", stage=stage)
    return np.ascontiguousarray(image)


def to_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) * (1.0 / 255.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] to uint8 with rounding (deterministic, no dithering)."""
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


def work_size(shape: Sequence[int], cap: int = WORK_SHORT_SIDE) -> tuple:
    """(width, height) of the working resolution for a frame of ``shape``."""
    h, w = shape[0], shape[1]
    short = min(h, w)
    if short <= cap:
        return w, h
    s = cap / short
    return max(1, int(round(w * s))), max(1, int(round(h * s)))


def resize_to(image: np.ndarray, size: tuple, interpolation: Optional[int] = None) -> np.ndarray:
    """Resize to (width, height); a no-op when the size already matches."""
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    if interpolation is None:
        shrinking = size[0] < image.shape[1]
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(image, size, interpolation=interpolation)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with ``sigma`` in px of the image (reflected borders)."""
    if sigma <= 0.05:
        return image
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec.709 luma of a float RGB image in [0, 1] (H, W)."""
    return rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722


def edge_smooth(rgb: np.ndarray, sigma_space: float, sigma_color: float, iterations: int = 3) -> np.ndarray:
    """Edge-preserving smoothing (domain transform, recursive filter) of a float RGB image in [0, 1].

    ``sigma_space`` is in px of the image, ``sigma_color`` in 0-255 colour units. Its cost does not
    depend on ``sigma_space``, so big flat regions are cheap.
    """
    if sigma_space <= 0.05:
        return rgb
    guide = to_uint8(rgb)
    return cv2.ximgproc.dtFilter(guide, rgb, float(sigma_space), float(sigma_color),
                                 mode=cv2.ximgproc.DTF_RF, numIters=int(iterations))


def difference_of_gaussians(gray: np.ndarray, sigma: float, k: float = 1.6, tau: float = 0.98) -> np.ndarray:
    """``G(sigma) - tau * G(k * sigma)`` of a float gray image; negative on the dark side of edges."""
    return blur(gray, sigma) - tau * blur(gray, sigma * k)


def soft_posterize(lab: np.ndarray, levels: int, saturation: float = 1.0, sharpness: float = 3.0) -> np.ndarray:
    """Quantize L* of a float CIELAB image into ``levels`` bands; scale a*, b* by ``saturation``.

    The step between bands is a tanh of the given ``sharpness`` (3 = nearly hard, 1 = gentle) rather
    than a hard threshold, so a pixel near a band boundary changes smoothly with the light: bands do
    not flicker on video. The bands are fixed (no per-frame palette).
    """
    lightness = lab[..., 0]
    step = 100.0 / levels
    nearest = (np.floor(lightness / step) + 0.5) * step
    banded = nearest + (step / 2.0) * np.tanh(sharpness * (lightness - nearest) / (step / 2.0)) / np.tanh(sharpness)
    out = np.empty_like(lab)
    out[..., 0] = np.clip(banded, 0.0, 100.0)
    out[..., 1:] = lab[..., 1:] * saturation
    return out


@functools.lru_cache(maxsize=16)
def _noise(h: int, w: int, sigma: float, salt: int) -> np.ndarray:
    rng = np.random.default_rng(TEXTURE_SEED + salt)
    n = rng.standard_normal((h, w)).astype(np.float32)
    n = blur(n, sigma)
    std = float(n.std())
    out = n / std if std > 1e-6 else n
    out.setflags(write=False)
    return out


def noise(shape: Sequence[int], sigma: float, salt: int = 0) -> np.ndarray:
    """Zero-mean, unit-variance smooth noise of the frame size from a fixed seed (read-only, cached)."""
    return _noise(int(shape[0]), int(shape[1]), round(float(sigma), 3), int(salt))


@functools.lru_cache(maxsize=8)
def _paper(h: int, w: int) -> np.ndarray:
    u = min(h, w) / REFERENCE_SHORT_SIDE
    fine = noise((h, w), max(0.5, 1.2 * u), salt=11)
    mid = noise((h, w), max(0.7, 5.0 * u), salt=12)
    coarse = noise((h, w), max(1.0, 30.0 * u), salt=13)
    # Fibres: fine noise stretched along two directions, as in cold-pressed paper.
    fib_a = cv2.GaussianBlur(fine, (0, 0), sigmaX=max(0.6, 4.0 * u), sigmaY=max(0.4, 0.8 * u))
    fib_b = cv2.GaussianBlur(fine, (0, 0), sigmaX=max(0.4, 0.8 * u), sigmaY=max(0.6, 4.0 * u))
    fib = fib_a / max(float(fib_a.std()), 1e-6) + fib_b / max(float(fib_b.std()), 1e-6)
    tex = 0.35 * fine + 0.35 * mid + 0.2 * coarse + 0.25 * fib
    tex = tex / max(float(tex.std()), 1e-6)
    out = np.ascontiguousarray(tex.astype(np.float32))
    out.setflags(write=False)
    return out


def paper(shape: Sequence[int]) -> np.ndarray:
    """Paper grain of the frame size: zero mean, unit variance, fixed seed (read-only, cached)."""
    return _paper(int(shape[0]), int(shape[1]))


class ClassicRun(StageRun):
    """Runs a classic look's ``render`` on each frame; ``init`` is not needed by these filters."""

    def stylize(self, frame: Frame, init: Optional[np.ndarray] = None,
                init_strength: Optional[float] = None) -> np.ndarray:
        image = check_image(frame.image, self.stage.name)
        out = self.stage.render(image, self.params)
        if out.shape != image.shape or out.dtype != np.uint8:
            raise StageError(INTERNAL, f"the {self.stage.name} look returned {out.shape} {out.dtype} for a "
                             f"{image.shape} frame; please report this bug.", frame=frame.index, stage=self.stage.name)
        return out


class ClassicLook(Stage):
    """A classic look: ``render(image_uint8_rgb, params) -> uint8 rgb`` built from a plain function."""

    role = "look"
    run_class = ClassicRun
    takes_init = False

    def frame_independent(self, params: dict, temporal: bool = False) -> bool:
        return True  # a filter of the frame alone

    def __init__(self, name: str, label: str, help: str, params: Sequence[ParamSpec],
                 render: Callable[[np.ndarray, dict], np.ndarray]):
        self.name = name
        self.label = label
        self.help = help
        self.params = tuple(params)
        self._render = render

    def render(self, image: np.ndarray, params: dict) -> np.ndarray:
        image = check_image(image, self.name)
        h, w = image.shape[:2]
        if min(h, w) >= MIN_FILTER_SIDE:
            return self._render(image, params)
        # Neighbourhood filters need a few pixels each way: stylize a replicated pad, keep the middle.
        ph, pw = max(0, MIN_FILTER_SIDE - h), max(0, MIN_FILTER_SIDE - w)
        top, left = ph // 2, pw // 2
        padded = cv2.copyMakeBorder(image, top, ph - top, left, pw - left, cv2.BORDER_REPLICATE)
        return np.ascontiguousarray(self._render(padded, params)[top:top + h, left:left + w])

    def apply(self, image: np.ndarray, **params) -> np.ndarray:
        """Stylize one image with validated parameters (defaults filled): for scripts and tests."""
        return self.render(image, self.validate(params))


def tangent_field(gray: np.ndarray, sigma: float, floor: float = 0.0,
                  fallback_angle: float = -np.pi / 4.0) -> tuple:
    """Unit vectors (tx, ty) of the local edge tangent of a float gray image in [0, 1]: the
    direction along which contours run, from the structure tensor smoothed over ``sigma`` px.

    Where the image has little structure (tensor energy well below ``floor``, roughly the squared
    gradient per pixel of a weak edge, e.g. 1e-3), the direction leans smoothly towards the fixed
    ``fallback_angle`` (radians, image coordinates, y down), so flat areas get calm, stable strokes
    instead of directions made of sensor noise, which would swirl and flicker from frame to frame.
    """
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    jxx, jxy, jyy = blur(gx * gx, sigma), blur(gx * gy, sigma), blur(gy * gy, sigma)
    # Doubled-angle vector of the dominant gradient direction (length = anisotropic energy).
    c2, s2 = jxx - jyy, 2.0 * jxy
    if floor > 0:
        gradient_angle = 2.0 * (fallback_angle - np.pi / 2.0)
        c2 = c2 + floor * float(np.cos(gradient_angle))
        s2 = s2 + floor * float(np.sin(gradient_angle))
    norm = np.sqrt(c2 * c2 + s2 * s2) + 1e-12
    c2 = c2 / norm
    # Halve the angle without arctan: cos and sin of the gradient angle, then rotate by 90 degrees.
    gcos = np.sqrt(np.clip(0.5 * (1.0 + c2), 0.0, 1.0))
    gsin = np.sqrt(np.clip(0.5 * (1.0 - c2), 0.0, 1.0)) * np.where(s2 < 0, -1.0, 1.0).astype(np.float32)
    return (-gsin).astype(np.float32), gcos.astype(np.float32)


@functools.lru_cache(maxsize=8)
def pixel_grid(h: int, w: int) -> tuple:
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.setflags(write=False)
    gy.setflags(write=False)
    return gx, gy


def smooth_along(values: np.ndarray, direction: tuple, length: float, max_samples: int = 7) -> np.ndarray:
    """Gaussian-weighted average of ``values`` along the straight line through each pixel in the
    per-pixel unit ``direction`` (dx, dy) over about +-``length`` px (a line integral convolution):
    coherent contours and strokes survive, isolated specks fade."""
    if length < 1.0:
        return values
    half = min(max_samples // 2, int(np.ceil(length)))
    gx, gy = pixel_grid(values.shape[0], values.shape[1])
    cos, sin = direction
    out = np.zeros_like(values)
    total = 0.0
    for i in range(-half, half + 1):
        t = length * i / half
        weight = float(np.exp(-0.5 * (2.0 * i / half) ** 2))
        if i == 0:
            sample = values
        else:
            sample = cv2.remap(values, gx + t * cos, gy + t * sin, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        out += weight * sample
        total += weight
    return out / total


def ink_lines(gray: np.ndarray, sigma: float, threshold: float, coherence: float,
              direction: Optional[tuple] = None, samples: int = 7) -> np.ndarray:
    """Ink coverage in [0, 1] of the dark side of contours of a float gray image in [0, 1].

    A difference of Gaussians at scale ``sigma`` px, averaged along the local contour direction over
    ``coherence`` px (flow-guided, so outlines are continuous and texture speckle is suppressed),
    then a soft threshold: lightness steps weaker than about ``threshold`` draw nothing.
    ``direction`` is a precomputed ``tangent_field`` of ``gray`` when the caller has one.
    """
    dog = difference_of_gaussians(gray, sigma, k=1.6, tau=1.0)
    if coherence >= 1.0:
        if direction is None:
            direction = tangent_field(gray, max(1.0, 1.5 * sigma))
        dog = smooth_along(dog, direction, coherence, max_samples=samples)
    return np.clip((-dog - threshold) / (0.6 * threshold + 0.002), 0.0, 1.0)
