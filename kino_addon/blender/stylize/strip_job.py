"""``StripJob``: stylize one strip, the queued job behind the Stylize operator and ``scripts/kino
stylize``. Its frames (``StripSource``) go through one backend job (``JobSession``: resume, pacing,
stall check) into the output folder; when the job completes, the result strip is placed above the
source. The stylize ``QUEUE`` runs these jobs one after the other on the single timer pump.
"""
from __future__ import annotations

import os
from typing import Optional

import bpy

from ...core.job_queue import QueuedJob
from ...core.job_session import JobSession, JobSpec
from ...core.job_workflow import has_stage, is_keyed, with_defaults
from ...core.media import float_note
from ...core.movie_timing import movie_notes
from ...core.plan import FramePlan, output_folder, settings_hash
from ...core.sidecar import reproduce_command
from .. import addon, compat, job_pump
from ..keyframes.job import job_setup as keyframes_job_setup
from ..stabilize.tracking import TrackingError
from ..stabilize.transforms import StabilizeError, stabilization_for_input
from ..strips import StripSource, source_identity, strip_files
from .place import covered_note, place_result
from .source_track import SourceTrack

QUEUE = job_pump.register_queue("stylize")


class StylizeUnavailable(RuntimeError):
    """A strip's job cannot be made (here: its stabilization failed); the message says why."""


def stabilization(scene, strip, frame_range, track_region: str, client=None) -> dict:
    """The job option ``stabilize``: one matrix per job frame, from Blender's tracker (a face lock asks
    ``client``, the job's backend, where the face is)."""
    try:
        return stabilization_for_input(scene, strip, frame_range, track_region or None, client=client)
    except (StabilizeError, TrackingError) as exc:
        raise StylizeUnavailable(f"stabilization failed: {exc}") from None


class StripJob(QueuedJob):
    """Stylize one strip with ``workflow``.

    State: the scene's and strip's names (looked up again at the end: an undo may replace Python's
    references), ``plan`` (which timeline frames), ``source`` (renders them), ``session`` (the
    backend job and its folder), ``warning`` (e.g. the .blend is not saved), ``result_strip``.
    ``track_region`` is what the tracker locked to when the workflow stabilizes ("" for the camera).
    """

    def __init__(self, scene, strip, client, hello: dict, workflow: dict, options: dict,
                 frame_range: Optional[tuple] = None, out_dir: str = "", alive=None, max_in_flight: int = 4,
                 track_region: str = ""):
        self.scene_name = scene.name
        self.strip_name = strip.name
        self.look = workflow["look"]
        self.keyed = is_keyed(workflow)
        self.plan = FramePlan.for_strip(*compat.strip_span(strip), frame_range)
        workflow, options = keyframes_job_setup(strip, workflow, options, frame_range)  # painted keyframes, holds
        self.source = StripSource(scene, strip)  # checks the strip first: a clear reason for a bad one
        if has_stage(workflow, "stabilize"):
            try:
                options = dict(options, stabilize=stabilization(scene, strip, frame_range, track_region, client))
            except StylizeUnavailable:
                self.source.close()
                raise
        self.track = SourceTrack(scene, strip)
        identity = source_identity(strip)
        digest = settings_hash(identity, with_defaults(hello, workflow), options, (self.plan.first, self.plan.count))
        self.warning = ""
        if out_dir:
            folder = os.path.abspath(out_dir)
        else:
            base, self.warning = addon.output_base()
            folder = output_folder(base, strip.name, self.look, digest)
        files = strip_files(strip)
        input_path = files[0] if strip.type == "MOVIE" else os.path.dirname(files[0])
        notes = movie_notes(input_path, compat.strip_time(strip, "content_duration")) if strip.type == "MOVIE" \
            else [float_note(files[0])]
        self.warning = "; ".join(w for w in [self.warning] + notes if w)
        spec = JobSpec(folder=folder, count=self.plan.count, width=self.source.width, height=self.source.height,
                       workflow=workflow, options=options, source=dict(identity, input=input_path),
                       first_timeline_frame=self.plan.first, settings_hash=digest,
                       command=reproduce_command(input_path, workflow, frame_range, folder, track_region),
                       versions=addon.versions(hello))
        if options.get("cluster"):  # the cluster starts a shot once all its frames are there: send them all
            max_in_flight = max(max_in_flight, self.plan.count)
        self.session = JobSession(client, spec, self._read, alive=alive, max_in_flight=max_in_flight)
        self.result_strip = ""
        super().__init__(strip.name, [self.session])

    @property
    def folder(self) -> str:
        return self.session.spec.folder

    def _read(self, number: int):
        return self.source.read_with_alpha(self.plan.timeline_frame(number))  # a transparent strip: RGBA

    def on_completed(self) -> None:
        scene, strip = self.track.find()  # renamed, moved or trimmed meanwhile: found all the same
        if strip is None:
            self.fail(self.track.gone(self.folder))
            return
        first, trimmed = self.track.first_frame(strip, self.plan.first)
        try:
            result = place_result(scene, strip, self.folder, first, self.plan.count, self.look, keyed=self.keyed)
        except RuntimeError as exc:  # e.g. no free channel above the source
            self.fail(f"{exc}; the frames are in {self.folder}: make room and run Stylize again (they are reused)")
            return
        self.result_strip = result.name
        note = covered_note(scene.sequence_editor, strip, result)
        self.warning = "; ".join(w for w in (self.warning, trimmed, note) if w)

    def close(self) -> None:
        self.source.close()
        self.track.release()
