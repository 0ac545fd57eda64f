"""Operators: export frames of a source strip for painting, and mark a folder (or an image strip of
painted frames) as the strip's painted keyframes; the panel's frame choice (``Scene.kino_keyframes``)."""
from __future__ import annotations

import hashlib
import json
import os

import bpy
from bpy.props import PointerProperty, StringProperty

from ...core.frame_files import atomic_write_png
from ...core.job_session import SourceError
from ...core.painted_keyframes import KeyframeChoiceError, painted_numbers, parse_frame_choice
from ...core.plan import safe_name
from .. import compat
from ..addon import output_base
from ..strips import SUPPORTED, StripSource, strip_files
from .job import mark_strip, strip_keyframes_dir


class KinoKeyframesProps(bpy.types.PropertyGroup):
    frames: StringProperty(name="Frames", default="every 8",
                           description="Frames of the strip to export for painting: 'every 8', '1, 9, 17', "
                                       "'20-24' or 'current' (1 = the strip's first visible frame)")


def source_strip(context):
    """The active movie/image strip that is not itself a folder of painted keyframes."""
    scene = compat.sequencer_scene(context)
    strip = scene.sequence_editor.active_strip if scene and scene.sequence_editor else None
    return strip if strip is not None and strip.type in SUPPORTED else None


def default_folder(strip) -> str:
    """``<output base>/<strip>_<hash>_keyframes``: the hash is of the scene, the strip's whole name and
    its media, so two shots never share paintings (same strip name in two scenes, names that differ
    only in accents or after 48 characters, another .blend's strip in the unsaved-files folder)."""
    base, _ = output_base()
    media = strip_files(strip)[:1]
    key = json.dumps([strip.id_data.name, strip.name, media], ensure_ascii=True)
    return os.path.join(base, f"{safe_name(strip.name)}_{hashlib.sha1(key.encode()).hexdigest()[:8]}_keyframes")


def export_frames(scene, strip, numbers, folder: str) -> tuple:
    """Write the strip's frames ``numbers`` (clip numbering) as ``frame_NNNN.png`` into ``folder``;
    frames already there (perhaps painted) are never overwritten. Returns (written, kept)."""
    os.makedirs(folder, exist_ok=True)
    written, kept = [], []
    source = StripSource(scene, strip)
    try:
        for n in numbers:
            path = os.path.join(folder, f"frame_{n:04d}.png")
            if os.path.exists(path):
                kept.append(n)
                continue
            atomic_write_png(path, source.read(compat.strip_time(strip, "left_handle") + n - 1))
            written.append(n)
    finally:
        source.close()
    return written, kept


class KINO_OT_export_keyframes(bpy.types.Operator):
    """Write chosen frames of the active strip as frame_NNNN.png to paint over (in Krita, Photoshop or
    Blender's image editor); the folder becomes the strip's painted keyframes"""

    bl_idname = "kino.export_keyframes"
    bl_label = "Export Frames for Painting"
    bl_options = {'REGISTER'}

    frames: StringProperty(name="Frames", options={'SKIP_SAVE'},
                           description="Which frames (empty: the panel's choice)")
    folder: StringProperty(name="Folder", subtype='DIR_PATH', options={'SKIP_SAVE', *compat.BLEND_RELATIVE},
                           description="Where to write them (empty: the strip's keyframes folder, else "
                                       "//kino/<strip>_keyframes/)")

    @classmethod
    def poll(cls, context):
        return source_strip(context) is not None

    def execute(self, context):
        scene, strip = compat.sequencer_scene(context), source_strip(context)
        current = scene.frame_current - compat.strip_time(strip, "left_handle") + 1
        try:
            numbers = parse_frame_choice(self.frames or scene.kino_keyframes.frames,
                                         compat.strip_time(strip, "duration"), current)
        except KeyframeChoiceError as exc:
            self.report({'ERROR'}, f"Kino: {exc}")
            return {'CANCELLED'}
        folder = bpy.path.abspath(self.folder) if self.folder else \
            (strip_keyframes_dir(strip) or default_folder(strip))
        try:
            written, kept = export_frames(scene, strip, numbers, folder)
        except (SourceError, OSError) as exc:
            self.report({'ERROR'}, f"Kino: could not export frames: {exc}")
            return {'CANCELLED'}
        mark_strip(strip, folder)
        kept_note = f"; {len(kept)} already there were kept" if kept else ""
        self.report({'INFO'}, f"Kino: {len(written)} frame(s) of {strip.name} written to {folder}{kept_note}. "
                              "Paint over them (same size and name), then Stylize with Painted Keyframes")
        return {'FINISHED'}


class KINO_OT_use_keyframes(bpy.types.Operator):
    """Use a folder of painted frame_NNNN.png (or the other selected image strip's folder) as the
    painted keyframes of the active strip"""

    bl_idname = "kino.use_keyframes"
    bl_label = "Use Painted Folder"
    bl_options = {'REGISTER'}

    directory: StringProperty(name="Folder", subtype='DIR_PATH', options={'SKIP_SAVE', *compat.BLEND_RELATIVE})

    @classmethod
    def poll(cls, context):
        return source_strip(context) is not None

    def invoke(self, context, event):
        if self.directory or _other_image_strip(context) is not None:
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    def execute(self, context):
        strip = source_strip(context)
        other = _other_image_strip(context)
        folder = bpy.path.abspath(self.directory) if self.directory else \
            (bpy.path.abspath(other.directory) if other is not None else "")
        if not folder:
            self.report({'ERROR'}, "Kino: choose the folder of painted frames, or select its image strip too")
            return {'CANCELLED'}
        numbers = painted_numbers(folder)
        if not numbers:
            self.report({'ERROR'}, f"Kino: {folder} holds no painted keyframes: they must be named "
                                   "frame_NNNN.png by the strip's frame number (as Export Frames for Painting "
                                   "names them)")
            return {'CANCELLED'}
        if numbers[-1] > compat.strip_time(strip, "duration"):
            self.report({'WARNING'}, f"Kino: frame_{numbers[-1]:04d}.png lies after the strip's last frame "
                                     f"({compat.strip_time(strip, 'duration')}); Stylize will refuse it")
        mark_strip(strip, folder)
        self.report({'INFO'}, f"Kino: {len(numbers)} painted keyframe(s) from {folder} for {strip.name}")
        return {'FINISHED'}


def _other_image_strip(context):
    """A selected image strip other than the active one (its folder holds the painted frames)."""
    active = source_strip(context)
    for s in context.selected_strips or []:
        if s.type == "IMAGE" and s != active:
            return s
    return None


def on_register():
    bpy.types.Scene.kino_keyframes = PointerProperty(type=KinoKeyframesProps)


def on_unregister():
    del bpy.types.Scene.kino_keyframes


CLASSES = (KinoKeyframesProps, KINO_OT_export_keyframes, KINO_OT_use_keyframes)
