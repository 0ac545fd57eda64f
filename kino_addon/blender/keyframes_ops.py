"""Painted keyframes in the sequencer: export frames of a source strip for painting, mark a folder
(or an image strip of painted frames) as the strip's keyframes, and the "Painted Keyframes" panel,
which shows the strip's keyframes and, after a job, how much was filled and which frames to paint next."""
from __future__ import annotations

import os
import time

import bpy
from bpy.props import PointerProperty, StringProperty

from ..core.files import atomic_write_png
from ..core.keyframes import KeyframeChoiceError, painted_numbers, parse_frame_choice
from ..core.plan import safe_name
from ..core.session import SourceError
from .extract import SUPPORTED, StripSource
from .jobs import RUNNER, output_base
from .keyframes_job import LOOK, mark_strip, strip_keyframes_dir


class KinoKeyframesProps(bpy.types.PropertyGroup):
    frames: StringProperty(name="Frames", default="every 8",
                           description="Frames of the strip to export for painting: 'every 8', '1, 9, 17', "
                                       "'20-24' or 'current' (1 = the strip's first visible frame)")


def source_strip(context):
    """The active movie/image strip that is not itself a folder of painted keyframes."""
    scene = context.sequencer_scene
    strip = scene.sequence_editor.active_strip if scene and scene.sequence_editor else None
    return strip if strip is not None and strip.type in SUPPORTED else None


def default_folder(strip) -> str:
    base, _ = output_base()
    return os.path.join(base, f"{safe_name(strip.name)}_keyframes")


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
            atomic_write_png(path, source.read(strip.frame_final_start + n - 1))
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
    folder: StringProperty(name="Folder", subtype='DIR_PATH', options={'SKIP_SAVE'},
                           description="Where to write them (empty: the strip's keyframes folder, else "
                                       "//kino/<strip>_keyframes/)")

    @classmethod
    def poll(cls, context):
        return source_strip(context) is not None

    def execute(self, context):
        scene, strip = context.sequencer_scene, source_strip(context)
        current = scene.frame_current - strip.frame_final_start + 1
        try:
            numbers = parse_frame_choice(self.frames or scene.kino_keyframes.frames, strip.frame_final_duration,
                                         current)
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

    directory: StringProperty(name="Folder", subtype='DIR_PATH', options={'SKIP_SAVE'})

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
        if numbers[-1] > strip.frame_final_duration:
            self.report({'WARNING'}, f"Kino: frame_{numbers[-1]:04d}.png lies after the strip's last frame "
                                     f"({strip.frame_final_duration}); Stylize will refuse it")
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


_LISTING: dict = {}  # folder -> (time, numbers): draw() lists a folder at most every 2 s


def _painted_cached(folder: str) -> list:
    now = time.monotonic()
    hit = _LISTING.get(folder)
    if hit is None or now - hit[0] > 2.0:
        hit = _LISTING[folder] = (now, painted_numbers(folder))
    return hit[1]


def draw_fill(layout, provenance: dict, offset: int = -1) -> None:
    """After a keyframes job: how much no keyframe reached (on average, at worst, and in the frame
    under the playhead: ``offset`` = its position in the job), and what to paint next."""
    kf = ((provenance or {}).get("stages") or {}).get(LOOK) or {}
    if not kf.get("frames"):
        return
    layout.label(text=f"Filled: {kf.get('fill_mean', 0) * 100:.1f}% on average, most {kf.get('fill_max', 0) * 100:.1f}% "
                      f"(frame {kf.get('fill_max_frame')})", icon='MOD_MASK')
    fill = kf.get("fill") or []
    if 0 <= offset < len(fill):
        layout.label(text=f"This frame: {fill[offset] * 100:.1f}% filled", icon='BLANK1')
    suggest = kf.get("suggest") or []
    if suggest:
        text = ", ".join(map(str, suggest))
        row = layout.row()
        row.label(text=f"Paint next: {text}", icon='BRUSH_DATA')
        op = row.operator("kino.export_keyframes", text="Export", icon='EXPORT')
        op.frames = text
    else:
        layout.label(text="Every frame is covered by your keyframes", icon='CHECKMARK')


class KINO_PT_keyframes(bpy.types.Panel):
    bl_idname = "KINO_PT_keyframes"
    bl_label = "Painted Keyframes"
    bl_space_type = 'SEQUENCE_EDITOR'
    bl_region_type = 'UI'
    bl_category = "Kino"
    bl_parent_id = "KINO_PT_main"

    @classmethod
    def poll(cls, context):
        return context.sequencer_scene is not None

    def draw(self, context):
        layout = self.layout
        scene = context.sequencer_scene
        strip = source_strip(context)
        if strip is None:
            layout.label(text="Select the strip to paint over", icon='INFO')
            return
        folder = strip_keyframes_dir(strip)
        if folder:
            numbers = _painted_cached(folder)
            shown = ", ".join(map(str, numbers[:8])) + (" ..." if len(numbers) > 8 else "")
            layout.label(text=f"{len(numbers)} keyframe(s): {shown or 'none yet'}", icon='IMAGE_DATA')
            layout.label(text=folder, icon='FILE_FOLDER')
        else:
            layout.label(text=f"{strip.name}: no painted keyframes yet", icon='IMAGE_DATA')
        row = layout.row(align=True)
        row.prop(scene.kino_keyframes, "frames", text="")
        row.operator("kino.export_keyframes", icon='EXPORT')
        layout.operator("kino.use_keyframes", icon='FILE_FOLDER')
        if scene.kino.look_name != LOOK:
            layout.label(text="Stylize with the Painted Keyframes look to use them", icon='INFO')
        last = RUNNER.finished[-1] if RUNNER.finished else None
        if last is not None and last.look == LOOK and not RUNNER.active:
            draw_fill(layout, last.session.provenance, scene.frame_current - last.plan.first)


def on_register():
    bpy.types.Scene.kino_keyframes = PointerProperty(type=KinoKeyframesProps)


def on_unregister():
    del bpy.types.Scene.kino_keyframes


CLASSES = (KinoKeyframesProps, KINO_OT_export_keyframes, KINO_OT_use_keyframes, KINO_PT_keyframes)
