"""Operators: stylize the selected strips (with the panel's settings, or the choices ``scripts/kino
stylize`` passes), and cancel."""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty

from ...core.job_session import SourceError
from ...core.job_workflow import JobChoices, WorkflowChoiceError, build_workflow
from ...core.plan import PlanError
from .. import job_pump
from .. import compat
from ..connection import BACKEND, ensure_backend
from ..prefs import cluster_options, job_options
from ..strips import selected_source_strips
from .props import choices_from_scene
from .strip_job import QUEUE, StripJob, StylizeUnavailable


CLUSTER_STRIPS = 8  # strips stylized at once when the jobs run on a cluster


class KINO_OT_cancel(bpy.types.Operator):
    """Stop stylizing; finished frames are kept and a re-run resumes"""
    bl_idname = "kino.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return QUEUE.active

    def execute(self, context):
        QUEUE.cancel()
        return {'FINISHED'}


class KINO_OT_stylize(bpy.types.Operator):
    """Stylize the selected movie and image strips with the chosen look"""
    bl_idname = "kino.stylize"
    bl_label = "Stylize"

    choices_json: StringProperty(options={'HIDDEN', 'SKIP_SAVE'},
                                 description="The job's choices (JobChoices as JSON) instead of the panel's")
    output_dir: StringProperty(options={'HIDDEN', 'SKIP_SAVE'}, subtype='DIR_PATH',
                               description="Write the frames here instead of //kino/<strip>_<look>_<hash>/")
    frame_first: IntProperty(options={'HIDDEN', 'SKIP_SAVE'}, min=0, description="First frame (1-based, 0: all)")
    frame_last: IntProperty(options={'HIDDEN', 'SKIP_SAVE'}, min=0)
    synchronous: BoolProperty(options={'HIDDEN', 'SKIP_SAVE'}, description="Run to the end before returning")

    @classmethod
    def poll(cls, context):
        if compat.sequencer_scene(context) is None:
            cls.poll_message_set("Open a scene with a sequencer to stylize its strips")
            return False
        if QUEUE.active:
            cls.poll_message_set("A Kino job is running; it runs one at a time: wait for it or cancel it")
            return False
        if not selected_source_strips(context):
            cls.poll_message_set("Select the movie or image strip to stylize")
            return False
        return True

    def execute(self, context):
        strips = selected_source_strips(context)
        if not strips:
            return job_pump.refuse(self, QUEUE, "select one or more movie or image strips to stylize")
        client = ensure_backend(self, QUEUE)
        if client is None:
            return {'CANCELLED'}
        scene = compat.sequencer_scene(context)
        try:
            choices = (JobChoices.from_json(self.choices_json) if self.choices_json
                       else choices_from_scene(scene.kino, BACKEND.hello))
            workflow = build_workflow(BACKEND.hello, choices)
        except WorkflowChoiceError as exc:
            return job_pump.refuse(self, QUEUE, f"Kino: {exc}")
        frame_range = (self.frame_first, self.frame_last or 10 ** 9) if self.frame_first else None
        options = dict(job_options(), **cluster_options())
        jobs = []
        for strip in strips:
            try:
                jobs.append(StripJob(scene, strip, client, BACKEND.hello, workflow, options, frame_range,
                                     out_dir=self.output_dir, alive=BACKEND.connected,
                                     max_in_flight=8 if bpy.app.background else 4, track_region=choices.track_region))
            except (SourceError, PlanError, StylizeUnavailable) as exc:
                job_pump.refuse(self, QUEUE, f"Kino: {exc}")
        if not jobs:
            return {'CANCELLED'}
        warning = next((job.warning for job in jobs if job.warning), "")
        if warning:
            self.report({'WARNING'}, f"Kino: {warning}")
        # On a cluster the strips run side by side (one job each, split further by the cluster).
        QUEUE.parallel = min(len(jobs), CLUSTER_STRIPS) if options.get("cluster") else 1
        job_pump.start_jobs(QUEUE, jobs, synchronous=self.synchronous)
        if QUEUE.active:
            self.report({'INFO'}, f"Kino: stylizing {len(jobs)} strip(s) with {workflow['look']}")
            return {'FINISHED'}
        stopped = [j for j in jobs if j.state == "interrupted"]
        if stopped:  # scripts/kino: Ctrl-C; the command says what was kept
            self.report({'WARNING'}, f"Kino: interrupted; {stopped[0].session.frames_on_disk} frames kept in "
                                     f"{stopped[0].folder}")
            return {'CANCELLED'}
        failed = [j for j in jobs if j.state == "failed"]
        if failed:
            return job_pump.refuse(self, QUEUE, f"Kino: {failed[0].label}: {failed[0].error}")
        self.report({'INFO'}, f"Kino: stylized {sum(j.state == 'completed' for j in jobs)} strip(s)")
        return {'FINISHED'}


CLASSES = (KINO_OT_cancel, KINO_OT_stylize)
