"""The "Train LoRA" sub-panel of the Kino tab: train a LoRA on the frames of the selected strips
(every N-th frame) or on a folder of images, follow it (step n of m, loss), cancel it, and add the
result to the diffusion look's ``lora`` parameter ("Use in Look"). ``draw`` only reads state."""
from __future__ import annotations

import os

import bpy

from .. import compat
from .train_job import QUEUE


class KINO_PT_train_lora(bpy.types.Panel):
    """Train a LoRA on the selected strips' frames or a folder of images"""
    bl_idname = "KINO_PT_train_lora"
    bl_label = "Train LoRA"
    bl_space_type = 'SEQUENCE_EDITOR'
    bl_region_type = 'UI'
    bl_category = "Kino"
    bl_parent_id = "KINO_PT_main"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context):
        draw_train(self.layout, compat.sequencer_scene(context).kino_train)


def draw_train(layout, props) -> None:
    col = layout.column()
    col.enabled = not QUEUE.active
    col.prop(props, "source")
    col.prop(props, "every" if props.source == 'STRIPS' else "folder")
    row = col.row(align=True)
    row.prop(props, "model")
    row.operator_menu_enum("kino.train_pick_model", "choice", text="", icon='DOWNARROW_HLT')
    for name in ("prompt", "steps", "rank", "resolution", "lr", "name", "out"):
        col.prop(props, name)
    if QUEUE.active:
        layout.operator("kino.train_cancel", icon='CANCEL')
        job = QUEUE.jobs[0]
        layout.progress(factor=job.fraction, text=job.progress_text())
    else:
        layout.operator("kino.train_lora", icon='PLAY')
    if QUEUE.last_error:
        layout.label(text=QUEUE.last_error, icon='ERROR')
    elif props.trained:
        done = QUEUE.finished[-1].session.result if QUEUE.finished else {}
        text = f"Trained: {os.path.basename(props.trained)}"
        if done.get("loss_last") is not None:
            text += f" (loss {done['loss_first']:.4f} -> {done['loss_last']:.4f})"
        layout.label(text=text, icon='CHECKMARK')
        layout.operator("kino.train_use_in_look", icon='ADD')


CLASSES = (KINO_PT_train_lora,)
