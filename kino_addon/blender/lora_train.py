"""The "Train LoRA" sub-panel of the Kino tab: train a LoRA on the frames of the selected strips
(every N-th frame) or on a folder of images, follow it (step n of m, loss), cancel it, and add the
result to the diffusion look's ``lora`` parameter ("Use in look").

Settings live in ``Scene.kino_train``; the job is ``lora_train_job.TrainJob``; frames are read with
the Stylize operator's extraction code and sent through the core ``JobSession``.
"""
from __future__ import annotations

import os

import bpy
from bpy.props import EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from ..core.lora_training import append_lora, default_lora_path
from ..core.session import SourceError
from . import addon, compat
from .backend import BACKEND
from .jobs import Runner, output_base
from .lora_train_job import BlankReader, StripsReader, TrainJob, start_pump, stop_pump
from .model_picker import entries_of
from .ops import ensure_backend, selected_source_strips
from .props import sync_from_hello

TRAINER = Runner()
_ITEMS: list = []


class KinoTrainProps(bpy.types.PropertyGroup):
    source: EnumProperty(name="Source", default='STRIPS', items=[
        ('STRIPS', "Selected Strips", "The frames of the selected movie and image strips"),
        ('FOLDER', "Folder", "A folder of images (an <image>.txt beside one is its caption)")])
    every: IntProperty(name="Every Nth Frame", default=5, min=1, max=1000,
                       description="Use every N-th frame of each strip (neighbouring video frames are very alike)")
    folder: StringProperty(name="Folder", subtype='DIR_PATH', description="Folder of training images")
    model: StringProperty(name="Base Model", subtype='FILE_PATH', description="SD 1.x checkpoint to train "
                          "on (file or diffusers folder; a relative name is looked up in the models folder)")
    prompt: StringProperty(name="Instance Prompt", default="a photo of kino_subject",
                           description="The words that will call the character or style in the look's prompt")
    steps: IntProperty(name="Steps", default=500, min=1, max=100000)
    rank: IntProperty(name="Rank", default=16, min=1, max=256)
    resolution: IntProperty(name="Resolution", default=512, min=64, max=2048, step=64)
    lr: FloatProperty(name="Learning Rate", default=1e-4, min=1e-7, max=1.0, precision=6)
    name: StringProperty(name="Name", default="character", description="Name of the LoRA file")
    out: StringProperty(name="Output", subtype='FILE_PATH',
                        description="The LoRA file to write (empty: //kino/lora/<name>.safetensors)")
    trained: StringProperty(name="Trained LoRA", subtype='FILE_PATH', description="The last LoRA trained")


def out_path(props) -> str:
    if props.out:
        return os.path.abspath(bpy.path.abspath(props.out))
    return default_lora_path(output_base()[0], props.name)


def _fail(op, message: str):
    TRAINER.last_error = message
    op.report({'ERROR'}, message)
    return {'CANCELLED'}


def _options() -> dict:
    prefs, options = addon.preferences(), {}
    if prefs is not None and prefs.models_dir:
        options["models_dir"] = os.path.abspath(bpy.path.abspath(prefs.models_dir))
    if prefs is not None and prefs.device != 'AUTO':
        options["device"] = prefs.device.lower()
    return options


def _params(props, out: str) -> dict:
    folder = props.source == 'FOLDER'
    params = {"model": bpy.path.abspath(props.model), "out": out, "prompt": props.prompt, "steps": props.steps,
              "rank": props.rank, "resolution": props.resolution, "lr": props.lr, "every": 1,
              "use_frames": not folder}
    if folder:
        params["images"] = os.path.abspath(bpy.path.abspath(props.folder))
    return params


class KINO_OT_train_lora(bpy.types.Operator):
    """Train a LoRA on the selected strips' frames or a folder of images (a backend job)"""
    bl_idname = "kino.train_lora"
    bl_label = "Train LoRA"

    @classmethod
    def poll(cls, context):
        return compat.sequencer_scene(context) is not None and not TRAINER.active

    def execute(self, context):
        scene = compat.sequencer_scene(context)
        props = scene.kino_train
        if not props.model:
            return _fail(self, "Kino: set the base model (an SD 1.x checkpoint) to train on")
        if props.source == 'FOLDER' and not os.path.isdir(bpy.path.abspath(props.folder)):
            return _fail(self, f"Kino: the training folder {props.folder!r} does not exist")
        strips = selected_source_strips(context) if props.source == 'STRIPS' else []
        if props.source == 'STRIPS' and not strips:
            return _fail(self, "Kino: select the movie or image strips to train on (or use a folder)")
        client = ensure_backend(self, context)
        if client is None:
            return {'CANCELLED'}
        try:
            reader = StripsReader(scene, strips, props.every) if strips else BlankReader()
        except SourceError as exc:
            return _fail(self, f"Kino: {exc}")
        out = out_path(props)
        label = f"LoRA {os.path.basename(out)}"
        TRAINER.last_error = ""
        job = TrainJob(scene, client, BACKEND.hello, reader, _params(props, out), _options(), label,
                       alive=BACKEND.alive)
        TRAINER.add([job])
        if bpy.app.background:
            TRAINER.run()
            return self._finished(job)
        start_pump()
        self.report({'INFO'}, f"Kino: training {label} on {len(reader.frames)} frame(s)")
        return {'FINISHED'}

    def _finished(self, job):
        if job.session.state != "completed":
            return _fail(self, f"Kino: training failed: {job.session.error or job.session.state}")
        self.report({'INFO'}, f"Kino: trained {job.out}")
        return {'FINISHED'}


class KINO_OT_train_cancel(bpy.types.Operator):
    """Stop the LoRA training (no file is written)"""
    bl_idname = "kino.train_cancel"
    bl_label = "Cancel Training"

    @classmethod
    def poll(cls, context):
        return TRAINER.active

    def execute(self, context):
        TRAINER.cancel()
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
            return _fail(self, "Kino: no LoRA trained yet")
        kino = scene.kino
        if kino.look_name != "diffusion" or kino.synced_look != "diffusion":
            kino.look_name = "diffusion"
            sync_from_hello(kino, BACKEND.hello)
        item = next((p for p in kino.params if p.stage == "diffusion" and p.name == "lora"), None)
        if item is None:
            return _fail(self, "Kino: the diffusion look is not available: start the backend first")
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
            return _fail(self, "Kino: no model chosen (Refresh Models first)")
        compat.sequencer_scene(context).kino_train.model = self.choice
        return {'FINISHED'}


class KINO_PT_train_lora(bpy.types.Panel):
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
    col.enabled = not TRAINER.active
    col.prop(props, "source")
    col.prop(props, "every" if props.source == 'STRIPS' else "folder")
    row = col.row(align=True)
    row.prop(props, "model")
    row.operator_menu_enum("kino.train_pick_model", "choice", text="", icon='DOWNARROW_HLT')
    for name in ("prompt", "steps", "rank", "resolution", "lr", "name", "out"):
        col.prop(props, name)
    if TRAINER.active:
        layout.operator("kino.train_cancel", icon='CANCEL')
        job = TRAINER.jobs[0]
        layout.progress(factor=job.session.fraction, text=job.session.progress_text())
    else:
        layout.operator("kino.train_lora", icon='PLAY')
    if TRAINER.last_error:
        layout.label(text=TRAINER.last_error, icon='ERROR')
    elif props.trained:
        done = TRAINER.finished[-1].session.result if TRAINER.finished else {}
        text = f"Trained: {os.path.basename(props.trained)}"
        if done.get("loss_last") is not None:
            text += f" (loss {done['loss_first']:.4f} -> {done['loss_last']:.4f})"
        layout.label(text=text, icon='CHECKMARK')
        layout.operator("kino.train_use_in_look", icon='ADD')


def tag_redraw() -> None:
    wm = getattr(bpy.context, "window_manager", None)
    for win in (wm.windows if wm is not None else []):
        for area in win.screen.areas:
            if area.type == 'SEQUENCE_EDITOR':
                area.tag_redraw()


def on_register():
    bpy.types.Scene.kino_train = PointerProperty(type=KinoTrainProps)


def on_unregister():
    stop_pump()
    TRAINER.cancel()
    TRAINER.run()
    del bpy.types.Scene.kino_train


CLASSES = (KinoTrainProps, KINO_OT_train_lora, KINO_OT_train_cancel, KINO_OT_train_use_in_look,
           KINO_OT_train_pick_model, KINO_PT_train_lora)
