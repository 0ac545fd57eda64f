"""Blender keying tests: bpy 5.0.1 headless, Kino enabled as an extension. Media is drawn with numpy
and written with Kino's own PNG encoder (no cv2/PIL in this venv)."""
from __future__ import annotations

import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import blender_ext  # noqa: E402

MODULE = blender_ext.load_kino_extension()
import bpy  # noqa: E402,F401

from kino_addon.core.png import encode_png  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
FOOTAGE = REPO.parent / "shared" / "footage"
SCREEN = (40, 180, 60)
ACTOR = (214, 160, 130)


def srgb_to_linear(v):
    v = np.asarray(v, np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(v):
    v = np.clip(v, 0, 1)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055) * 255.0


def actor_frame(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    """A skin-coloured disk (soft edge) moving right by 2 px a frame over a slightly uneven screen."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    cx, cy, r = 26 + 2 * i, 24, 11
    alpha = np.clip(r + 0.5 - np.hypot(x - cx, y - cy), 0, 1)[..., None]
    light = (0.9 + 0.1 * x / w)[..., None]
    lin = alpha * srgb_to_linear(ACTOR) + (1 - alpha) * srgb_to_linear(SCREEN) * light
    return np.clip(np.rint(linear_to_srgb(lin)), 0, 255).astype(np.uint8)


def split_background(w: int = 80, h: int = 40) -> np.ndarray:
    """Left half red, right half blue: shows how the cover scaling cropped it."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (220, 30, 30)
    img[:, w // 2:] = (30, 40, 220)
    return img


def write_png(path: pathlib.Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(image))
