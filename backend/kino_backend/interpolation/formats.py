"""Frames as ``scripts/kino interpolate`` reads and writes them: 8- or 16-bit, with or without alpha, kept
as they came (the inputs are written back unchanged; the made frames have their format).

The interpolator works on a *work* frame: uint8 RGB as it is (the common case, no conversion), otherwise
float32 in 0..255 levels (16-bit values / 257) with the colour premultiplied by alpha. Premultiplied, a
transparent pixel's colour (which can be anything in a straight-alpha file) weighs nothing when pixels
are mixed, so no colour of empty areas bleeds into an edge; the made frame is un-premultiplied again.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

from kino_addon.core.media import read_outside_blender

from ..metrics.frames import list_images, read_frames


@dataclass(frozen=True)
class FrameFormat:
    alpha: bool = False
    depth: int = 8  # bits per channel of the files written

    @property
    def plain(self) -> bool:
        return not self.alpha and self.depth == 8

    def describe(self) -> str:
        return f"{'RGBA' if self.alpha else 'RGB'}, {self.depth}-bit"


def format_of(frame: np.ndarray) -> FrameFormat:
    return FrameFormat(alpha=frame.ndim == 3 and frame.shape[2] == 4, depth=16 if frame.dtype == np.uint16 else 8)


def _read_unchanged(path: str) -> np.ndarray:
    unreadable = read_outside_blender(path)
    if unreadable:
        raise ValueError(unreadable)
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"cannot read image {path}")
    if img.dtype not in (np.uint8, np.uint16):  # float EXR and the like: 8-bit colour as elsewhere in Kino
        img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def read_inputs(path: str) -> Iterator[np.ndarray]:
    """The frames of a folder (its numbered sequence) as stored: uint8 or uint16, RGB or RGBA; a video's as
    uint8 RGB (OpenCV reads no alpha from a movie: docs/cli.md says to give its frames as a folder)."""
    if not os.path.isdir(path):
        yield from read_frames(path)
        return
    paths = list_images(path)
    if not paths:
        yield from read_frames(path)  # its "holds no images" message
        return
    for p in paths:
        yield _read_unchanged(p)


def conform(frame: np.ndarray, fmt: FrameFormat) -> np.ndarray:
    """A frame in the clip's format (the first frame's): alpha added (opaque) or dropped, depth changed."""
    if fmt.depth == 16 and frame.dtype == np.uint8:
        frame = frame.astype(np.uint16) * 257
    elif fmt.depth == 8 and frame.dtype == np.uint16:
        frame = np.clip(np.rint(frame / 257.0), 0, 255).astype(np.uint8)
    has_alpha = frame.shape[2] == 4
    if fmt.alpha and not has_alpha:
        opaque = np.full(frame.shape[:2] + (1,), 65535 if fmt.depth == 16 else 255, frame.dtype)
        frame = np.concatenate([frame, opaque], axis=2)
    elif has_alpha and not fmt.alpha:
        frame = np.ascontiguousarray(frame[..., :3])
    return frame


def to_work(frame: np.ndarray, fmt: FrameFormat) -> np.ndarray:
    if fmt.plain:
        return frame
    work = frame.astype(np.float32) / (257.0 if fmt.depth == 16 else 1.0)
    if fmt.alpha:
        work[..., :3] *= work[..., 3:] / 255.0
    return work


def from_work(work: np.ndarray, fmt: FrameFormat) -> np.ndarray:
    if fmt.plain:
        return work
    out = np.array(work, np.float32)
    if fmt.alpha:
        alpha = out[..., 3:]
        out[..., :3] = np.where(alpha > 0, out[..., :3] * 255.0 / np.maximum(alpha, 1e-6), 0.0)
    if fmt.depth == 16:
        return np.clip(np.rint(out * 257.0), 0, 65535).astype(np.uint16)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def write_frame(path: str, frame: np.ndarray) -> bool:
    code = cv2.COLOR_RGBA2BGRA if frame.shape[2] == 4 else cv2.COLOR_RGB2BGR
    return bool(cv2.imwrite(path, cv2.cvtColor(frame, code)))
