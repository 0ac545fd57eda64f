"""The "Kino" tab in the sequencer sidebar. ``draw`` only reads state: it never starts processes or
touches files."""
from __future__ import annotations

import bpy

from . import compat
from .backend import BACKEND
from .jobs import RUNNER
from .model_picker import draw_param


def _wrap(layout, text: str, icon: str = 'NONE', width: int = 48) -> None:
    words, line, first = text.split(), "", True
    for word in words:
        if line and len(line) + len(word) + 1 > width:
            layout.label(text=line, icon=icon if first else 'BLANK1')
            line, first = word, False
        else:
            line = f"{line} {word}".strip()
    if line:
        layout.label(text=line, icon=icon if first else 'BLANK1')


class KINO_PT_main(bpy.types.Panel):
    bl_idname = "KINO_PT_main"
    bl_label = "Kino"
    bl_space_type = 'SEQUENCE_EDITOR'
    bl_region_type = 'UI'
    bl_category = "Kino"

    @classmethod
    def poll(cls, context):
        return compat.sequencer_scene(context) is not None

    def draw(self, context):
        layout = self.layout
        kino = compat.sequencer_scene(context).kino
        draw_backend(layout)
        col = layout.column()
        col.enabled = not RUNNER.active
        col.prop(kino, "look")
        if kino.synced_look == kino.look_name:
            draw_stages(col, kino)
        draw_stabilize(col, kino)
        draw_key(col, kino)
        face = col.box()
        face.prop(kino, "face_score")
        if kino.face_score:
            face.prop(kino, "face_pack")
        row = layout.row(align=True)
        row.scale_y = 1.4
        if RUNNER.active:
            row.operator("kino.cancel", icon='CANCEL')
            layout.progress(factor=RUNNER.fraction(), text=RUNNER.progress_text().removeprefix("Kino: "))
        else:
            row.operator("kino.stylize", icon='BRUSHES_ALL')
        if RUNNER.last_error:
            box = layout.box()
            _wrap(box, RUNNER.last_error, icon='ERROR')
        elif RUNNER.finished and not RUNNER.active:
            last = RUNNER.finished[-1]
            layout.label(text=f"Last: {last.strip_name} {last.session.state}", icon='CHECKMARK')
            draw_figure(layout, last.session.provenance)


def draw_figure(layout, provenance: dict) -> None:
    """The clip's figures: face similarity (face_score stage) and flicker (warping error, contract §4)."""
    stages = (provenance or {}).get("stages") or {}
    identity = stages.get("face_score") or stages.get("identity") or {}  # "identity": kino.json before 0.2
    if identity.get("mean") is not None:
        layout.label(text=f"Face similarity: {identity['mean']:.3f} over {identity.get('frames_scored', 0)} frames",
                     icon='USER')
    fig = (stages.get("temporal") or {}).get("figure") or {}
    if fig.get("warp_error") is None:
        return
    text = f"Flicker (warping error): {fig['warp_error'] * 1000:.3f}e-3"
    if fig.get("source_warp_error"):
        text += f", source {fig['source_warp_error'] * 1000:.3f}e-3 ({fig['ratio_to_source']:.2f}x)"
    layout.label(text=text, icon='GRAPH')


def draw_backend(layout):
    box = layout.box()
    row = box.row()
    running = BACKEND.connected()
    row.label(text=f"Backend: {BACKEND.status_line()}", icon='CHECKMARK' if running else 'UNLINKED')
    if running:
        row.operator("kino.backend_stop", text="", icon='X')
    else:
        row.operator("kino.backend_start", text="", icon='PLAY')
    box.operator("kino.refresh_models", icon='FILE_REFRESH')


def draw_stabilize(layout, kino):
    box = layout.box()
    box.prop(kino, "stabilize")
    if kino.stabilize:
        box.prop(kino, "track_mode")
        if kino.track_mode == 'REGION':
            box.prop(kino, "track_region")


def draw_key(layout, kino):
    box = layout.box()
    box.prop(kino, "key_screen")
    if kino.key_screen:
        box.prop(kino, "key_auto")
        if not kino.key_auto:
            box.prop(kino, "key_color")
        box.prop(kino, "garbage_matte")


def draw_stages(layout, kino):
    by_stage: dict = {}
    for item in kino.params:
        by_stage.setdefault(item.stage, []).append(item)
    toggles = {t.name: t for t in kino.stages}
    order = [kino.look_name] + [t.name for t in kino.stages]
    order += [s for s in by_stage if s not in order]
    for stage in order:
        items = by_stage.get(stage, [])
        if stage not in toggles and not items:
            continue
        box = layout.box()
        head = box.row()
        if stage in toggles:
            head.prop(toggles[stage], "enabled", text=stage.title())
        else:
            head.label(text=stage.title())
        body = box.column()
        body.enabled = stage not in toggles or toggles[stage].enabled
        for item in items:
            draw_param(body, item, item.name.replace("_", " ").title())


CLASSES = (KINO_PT_main,)
