"""Operators: start (or attach to) and stop the backend, from the panel's backend box."""
from __future__ import annotations

import os

import bpy

from ..core import backend_install as install_core
from . import compat, job_pump
from .backend_install import env_dir, run_install_op
from .connection import BACKEND, ensure_backend
from .stylize.props import sync_from_hello
from .stylize.strip_job import QUEUE as STYLIZE_QUEUE


class KINO_OT_backend_start(bpy.types.Operator):
    """Start (or attach to) the Kino backend"""
    bl_idname = "kino.backend_start"
    bl_label = "Start Backend"

    def execute(self, context):
        if ensure_backend(self, STYLIZE_QUEUE) is None:
            return {'CANCELLED'}
        STYLIZE_QUEUE.last_error = ""
        scene = compat.sequencer_scene(context)
        if scene is not None and scene.kino.synced_look != scene.kino.look_name:
            sync_from_hello(scene.kino, BACKEND.hello)  # the look's stage switches and parameters
        self.report({'INFO'}, f"Kino backend {BACKEND.status_line()}")
        return {'FINISHED'}


class KINO_OT_backend_stop(bpy.types.Operator):
    """Stop the Kino backend (running jobs are cancelled; finished frames are kept)"""
    bl_idname = "kino.backend_stop"
    bl_label = "Stop Backend"

    def execute(self, context):
        job_pump.cancel_all()  # running jobs end as cancelled (within a frame) before the backend goes
        job_pump.stop()
        BACKEND.stop()
        return {'FINISHED'}


def on_unregister():
    BACKEND.stop()  # after job_pump's on_unregister has cancelled the jobs (registered later, removed first)


# Remove Backend lives here, beside the operators that start and stop the backend: it stops the
# add-on's own backend first when that runs from the folder being removed.
class KINO_OT_remove_backend(bpy.types.Operator):
    bl_idname = "kino.remove_backend"
    bl_label = "Remove Backend"
    bl_description = "Delete the installed backend environment and free its disk space"

    def invoke(self, context, event):
        return context.window_manager.invoke_confirm(self, event)

    def execute(self, context):
        env = env_dir()
        if BACKEND.process is not None and os.path.abspath(BACKEND.process.proc.args[0]).startswith(env):
            BACKEND.stop()
        return run_install_op(self, install_core.RemoveJob(env), "remove")


CLASSES = (KINO_OT_backend_start, KINO_OT_backend_stop, KINO_OT_remove_backend)
