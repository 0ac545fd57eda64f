"""Add-on preferences: how to reach the backend, where models live, which device to use."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from . import addon


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

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "backend_mode", expand=True)
        if self.backend_mode == 'LOCAL':
            layout.prop(self, "python_path")
            if not self.python_path:
                layout.label(text="Set the python of an environment where Kino's backend is installed "
                                  "(e.g. <kino>/.venv-backend/bin/python)", icon='INFO')
        else:
            row = layout.row()
            row.prop(self, "host")
            row.prop(self, "port")
            layout.prop(self, "key")
        layout.prop(self, "models_dir")
        layout.prop(self, "device")


CLASSES = (KinoPreferences,)
