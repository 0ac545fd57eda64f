"""``Scene.kino_train``: the Train LoRA settings of a scene (what to train on, the base model, the
training's numbers, where the file goes) and the last LoRA trained."""
from __future__ import annotations

import os

import bpy
from bpy.props import EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from ...core.lora_training import default_lora_path
from .. import addon
from ..compat import BLEND_RELATIVE


class KinoTrainProps(bpy.types.PropertyGroup):
    """The Train LoRA sub-panel's settings; ``trained`` is the last LoRA file written ("Use in Look")."""
    source: EnumProperty(name="Source", default='STRIPS', items=[
        ('STRIPS', "Selected Strips", "The frames of the selected movie and image strips"),
        ('FOLDER', "Folder", "A folder of images (an <image>.txt beside one is its caption)")])
    every: IntProperty(name="Every Nth Frame", default=5, min=1, max=1000,
                       description="Use every N-th frame of each strip (neighbouring video frames are very alike)")
    folder: StringProperty(name="Folder", subtype='DIR_PATH', options=BLEND_RELATIVE,
                           description="Folder of training images")
    model: StringProperty(name="Base Model", subtype='FILE_PATH', options=BLEND_RELATIVE,
                          description="SD 1.x checkpoint to train on (file or diffusers folder; a relative "
                                      "name is looked up in the models folder)")
    prompt: StringProperty(name="Instance Prompt", default="a photo of kino_subject",
                           description="The words that will call the character or style in the look's prompt")
    steps: IntProperty(name="Steps", default=500, min=1, max=100000)
    rank: IntProperty(name="Rank", default=16, min=1, max=256)
    resolution: IntProperty(name="Resolution", default=512, min=64, max=2048, step=64)
    lr: FloatProperty(name="Learning Rate", default=1e-4, min=1e-7, max=1.0, precision=6)
    name: StringProperty(name="Name", default="character", description="Name of the LoRA file")
    out: StringProperty(name="Output", subtype='FILE_PATH', options=BLEND_RELATIVE,
                        description="The LoRA file to write (empty: //kino/lora/<name>.safetensors)")
    trained: StringProperty(name="Trained LoRA", subtype='FILE_PATH', options=BLEND_RELATIVE,
                            description="The last LoRA trained")


def out_path(props) -> str:
    """The LoRA file to write: the Output setting, else ``//kino/lora/<name>.safetensors``."""
    if props.out:
        return os.path.abspath(bpy.path.abspath(props.out))
    return default_lora_path(addon.output_base()[0], props.name)


def train_params(props, out: str) -> dict:
    """The ``train_lora`` stage's parameters from the settings."""
    folder = props.source == 'FOLDER'
    params = {"model": bpy.path.abspath(props.model), "out": out, "prompt": props.prompt, "steps": props.steps,
              "rank": props.rank, "resolution": props.resolution, "lr": props.lr, "every": 1,
              "use_frames": not folder}
    if folder:
        params["images"] = os.path.abspath(bpy.path.abspath(props.folder))
    return params


def on_register():
    bpy.types.Scene.kino_train = PointerProperty(type=KinoTrainProps)


def on_unregister():
    del bpy.types.Scene.kino_train


CLASSES = (KinoTrainProps,)
