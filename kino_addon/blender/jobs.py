"""Stylize jobs for strips, and the runner that drives them one small step at a time.

``Runner.step()`` is the only thing the timer pump calls (main thread); the headless path calls
``Runner.run()``. A ``StripJob`` ties a strip's frames (``StripSource``), a ``JobSession`` and, when
the job completes, the result strip on the timeline.
"""
from __future__ import annotations

import os
import tempfile
from typing import Optional

import bpy

from ..core.plan import FramePlan, output_folder, settings_hash
from ..core.session import JobSession, JobSpec
from ..core.sidecar import reproduce_command
from . import addon, compat
from .extract import StripSource, source_identity, strip_files
from .ingest import place_result


def output_base() -> tuple:
    """(folder, warning): ``//kino`` next to the saved .blend, or a temp folder for an unsaved file."""
    if bpy.data.filepath:
        return bpy.path.abspath("//kino"), ""
    base = os.path.join(tempfile.gettempdir(), "kino-unsaved")
    return base, (f"the .blend file is not saved, so the stylized frames go to {base}; save the file to "
                  "keep them next to it in //kino/")


class StripJob:
    def __init__(self, scene, strip, client, hello: dict, workflow: dict, options: dict,
                 frame_range: Optional[tuple] = None, out_dir: str = "", alive=None, max_in_flight: int = 4):
        self.scene_name = scene.name
        self.strip_name = strip.name
        self.look = workflow["look"]
        self.plan = FramePlan.for_strip(*compat.strip_span(strip), frame_range)
        identity = source_identity(strip)
        digest = settings_hash(identity, workflow, options, (self.plan.first, self.plan.count))
        self.warning = ""
        if out_dir:
            folder = os.path.abspath(out_dir)
        else:
            base, self.warning = output_base()
            folder = output_folder(base, strip.name, self.look, digest)
        self.source = StripSource(scene, strip)
        files = strip_files(strip)
        input_path = files[0] if strip.type == "MOVIE" else os.path.dirname(files[0])
        spec = JobSpec(folder=folder, count=self.plan.count, width=self.source.width, height=self.source.height,
                       workflow=workflow, options=options, source=dict(identity, input=input_path),
                       first_timeline_frame=self.plan.first, settings_hash=digest,
                       command=reproduce_command(input_path, workflow, frame_range, folder,
                                                 stabilize="stabilize" in options),
                       versions={"kino": addon.version(), "blender": bpy.app.version_string,
                                 "backend": hello.get("backend"), "protocol": hello.get("protocol")})
        self.session = JobSession(client, spec, self._read, alive=alive, max_in_flight=max_in_flight)
        self.result_strip = ""

    @property
    def folder(self) -> str:
        return self.session.spec.folder

    def _read(self, number: int):
        return self.source.read(self.plan.timeline_frame(number))

    def step(self) -> bool:
        if not self.session.step():
            return False
        self.source.close()
        if self.session.state == "completed":
            scene = bpy.data.scenes.get(self.scene_name)
            strip = scene.sequence_editor.strips_all.get(self.strip_name) if scene and scene.sequence_editor else None
            if strip is None:
                self.session.error = f"strip {self.strip_name!r} was removed; the frames are in {self.folder}"
                self.session.state = "failed"
            else:
                self.result_strip = place_result(scene, strip, self.folder, self.plan.first, self.plan.count,
                                                 self.look).name
        return True

    def cancel(self) -> None:
        self.session.cancel()

    def abandon(self) -> None:
        self.source.close()


class Runner:
    """A queue of StripJobs run one after the other."""

    def __init__(self):
        self.jobs: list = []
        self.finished: list = []
        self.last_error = ""
        self.cancelled = False

    @property
    def active(self) -> bool:
        return bool(self.jobs)

    def add(self, jobs: list) -> None:
        self.cancelled = False
        self.jobs.extend(jobs)

    def progress_text(self) -> str:
        if not self.jobs:
            return ""
        job = self.jobs[0]
        queue = f" (+{len(self.jobs) - 1} more)" if len(self.jobs) > 1 else ""
        return f"Kino: {job.strip_name} {job.session.progress_text()}{queue}"

    def fraction(self) -> float:
        return self.jobs[0].session.fraction if self.jobs else 1.0

    def step(self) -> bool:
        """Advance the current job; True when the queue is empty."""
        if not self.jobs:
            return True
        job = self.jobs[0]
        if job.step():
            self.jobs.pop(0)
            self.finished.append(job)
            if job.session.error:
                self.last_error = f"{job.strip_name}: {job.session.error}"
        return not self.jobs

    def run(self) -> None:
        while not self.step():
            pass

    def cancel(self) -> None:
        self.cancelled = True
        if self.jobs:
            self.jobs[0].cancel()
        for job in self.jobs[1:]:
            job.abandon()
        del self.jobs[1:]


RUNNER = Runner()
