"""Operators: start/stop the backend, stylize the selected strips, cancel."""
from __future__ import annotations

import json

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty

from ..core.plan import PlanError
from ..core.session import SourceError
from ..core.workflow import WorkflowError, add_stage_first
from . import addon, compat, pump
from .backend import BACKEND, BackendUnavailable
from .extract import SUPPORTED
from .jobs import RUNNER, StripJob
from .props import sync_from_hello, workflow_from_scene


def _fail(op, message: str):
    RUNNER.last_error = message
    op.report({'ERROR'}, message)
    return {'CANCELLED'}


def selected_source_strips(context) -> list:
    strips = [s for s in (context.selected_strips or []) if s.type in SUPPORTED]
    if not strips and context.active_strip is not None and context.active_strip.type in SUPPORTED:
        strips = [context.active_strip]
    return strips


def ensure_backend(op, context):
    """Connected client or None (after reporting why)."""
    try:
        client = BACKEND.ensure()
    except BackendUnavailable as exc:
        _fail(op, f"Kino backend: {exc}")
        return None
    if BACKEND.notice:
        op.report({'WARNING'}, f"Kino: {BACKEND.notice}")
        BACKEND.notice = ""
    scene = compat.sequencer_scene(context)
    if scene is not None and scene.kino.synced_look != scene.kino.look_name:
        sync_from_hello(scene.kino, BACKEND.hello)
    return client


class KINO_OT_backend_start(bpy.types.Operator):
    bl_idname = "kino.backend_start"
    bl_label = "Start Backend"
    bl_description = "Start (or attach to) the Kino backend"

    def execute(self, context):
        if ensure_backend(self, context) is None:
            return {'CANCELLED'}
        RUNNER.last_error = ""
        self.report({'INFO'}, f"Kino backend {BACKEND.status_line()}")
        return {'FINISHED'}


class KINO_OT_backend_stop(bpy.types.Operator):
    bl_idname = "kino.backend_stop"
    bl_label = "Stop Backend"
    bl_description = "Stop the Kino backend (running jobs are cancelled; finished frames are kept)"

    def execute(self, context):
        RUNNER.cancel()
        RUNNER.run()  # the running job ends as cancelled (within a frame) before the backend goes
        pump.stop()
        BACKEND.stop()
        return {'FINISHED'}


class KINO_OT_cancel(bpy.types.Operator):
    bl_idname = "kino.cancel"
    bl_label = "Cancel"
    bl_description = "Stop stylizing; finished frames are kept and a re-run resumes"

    @classmethod
    def poll(cls, context):
        return RUNNER.active

    def execute(self, context):
        RUNNER.cancel()
        return {'FINISHED'}


class KINO_OT_stylize(bpy.types.Operator):
    bl_idname = "kino.stylize"
    bl_label = "Stylize"
    bl_description = "Stylize the selected movie and image strips with the chosen look"

    workflow_json: StringProperty(options={'HIDDEN', 'SKIP_SAVE'},
                                  description="Use this workflow instead of the panel's settings")
    options_json: StringProperty(options={'HIDDEN', 'SKIP_SAVE'}, description="Extra job options (JSON)")
    output_dir: StringProperty(options={'HIDDEN', 'SKIP_SAVE'}, subtype='DIR_PATH',
                               description="Write the frames here instead of //kino/<strip>_<look>_<hash>/")
    frame_first: IntProperty(options={'HIDDEN', 'SKIP_SAVE'}, min=0, description="First frame (1-based, 0: all)")
    frame_last: IntProperty(options={'HIDDEN', 'SKIP_SAVE'}, min=0)
    stabilize: BoolProperty(options={'HIDDEN', 'SKIP_SAVE'}, description="Stabilize before the look")
    track_region: StringProperty(options={'HIDDEN', 'SKIP_SAVE'}, description="X,Y,W,H or face")
    synchronous: BoolProperty(options={'HIDDEN', 'SKIP_SAVE'}, description="Run to the end before returning")

    @classmethod
    def poll(cls, context):
        return (compat.sequencer_scene(context) is not None and not RUNNER.active
                and bool(selected_source_strips(context)))

    def execute(self, context):
        strips = selected_source_strips(context)
        if not strips:
            return _fail(self, "select one or more movie or image strips to stylize")
        client = ensure_backend(self, context)
        if client is None:
            return {'CANCELLED'}
        scene = compat.sequencer_scene(context)
        try:
            workflow = json.loads(self.workflow_json) if self.workflow_json else \
                workflow_from_scene(scene.kino, BACKEND.hello)
            options = json.loads(self.options_json) if self.options_json else {}
        except (ValueError, WorkflowError) as exc:
            return _fail(self, f"Kino: {exc}")
        prefs = addon.preferences()
        if prefs is not None and prefs.models_dir:
            options.setdefault("models_dir", bpy.path.abspath(prefs.models_dir))
        if prefs is not None and prefs.device != 'AUTO':
            options.setdefault("device", prefs.device.lower())
        frame_range = (self.frame_first, self.frame_last or 10 ** 9) if self.frame_first else None
        stab = (True, self.track_region) if self.stabilize else (False, "")
        if not self.workflow_json and scene.kino.stabilize:  # the panel's switch
            stab = (True, scene.kino.track_region_arg())
        jobs = self._make_jobs(scene, strips, client, workflow, options, frame_range, stab)
        if not jobs:
            return {'CANCELLED'}
        RUNNER.last_error = ""
        RUNNER.add(jobs)
        for job in jobs:
            if job.warning:
                self.report({'WARNING'}, f"Kino: {job.warning}")
                break
        if self.synchronous or bpy.app.background:
            return self._run_now(jobs)
        pump.start()
        self.report({'INFO'}, f"Kino: stylizing {len(jobs)} strip(s) with {workflow['look']}")
        return {'FINISHED'}

    def _make_jobs(self, scene, strips, client, workflow, options, frame_range, stab) -> list:
        jobs = []
        for strip in strips:
            try:
                flow, opts = workflow, dict(options)
                if stab[0]:
                    opts["stabilize"] = stabilization(scene, strip, frame_range, stab[1])
                    flow = add_stage_first(workflow, "stabilize")
                if scene.kino.key_screen and not self.workflow_json:  # the panel's Green Screen switch
                    flow = add_stage_first(flow, "key", scene.kino.key_params())
                if scene.kino.face_score and not self.workflow_json:  # the panel's switch; first, so its
                    flow = add_stage_first(flow, "face_score", {"pack": scene.kino.face_pack})  # finish sees the final frames
                jobs.append(StripJob(scene, strip, client, BACKEND.hello, flow, opts, frame_range,
                                     out_dir=self.output_dir, alive=BACKEND.alive,
                                     max_in_flight=8 if bpy.app.background else 4))
            except (SourceError, PlanError, StabilizeUnavailable) as exc:
                _fail(self, f"Kino: {exc}")
        return jobs

    def _run_now(self, jobs):
        RUNNER.run()
        failed = [j for j in jobs if j.session.state == "failed"]
        if failed:
            return _fail(self, f"Kino: {failed[0].strip_name}: {failed[0].session.error}")
        done = [j for j in jobs if j.session.state == "completed"]
        self.report({'INFO'}, f"Kino: stylized {len(done)} strip(s)")
        return {'FINISHED'}


class StabilizeUnavailable(RuntimeError):
    pass


def stabilization(scene, strip, frame_range, track_region) -> dict:
    """Transforms from the STABILIZE part (``stabilize_job.stabilization_for_input``)."""
    try:
        from .stabilize_job import stabilization_for_input
    except ImportError:
        raise StabilizeUnavailable("stabilization is not available in this build") from None
    try:
        return stabilization_for_input(scene, strip, frame_range, track_region or None)
    except (RuntimeError, ValueError) as exc:
        raise StabilizeUnavailable(f"stabilization failed: {exc}") from None


@bpy.app.handlers.persistent
def _on_load_pre(*_args):
    """Opening another file: the strips being stylized go away, so cancel (frames stay on disk)."""
    RUNNER.cancel()
    RUNNER.run()


def on_register():
    if _on_load_pre not in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.append(_on_load_pre)


def on_unregister():
    if _on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load_pre)
    pump.stop()
    RUNNER.cancel()
    RUNNER.run()
    BACKEND.stop()


CLASSES = (KINO_OT_backend_start, KINO_OT_backend_stop, KINO_OT_cancel, KINO_OT_stylize)
