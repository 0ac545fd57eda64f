"""Add-on preferences: how to reach the backend, where models live, which device to use."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from . import addon
from .backend_install import DEVICE_ITEMS, draw_install


class KinoPreferences(bpy.types.AddonPreferences):
    bl_idname = addon.ADDON_ID

    backend_mode: EnumProperty(
        name="Backend", default='LOCAL',
        items=[('LOCAL', "Start locally", "Start the backend as a subprocess of the Python below"),
               ('ATTACH', "Attach", "Connect to a backend that is already running (e.g. through an SSH tunnel)")])
    python_path: StringProperty(
        name="Backend Python", subtype='FILE_PATH', default=addon.default_backend_python(),
        description="Python interpreter of an environment with Kino's backend (torch, diffusers, OpenCV)")
    host: StringProperty(name="Host", default="127.0.0.1")
    port: IntProperty(name="Port", default=0, min=0, max=65535)
    key: StringProperty(name="Key", subtype='PASSWORD',
                        description="The backend's KINO_AUTHKEY (hex)")
    models_dir: StringProperty(name="Models folder", subtype='DIR_PATH',
                               description="Where checkpoints, LoRAs and ControlNets are found")
    device: EnumProperty(name="Device", default='AUTO',
                         items=[('AUTO', "Auto", "Best available"), ('CUDA', "CUDA", "NVIDIA GPU"),
                                ('MPS', "MPS", "Apple GPU"), ('CPU', "CPU", "Processor only")])
    install_device: EnumProperty(name="Install for", items=DEVICE_ITEMS, default='AUTO',
                                 description="Which torch build Install Backend downloads")
    install_python: StringProperty(name="Python for the backend", subtype='FILE_PATH',
                                   description="A Python 3.11 to build the backend from (empty: Blender's own "
                                               "Python when it is 3.11, else python3.11 on the PATH)")
    torch_index: StringProperty(name="Torch index", description="A mirror of download.pytorch.org's index for "
                                "the device, or 'pip' to take torch from pip's own configuration (empty: the "
                                "official index)")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "backend_mode", expand=True)
        if self.backend_mode == 'LOCAL':
            layout.prop(self, "python_path")
            if not self.python_path:
                layout.label(text="Press Install Backend below, or set the python of an environment where "
                                  "Kino's backend is installed", icon='INFO')
            draw_install(layout, self)
        else:
            row = layout.row()
            row.prop(self, "host")
            row.prop(self, "port")
            layout.prop(self, "key")
        layout.prop(self, "models_dir")
        layout.prop(self, "device")


CLASSES = (KinoPreferences,)
