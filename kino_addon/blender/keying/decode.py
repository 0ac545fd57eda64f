"""Decode a command-line input (movie file, image folder or one image) through Blender's sequencer,
for ``scripts/kino composite``.

Decoding renders the input as a strip in a throw-away scene (Standard view transform, so pixels come
out as they went in) to uncompressed TIFF files (``strips.frame_file_settings``); the background is
rendered at the actor's size with the strip's "Scale to Fill" fit, which is exactly "scaled to cover".
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional

import bpy
import numpy as np

from ...core.file_stamps import input_digest
from ...core.job_session import SourceError
from ...core.tiff import read_tiff
from .. import compat
from ..strips import add_input_strip, frame_file_settings


class DecodeError(RuntimeError):
    """Blender could not decode an input; the message says which and why."""


@dataclass
class Decoded:
    """Frames of one input rendered to TIFF files; ``read(n)`` (1-based) -> uint8 (h, w, 3), or
    (h, w, 4) with straight alpha when ``alpha``, cut to ``crop`` (x, y, w, h) when set. ``identity``
    says what they came from (path, size, file stamps, frames, crop): it keys the resume. ``total``: the
    clip's own length; ``first``: its first frame here."""

    paths: List[str]
    width: int
    height: int
    fps: float = 24.0
    identity: Optional[dict] = None
    crop: Optional[tuple] = None
    total: int = 0
    first: int = 1
    alpha: bool = False

    def read(self, number: int) -> np.ndarray:
        image = read_tiff(self.paths[number - 1], keep_alpha=self.alpha)
        if self.crop:
            x, y, w, h = self.crop
            image = np.ascontiguousarray(image[y:y + h, x:x + w])
        return image

    def cropped(self, rect: tuple) -> "Decoded":
        """These frames cut to ``rect`` (x, y, w, h)."""
        rect = tuple(int(v) for v in rect)
        return Decoded(self.paths, rect[2], rect[3], self.fps, dict(self.identity or {}, crop=list(rect)), rect,
                       self.total, self.first, self.alpha)

    def opaque(self) -> "Decoded":
        """These frames read as RGB (the alpha of frames that turned out fully opaque dropped)."""
        return Decoded(self.paths, self.width, self.height, self.fps, self.identity, self.crop, self.total,
                       self.first)

    def __len__(self) -> int:
        return len(self.paths)


def input_identity(path: str) -> dict:
    """What an input is: its path, the size and time of its files (first, second and last) and a digest
    of every one (a frame repainted mid-sequence is another input)."""
    path = os.path.abspath(path)
    files = [path]
    if os.path.isdir(path):
        names = sorted(os.listdir(path))
        files = [os.path.join(path, n) for n in dict.fromkeys(names[:2] + names[-1:])]
    stamps = []
    for f in files:
        try:
            st = os.stat(f)
            stamps.append({"path": f, "bytes": st.st_size, "mtime": int(st.st_mtime)})
        except OSError:
            stamps.append({"path": f})
    return {"input": path, "files": stamps, "files_digest": input_digest(path)}


def decode(path: str, work: str, size: Optional[tuple] = None, limit: Optional[int] = None,
           first: int = 1, alpha: bool = False) -> Decoded:
    """Render ``path`` through the sequencer into ``work``. ``size`` (w, h): render at that size with
    the strip scaled to cover it (Scale to Fill); else at the input's own size. Frames ``first`` .. (at
    most ``limit`` of them, never past the clip's end); RGBA (straight alpha) with ``alpha``."""
    scene = bpy.data.scenes.new(".kino_decode")
    try:
        r = scene.render
        if size:
            r.resolution_x, r.resolution_y = int(size[0]), int(size[1])
        try:
            strip = add_input_strip(scene, path, 1, fit='FILL' if size else 'ORIGINAL')
        except SourceError as exc:
            raise DecodeError(str(exc)) from None
        elem = strip.elements[0]
        w, h = size or (elem.orig_width, elem.orig_height)
        r.resolution_x, r.resolution_y, r.resolution_percentage = int(w), int(h), 100
        r.use_sequencer, r.use_compositing, r.use_stamp = True, False, False
        frame_file_settings(r, alpha=alpha)
        r.filepath = os.path.join(work, "f_####")
        vs = scene.view_settings
        vs.view_transform, vs.look, vs.exposure, vs.gamma = 'Standard', 'None', 0.0, 1.0
        total = compat.strip_time(strip, "duration")
        if first > total:
            raise DecodeError(f"--frames starts at {first}, after the last frame of {path} ({total})")
        count = total - first + 1 if limit is None else min(limit, total - first + 1)
        scene.frame_start, scene.frame_end = first, first + max(1, count) - 1
        fps = float(getattr(elem, "orig_fps", 0) or getattr(strip, "fps", 0) or 24.0)
        bpy.ops.render.render(animation=True, scene=scene.name)
        paths = [scene.render.frame_path(frame=f) for f in range(first, first + count)]
    finally:
        bpy.data.scenes.remove(scene)
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise DecodeError(f"Blender did not render {len(missing)} frame(s) of {path}")
    identity = dict(input_identity(path), size=[int(w), int(h)], frames=count, first=first)
    return Decoded(paths, int(w), int(h), fps, identity, total=total, first=first, alpha=alpha)
