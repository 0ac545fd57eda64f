"""Operators of the Train LoRA sub-panel: train (a backend job on the selected strips' frames or a
folder), cancel, pick the base model, and "Use in Look" (add the trained LoRA to the diffusion look)."""
from __future__ import annotations

import os

import bpy
from bpy.props import EnumProperty, StringProperty

from ...core.job_session import SourceError
from ...core.lora_training import append_lora
from .. import job_pump
from .. import compat
from ..connection import BACKEND, ensure_backend
from ..model_picker import entries_of
from ..prefs import job_options
from ..strips import selected_source_strips
from ..stylize.props import sync_from_hello
from .props import out_path, train_params
from .readers import BlankReader, StripsReader
from .train_job import QUEUE, TrainJob

_ITEMS: list = []


class KINO_OT_train_lora(bpy.types.Operator):
    """Train a LoRA on the selected strips' frames or a folder of images (a backend job)"""
    bl_idname = "kino.train_lora"
    bl_label = "Train LoRA"

    @classmethod
    def poll(cls, context):
        return compat.sequencer_scene(context) is not None and not QUEUE.active

    def execute(self, context):
        scene = compat.sequencer_scene(context)
        props = scene.kino_train
        if not props.model:
            return job_pump.refuse(self, QUEUE, "Kino: set the base model (an SD 1.x checkpoint) to train on")
        if props.source == 'FOLDER' and not os.path.isdir(bpy.path.abspath(props.folder)):
            return job_pump.refuse(self, QUEUE, f"Kino: the training folder {props.folder!r} does not exist")
        strips = selected_source_strips(context) if props.source == 'STRIPS' else []
        if props.source == 'STRIPS' and not strips:
            return job_pump.refuse(self, QUEUE, "Kino: select the movie or image strips to train on (or use a folder)")
        client = ensure_backend(self, QUEUE)
        if client is None:
            return {'CANCELLED'}
        try:
            reader = StripsReader(scene, strips, props.every) if strips else BlankReader()
        except SourceError as exc:
            return job_pump.refuse(self, QUEUE, f"Kino: {exc}")
        out = out_path(props)
        label = f"LoRA {os.path.basename(out)}"
        job = TrainJob(scene, client, BACKEND.hello, reader, train_params(props, out), job_options(), label,
                       alive=BACKEND.connected)
        job_pump.start_jobs(QUEUE, [job])
        if QUEUE.active:
            self.report({'INFO'}, f"Kino: training {label} on {len(reader.frames)} frame(s)")
            return {'FINISHED'}
        if job.state != "completed":
            return job_pump.refuse(self, QUEUE, f"Kino: training failed: {job.error or job.state}")
        self.report({'INFO'}, f"Kino: trained {job.out}")
        return {'FINISHED'}


class KINO_OT_train_cancel(bpy.types.Operator):
    """Stop the LoRA training (no file is written)"""
    bl_idname = "kino.train_cancel"
    bl_label = "Cancel Training"

    @classmethod
    def poll(cls, context):
        return QUEUE.active

    def execute(self, context):
        QUEUE.cancel()
        return {'FINISHED'}


class KINO_OT_train_use_in_look(bpy.types.Operator):
    """Add the trained LoRA to the diffusion look's LoRA list (switches the look to diffusion)"""
    bl_idname = "kino.train_use_in_look"
    bl_label = "Use in Look"

    path: StringProperty(options={'HIDDEN', 'SKIP_SAVE'}, description="LoRA file (default: the last trained)")

    def execute(self, context):
        scene = compat.sequencer_scene(context)
        path = self.path or scene.kino_train.trained
        if not path:
            return job_pump.refuse(self, QUEUE, "Kino: no LoRA trained yet")
        kino = scene.kino
        if kino.look_name != "diffusion" or kino.synced_look != "diffusion":
            kino.look_name = "diffusion"
            sync_from_hello(kino, BACKEND.hello)
        item = next((p for p in kino.params if p.stage == "diffusion" and p.name == "lora"), None)
        if item is None:
            return job_pump.refuse(self, QUEUE, "Kino: the diffusion look is not available: start the backend first")
        item.str_value = append_lora(item.str_value, path)
        item.changed = True
        self.report({'INFO'}, f"Kino: the diffusion look uses {os.path.basename(path)}")
        return {'FINISHED'}


def _checkpoint_items(self, context):
    _ITEMS[:] = [(e["path"], e["name"], f"{e.get('arch') or ''} {e['path']}".strip(), i)
                 for i, e in enumerate(entries_of("checkpoint"))]
    return _ITEMS or [("", "(none found)", "set the Models folder, then Refresh Models", 0)]


class KINO_OT_train_pick_model(bpy.types.Operator):
    """Use a checkpoint the backend found as the base model"""
    bl_idname = "kino.train_pick_model"
    bl_label = "Pick Base Model"
    bl_property = "choice"

    choice: EnumProperty(name="Model", items=_checkpoint_items)

    def execute(self, context):
        if not self.choice:
            return job_pump.refuse(self, QUEUE, "Kino: no model chosen (Refresh Models first)")
        compat.sequencer_scene(context).kino_train.model = self.choice
        return {'FINISHED'}


CLASSES = (KINO_OT_train_lora, KINO_OT_train_cancel, KINO_OT_train_use_in_look, KINO_OT_train_pick_model)
