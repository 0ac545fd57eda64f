"""The work behind ``scripts/kino composite``: decode the actor and the background through Blender's
sequencer, run the two backend jobs (actor: key + look + temporal, which returns the matte with each
frame; background: its own look + temporal) and composite them (straight alpha-over on sRGB values,
as the sequencer's Alpha Over does).

Decoding renders the input as a strip in a throw-away scene (Standard view transform, so pixels come
out as they went in); the background is rendered at the actor's size with the strip's "Scale to
Fill" fit, which is exactly "scaled to cover".
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import bpy
import numpy as np

from ..core.bmp import read_bmp
from ..core.png import decode_png
from ..protocol.errors import BackendError
from . import compat

MOVIE_EXTS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".ogv")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".exr", ".webp", ".tga")


class CompositeError(RuntimeError):
    """A one-line reason the composite cannot be made."""


def image_files(folder: str) -> List[str]:
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTS) and not n.startswith("."))
    if not names:
        raise CompositeError(f"the folder {folder} holds no images ({', '.join(IMAGE_EXTS)})")
    return names


def add_strip(scene, path: str, channel: int, fit: str = 'ORIGINAL', name: str = ""):
    """``path`` (movie file, image folder, or one image) as a strip at frame 1 of ``scene``."""
    sed = scene.sequence_editor_create()
    name = name or os.path.basename(os.path.normpath(path)) or "input"
    try:
        if os.path.isdir(path):
            names = image_files(path)
            strip = sed.strips.new_image(name=name, filepath=os.path.join(path, names[0]), channel=channel,
                                         frame_start=1, fit_method=fit)
            for n in names[1:]:
                strip.elements.append(n)
        elif path.lower().endswith(IMAGE_EXTS):
            strip = sed.strips.new_image(name=name, filepath=path, channel=channel, frame_start=1, fit_method=fit)
        else:
            strip = sed.strips.new_movie(name=name, filepath=path, channel=channel, frame_start=1, fit_method=fit)
    except RuntimeError as exc:
        raise CompositeError(f"Blender cannot read {path}: {str(exc).strip().splitlines()[-1]}") from None
    elem = strip.elements[0]
    if elem.orig_width <= 0 or elem.orig_height <= 0:
        raise CompositeError(f"Blender cannot decode {path} (no frame size); is it a readable video or image?")
    if fit != 'ORIGINAL':
        # the default (cubic Mitchell) filter shifts flat colours by several levels; bilinear when
        # enlarging and box when shrinking keep them
        r = scene.render
        enlarge = max(r.resolution_x / elem.orig_width, r.resolution_y / elem.orig_height) >= 1.0
        strip.transform.filter = 'BILINEAR' if enlarge else 'BOX'
    return strip


@dataclass
class Decoded:
    """Frames of one input rendered to BMP files; ``read(n)`` (1-based) -> uint8 (h, w, 3)."""

    paths: List[str]
    width: int
    height: int
    fps: float = 24.0

    def read(self, number: int) -> np.ndarray:
        return read_bmp(self.paths[number - 1])

    def __len__(self) -> int:
        return len(self.paths)


def decode(path: str, work: str, size: Optional[tuple] = None, limit: Optional[int] = None) -> Decoded:
    """Render ``path`` through the sequencer into ``work``. ``size`` (w, h): render at that size with
    the strip scaled to cover it (Scale to Fill); else at the input's own size. ``limit``: at most
    that many frames."""
    scene = bpy.data.scenes.new(".kino_decode")
    try:
        r = scene.render
        if size:
            r.resolution_x, r.resolution_y = int(size[0]), int(size[1])
        strip = add_strip(scene, path, 1, fit='FILL' if size else 'ORIGINAL')
        elem = strip.elements[0]
        w, h = size or (elem.orig_width, elem.orig_height)
        r.resolution_x, r.resolution_y, r.resolution_percentage = int(w), int(h), 100
        r.use_sequencer, r.use_compositing, r.use_stamp = True, False, False
        r.image_settings.file_format = 'BMP'
        r.image_settings.color_mode = 'RGB'
        r.filepath = os.path.join(work, "f_####")
        vs = scene.view_settings
        vs.view_transform, vs.look, vs.exposure, vs.gamma = 'Standard', 'None', 0.0, 1.0
        shown = compat.strip_time(strip, "duration")
        count = shown if limit is None else min(limit, shown)
        scene.frame_start, scene.frame_end = 1, max(1, count)
        fps = float(getattr(elem, "orig_fps", 0) or getattr(strip, "fps", 0) or 24.0)
        bpy.ops.render.render(animation=True, scene=scene.name)
        paths = [scene.render.frame_path(frame=f) for f in range(1, count + 1)]
    finally:
        bpy.data.scenes.remove(scene)
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise CompositeError(f"Blender did not render {len(missing)} frame(s) of {path}")
    return Decoded(paths, int(w), int(h), fps)


def buffer_image(buffer, shape) -> np.ndarray:
    spec, data = buffer
    if spec.get("encoding") == "png":
        image = decode_png(bytes(data))
    else:
        image = np.frombuffer(data, np.uint8).reshape(tuple(spec.get("shape") or shape))
    return image.reshape(image.shape[0], image.shape[1], -1)


@dataclass
class JobResult:
    frames: Dict[int, str] = field(default_factory=dict)   # frame -> .npy of the stylized image
    mattes: Dict[int, np.ndarray] = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    workflow: dict = field(default_factory=dict)


def run_job(client, workflow: dict, source: Decoded, count: int, work: str, options: Optional[dict] = None,
            on_progress: Optional[Callable[[str], None]] = None) -> JobResult:
    """Stylize ``count`` frames of ``source`` with ``workflow``; stylized frames go to ``work``."""
    job_id = client.submit_job(workflow, count, source.width, source.height, options or {})
    shape = (source.height, source.width, 3)
    for n in range(1, count + 1):
        client.send_frame(job_id, n, np.ascontiguousarray(source.read(n)), shape=shape)
    result = JobResult(workflow=workflow)
    while True:
        msg = client.next_event(timeout=5.0)
        if msg is None or msg.body.get("job_id") != job_id:
            continue
        if msg.type == "job.frame":
            n = int(msg.body["frame"])
            path = os.path.join(work, f"{job_id}_{n:05d}.npy")
            np.save(path, buffer_image(msg.buffers[0], shape))
            result.frames[n] = path
            for buf in msg.buffers[1:]:
                if buf[0].get("name") == "matte":
                    result.mattes[n] = buffer_image(buf, shape)[..., 0]
            if on_progress:
                on_progress(f"frame {n}/{count}")
        elif msg.type == "job.done":
            result.provenance = msg.body.get("provenance") or {}
            if msg.body.get("status") != "completed":
                err = msg.body.get("error") or {}
                where = ", ".join(f"{k} {err[k]}" for k in ("stage", "frame") if err.get(k))
                raise CompositeError(f"the backend job {msg.body.get('status')}: {err.get('message', 'no reason given')}"
                                     + (f" ({where})" if where else ""))
            return result


def alpha_over(foreground: np.ndarray, background: np.ndarray, matte: np.ndarray) -> np.ndarray:
    """Straight alpha-over on 8-bit sRGB values: ``a * fg + (1 - a) * bg`` (matte uint8 or float)."""
    a = matte.astype(np.float32) / 255.0 if matte.dtype == np.uint8 else np.clip(matte, 0, 1).astype(np.float32)
    a = a.reshape(a.shape[0], a.shape[1], 1)
    out = a * foreground.astype(np.float32) + (1.0 - a) * background.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def work_dir() -> str:
    return tempfile.mkdtemp(prefix="kino-composite-")


__all__ = ["BackendError", "CompositeError", "Decoded", "JobResult", "add_strip", "alpha_over", "decode",
           "run_job", "work_dir"]
