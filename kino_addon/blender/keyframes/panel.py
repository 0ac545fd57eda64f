"""The "Painted Keyframes" panel (below the Kino tab's root panel): the active strip's painted
keyframes, the export and folder buttons, and after a keyframes job how much no keyframe reached
(on average, at worst, under the playhead) and which frames to paint next. ``draw`` only reads state
(it lists the keyframes folder at most every 2 s)."""
from __future__ import annotations

import time

import bpy

from ...core.painted_keyframes import painted_numbers
from .. import compat
from ..stylize.strip_job import QUEUE
from .job import LOOK, strip_keyframes_dir
from .ops import source_strip

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
        return compat.sequencer_scene(context) is not None

    def draw(self, context):
        layout = self.layout
        scene = compat.sequencer_scene(context)
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
        last = QUEUE.finished[-1] if QUEUE.finished else None
        if last is not None and last.look == LOOK and not QUEUE.active:
            draw_fill(layout, last.session.provenance, scene.frame_current - last.plan.first)



CLASSES = (KINO_PT_keyframes,)
