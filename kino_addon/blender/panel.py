"""The "Kino" tab in the sequencer sidebar: the root panel. It draws the backend box, then each
feature's part in order (sub-panels such as Train LoRA hang below it through ``bl_parent_id``).
``draw`` only reads state: it never starts processes or touches files."""
from __future__ import annotations

import bpy

from . import compat
from .connection import BACKEND
from .keying.panel import draw_switch as draw_key_switch
from .stabilize.panel import draw_switch as draw_stabilize_switch
from .stylize import panel as stylize_panel
from .stylize.strip_job import QUEUE as STYLIZE_QUEUE

#: The panel's switches under the look, in this order; each draws its box from ``Scene.kino`` (the
#: switch's property and its stage entry live in ``stylize/props.py``: ``choices_from_scene``).
SWITCHES = (draw_stabilize_switch, draw_key_switch, stylize_panel.draw_face_switch)


class KINO_PT_main(bpy.types.Panel):
    """Kino: stylize the selected strips"""
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
        col.enabled = not STYLIZE_QUEUE.active
        stylize_panel.draw_look(col, kino)
        for draw_switch in SWITCHES:
            draw_switch(col, kino)
        stylize_panel.draw_run(layout)


def draw_backend(layout) -> None:
    box = layout.box()
    row = box.row()
    running = BACKEND.connected()
    row.label(text=f"Backend: {BACKEND.status_line()}", icon='CHECKMARK' if running else 'UNLINKED')
    if running:
        row.operator("kino.backend_stop", text="", icon='X')
    else:
        row.operator("kino.backend_start", text="", icon='PLAY')
    box.operator("kino.refresh_models", icon='FILE_REFRESH')


CLASSES = (KINO_PT_main,)
