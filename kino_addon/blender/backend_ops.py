"""Operators: start (or attach to) and stop the backend, from the panel's backend box."""
from __future__ import annotations

import bpy

from . import compat, job_pump
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


CLASSES = (KINO_OT_backend_start, KINO_OT_backend_stop)
