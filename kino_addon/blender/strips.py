"""Source strips: which strips the operators take, and their frames exactly as the sequencer shows
them in time (used by Stylize and Train LoRA).

The strip is rendered through the sequencer in a throw-away copy of its scene (``scene.copy()``
copies the strips, their trims, offsets, retiming and speed effects) where every other strip is
muted, the strip's spatial transform/crop/flip is reset (they are carried over to the result strip
instead, so the stylized frames keep the source's full resolution), the resolution is the source's
own and the view transform is Standard, so the `none` look returns the source pixels exactly. One
frame is rendered per ``read(number)`` call (a one-frame animation render: a still render of a
non-active scene comes out black in bpy 5.0.1) to an uncompressed TIFF in a private work folder and read
back with numpy (``core.tiff``: faster to write and to read than a BMP). The user's scene is never touched.
"""
from __future__ import annotations

import os
import shutil
from typing import Optional

import bpy
import numpy as np

from ..core import tempdirs
from ..core.file_stamps import files_digest
from ..core.media import MediaError, image_files, is_image
from ..core.png import png_is_whole
from ..core.job_session import SourceError
from ..core.tiff import TIFFError, read_tiff
from ..core.writer import times_alpha
from . import compat
from .strip_settings import feeds, look_settings

SUPPORTED = ("MOVIE", "IMAGE")


def selected_source_strips(context) -> list:
    """The selected movie and image strips, else the active one when it is such a strip."""
    strips = [s for s in (context.selected_strips or []) if s.type in SUPPORTED]
    if not strips and context.active_strip is not None and context.active_strip.type in SUPPORTED:
        strips = [context.active_strip]
    return strips


def add_input_strip(scene, path: str, channel: int = 1, fit: str = 'ORIGINAL', name: str = ""):
    """``path`` (movie file, image folder, or one image) as a strip at frame 1 of ``scene`` (the
    command lines' inputs). ``fit`` other than ORIGINAL scales it to the render size with a filter that
    keeps flat colours. Raises ``SourceError`` when Blender cannot read it."""
    sed = scene.sequence_editor_create()
    name = name or os.path.basename(os.path.normpath(path)) or "input"
    try:
        if os.path.isdir(path):
            names = image_files(path)
            strip = sed.strips.new_image(name=name, filepath=os.path.join(path, names[0]), channel=channel,
                                         frame_start=1, fit_method=fit)
            for n in names[1:]:
                strip.elements.append(n)
        elif is_image(path):
            strip = sed.strips.new_image(name=name, filepath=path, channel=channel, frame_start=1, fit_method=fit)
        else:
            strip = sed.strips.new_movie(name=name, filepath=path, channel=channel, frame_start=1, fit_method=fit)
    except MediaError as exc:
        raise SourceError(str(exc)) from None
    except RuntimeError as exc:
        raise SourceError(f"Blender cannot read {path}: {str(exc).strip().splitlines()[-1]}") from None
    elem = strip.elements[0]
    if elem.orig_width <= 0 or elem.orig_height <= 0:
        raise SourceError(f"Blender cannot decode {path} (no frame size); is it a readable video or image?")
    if fit != 'ORIGINAL':
        # the default (cubic Mitchell) filter shifts flat colours by several levels; bilinear when
        # enlarging and box when shrinking keep them
        r = scene.render
        enlarge = max(r.resolution_x / elem.orig_width, r.resolution_y / elem.orig_height) >= 1.0
        strip.transform.filter = 'BILINEAR' if enlarge else 'BOX'
    return strip


def strip_files(strip) -> list:
    """Absolute paths of the files a movie or image strip reads."""
    if strip.type == "MOVIE":
        return [bpy.path.abspath(strip.filepath)]
    folder = bpy.path.abspath(strip.directory)
    return [os.path.join(folder, e.filename) for e in strip.elements]


def clip_frame_offset(strip) -> int:
    """Timeline frame t shows frame ``t + offset`` of the strip's own media (1 = its first)."""
    return 1 - int(compat.strip_time(strip, "content_start")) + int(compat.strip_time(strip, "content_trim_start"))


def clip_frames(strip) -> tuple:
    """(first, last): the frames of the strip's own media (1 = its first) that the strip shows, inclusive."""
    offset = clip_frame_offset(strip)
    left, right = compat.strip_span(strip)
    return int(left) + offset, int(right) - 1 + offset


def source_size(strip) -> tuple:
    elem = strip.elements[0] if len(strip.elements) else None
    return (elem.orig_width, elem.orig_height) if elem is not None else (0, 0)


def check_strip(strip) -> None:
    """Raise SourceError with a reason when the strip cannot be stylized."""
    if strip.type not in SUPPORTED:
        raise SourceError(f"strip {strip.name!r} is a {strip.type.lower()} strip; Kino stylizes movie and "
                          "image strips")
    parent = strip.parent_meta()
    if parent is not None:
        raise SourceError(f"strip {strip.name!r} is inside the meta strip {parent.name!r}; Kino stylizes strips "
                          "on the top level of the sequencer: ungroup the meta strip (Strip > Ungroup), "
                          "stylize the strip, and group it again with its result if you like")
    if compat.strip_time(strip, "duration") <= 0:
        raise SourceError(f"strip {strip.name!r} is empty (it shows no frames)")
    files = strip_files(strip)
    missing = [f for f in files if not os.path.isfile(f)]
    if strip.type == "MOVIE" and missing:
        raise SourceError(f"strip {strip.name!r}: the movie file {missing[0]} is missing; relink it "
                          "(Strip > Movie Strip > Change Path) and try again")
    if strip.type == "IMAGE" and len(missing) == len(files):
        raise SourceError(f"strip {strip.name!r}: its image files in {os.path.dirname(files[0])} are missing")
    w, h = source_size(strip)
    if w <= 0 or h <= 0:
        raise SourceError(f"strip {strip.name!r}: Blender cannot decode {files[0]} (no frame size); "
                          "check that the file is a readable video or image")


def source_identity(strip) -> dict:
    """What the strip shows: its files (the first and last with size and mtime, and a digest of every
    one: a frame repainted mid-sequence is another source), every timing property, and the settings
    that change its picture (``strip_settings``)."""
    paths = strip_files(strip)
    files = []
    for path in dict.fromkeys(paths[:2] + paths[-1:]):  # a movie: its one file once
        try:
            st = os.stat(path)
            files.append({"path": path, "bytes": st.st_size, "mtime": int(st.st_mtime)})
        except OSError:
            files.append({"path": path})
    # keyed by the names before Blender 5.1, so a result made on any release is recognised on any other
    timing = {old: compat.strip_time(strip, new) for old, new in (
        ("frame_start", "content_start"), ("frame_offset_start", "left_handle_offset"),
        ("frame_offset_end", "right_handle_offset"), ("animation_offset_start", "content_trim_start"),
        ("animation_offset_end", "content_trim_end"))}
    timing.update({k: getattr(strip, k, None) for k in ("use_reverse_frames", "strobe")})
    retime = [k.timeline_frame for k in getattr(strip, "retiming_keys", [])]
    identity = {"strip": strip.name, "type": strip.type, "files": files, "files_digest": files_digest(paths),
                "count": len(strip.elements),
                "timing": timing, "retiming": retime, "colorspace": strip.colorspace_settings.name,
                "size": list(source_size(strip))}
    look = look_settings(strip)  # colour settings, modifiers, effects fed by it: only when not plain
    if look:
        identity["look"] = look
    return identity


def _decodable(path: str) -> bool:
    """Cheap check that an image file is whole (PNG: chunk CRCs and data; others: not empty)."""
    if path.lower().endswith(".png"):
        with open(path, "rb") as fh:
            return png_is_whole(fh.read())
    return os.path.getsize(path) > 0


AHEAD = 8  # the most frames one render call makes (read ahead of the frame asked for)


def frame_file_settings(render, alpha: bool = False) -> None:
    """A render's output as the frame files Kino reads back: 8-bit RGB (RGBA, straight, with ``alpha``),
    uncompressed TIFF (``core.tiff``). At 1920x1080 Blender writes one in 42 ms
    (a BMP 51 ms) and it reads in ~2 ms (a BMP's bottom-up BGR rows 9 ms); the pixels are the same."""
    settings = render.image_settings
    settings.file_format = 'TIFF'
    settings.color_mode = 'RGBA' if alpha else 'RGB'
    settings.color_depth = '8'
    settings.tiff_codec = 'NONE'


class StripSource:
    """Renders frames of one strip; ``read(timeline_frame)`` -> uint8 (h, w, 3).

    State: the strip's and its scene's names (looked up again on each read), its size, a private work
    folder and the throw-away extraction scene (``tmp_name``); ``close()`` removes both. ``alpha``:
    whether the strip's pictures are transparent anywhere (image sequences or movies with an alpha
    channel), decided on the first frame read (None before): frames are rendered with alpha until then,
    and from then on only when it is True."""

    def __init__(self, scene, strip):
        check_strip(strip)
        self.name = strip.name
        self.scene_name = scene.name
        self.width, self.height = source_size(strip)
        tempdirs.sweep(("kino-extract-",))  # what a killed run left behind
        self.work = tempdirs.make("kino-extract-")
        self.tmp_name = ""
        self._ahead: dict = {}  # timeline frame -> its rendered file, not read yet
        self._last, self._run = -(2 ** 31), 1  # the last frame read, the current batch size
        self.alpha: Optional[bool] = None
        self._make_tmp(scene)

    @property
    def tmp(self):
        """The extraction scene, looked up by name (an undo step may have replaced Python's reference);
        made again from the user's scene if an undo removed it."""
        tmp = bpy.data.scenes.get(self.tmp_name) if self.tmp_name else None
        if tmp is None:
            scene = bpy.data.scenes.get(self.scene_name)
            if scene is None or scene.sequence_editor is None or self.name not in scene.sequence_editor.strips_all:
                raise SourceError(f"strip {self.name!r} (scene {self.scene_name!r}) is gone; it was removed or renamed")
            tmp = self._make_tmp(scene)
        return tmp

    def _make_tmp(self, scene):
        tmp = scene.copy()
        tmp.name = f".kino_extract_{self.name}"
        self.tmp_name = tmp.name
        self._setup(tmp)
        return tmp

    def _setup(self, tmp) -> None:
        sed = tmp.sequence_editor
        # each frame is rendered once: the sequencer's caches would only hold every frame read (up to the
        # preferences' memory cache limit, 4 GB by default: Blender grew 8 MB a 1080p frame)
        sed.use_cache_raw = sed.use_cache_final = False
        for s in sed.strips_all:
            s.mute = not (s.name == self.name or feeds(s, self.name))
        for ch in sed.channels:
            ch.mute = False
        t = sed.strips_all[self.name]
        tr = t.transform
        tr.offset_x = tr.offset_y = tr.rotation = 0.0
        tr.scale_x = tr.scale_y = 1.0
        t.crop.min_x = t.crop.max_x = t.crop.min_y = t.crop.max_y = 0
        t.use_flip_x = t.use_flip_y = False
        t.blend_type = 'REPLACE'
        t.blend_alpha = 1.0
        r = tmp.render
        r.resolution_x, r.resolution_y, r.resolution_percentage = self.width, self.height, 100
        r.pixel_aspect_x = r.pixel_aspect_y = 1.0
        r.use_sequencer, r.use_compositing, r.use_border = True, False, False
        r.use_stamp = False
        frame_file_settings(r, alpha=self.alpha is not False)
        r.filepath = os.path.join(self.work, "src_####")
        vs = tmp.view_settings
        vs.view_transform, vs.look, vs.exposure, vs.gamma = 'Standard', 'None', 0.0, 1.0

    def read(self, timeline_frame: int) -> np.ndarray:
        """The strip's picture at ``timeline_frame``, uint8 RGB (a transparent picture over black)."""
        image = self.read_with_alpha(timeline_frame)
        if image.shape[2] == 3:
            return image
        return times_alpha(image[..., :3], image[..., 3:])

    def read_with_alpha(self, timeline_frame: int) -> np.ndarray:
        """The strip's picture at ``timeline_frame``: uint8 RGB, or RGBA with straight alpha when the
        strip is transparent (``alpha``). Reading frame after frame renders them in batches (one
        render call for up to ``AHEAD`` frames: a third less time per frame at 1080p)."""
        frame = int(timeline_frame)
        if frame not in self._ahead:
            self._clear_ahead()
            self._render(frame, self._batch(frame))
        self._last = frame
        path = self._ahead.pop(frame)
        try:
            image = read_tiff(path, keep_alpha=self.alpha is not False)
        except (OSError, TIFFError) as exc:
            raise SourceError(f"strip {self.name!r}: Blender could not render timeline frame {frame} "
                              f"({exc})") from None
        finally:
            if os.path.exists(path):
                os.remove(path)
        return self._alpha_checked(image)

    def _alpha_checked(self, image: np.ndarray) -> np.ndarray:
        """Decide ``alpha`` on the first frame (an opaque one: render RGB from now on); RGBA frames of a
        transparent strip come back as they are (straight alpha), the others as RGB."""
        if image.shape[2] == 3:
            return image
        if self.alpha is None:
            self.alpha = bool((image[..., 3] < 255).any())
            if not self.alpha:
                frame_file_settings(self.tmp.render, alpha=False)
        return image if self.alpha else np.ascontiguousarray(image[..., :3])

    def _batch(self, frame: int) -> int:
        """How many frames from ``frame`` on to render at once: doubling while reads go frame after frame
        (up to ``AHEAD``), 1 for a jump; never past the strip's end."""
        self._run = min(AHEAD, self._run * 2) if frame == self._last + 1 else 1
        t = self.tmp.sequence_editor.strips_all[self.name]
        return max(1, min(self._run, int(compat.strip_span(t)[1]) - frame))

    def _render(self, first: int, count: int) -> None:
        tmp = self.tmp
        t = tmp.sequence_editor.strips_all[self.name]
        if t.type == "IMAGE":
            for frame in range(first, first + count):
                self._check_image(t, frame)
        tmp.frame_start, tmp.frame_end = first, first + count - 1
        try:
            bpy.ops.render.render(animation=True, scene=tmp.name)
        except RuntimeError as exc:
            raise SourceError(f"strip {self.name!r}: Blender could not render timeline frames {first}-"
                              f"{first + count - 1} ({str(exc).strip().splitlines()[-1]})") from None
        self._ahead = {frame: tmp.render.frame_path(frame=frame) for frame in range(first, first + count)}

    def _check_image(self, t, timeline_frame: int) -> None:
        elem = t.strip_elem_from_frame(timeline_frame)
        if elem is None:
            return
        path = os.path.join(bpy.path.abspath(t.directory), elem.filename)
        if not os.path.isfile(path):
            raise SourceError(f"strip {self.name!r}, timeline frame {timeline_frame}: the image {path} "
                              "is missing")
        if not _decodable(path):
            raise SourceError(f"strip {self.name!r}, timeline frame {timeline_frame}: the image {path} "
                              "cannot be decoded (damaged or not an image); replace it and run again")

    def _clear_ahead(self) -> None:
        for path in self._ahead.values():
            if os.path.exists(path):
                os.remove(path)
        self._ahead = {}

    def close(self) -> None:
        self._clear_ahead()
        tmp = bpy.data.scenes.get(self.tmp_name) if self.tmp_name else None
        if tmp is not None:
            bpy.data.scenes.remove(tmp)
        self.tmp_name = ""
        shutil.rmtree(self.work, ignore_errors=True)
