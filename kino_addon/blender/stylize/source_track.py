"""A job's source strip, found again when the job ends: while the frames were made the artist may have
renamed the strip, moved it along the timeline or to another channel, trimmed it, or deleted it or its
scene. The strip carries a mark (a custom property) for the job's length; the result goes where the
strip's content is now."""
from __future__ import annotations

import uuid

import bpy

from .. import compat

JOB_MARK = "kino_job"
TIMING = ("content_start", "left_handle_offset", "right_handle_offset", "content_trim_start")


class SourceTrack:
    """The source strip of one job: its scene's and its own name at the start, the job's mark, and the
    timing the job's frames were planned with."""

    def __init__(self, scene, strip):
        self.scene_name, self.strip_name = scene.name, strip.name
        self.token = uuid.uuid4().hex
        strip[JOB_MARK] = self.token
        self.timing = {key: compat.strip_time(strip, key) for key in TIMING}

    def _marked(self):
        for scene in bpy.data.scenes:
            if scene.name.startswith(".kino") or scene.sequence_editor is None:
                continue  # the job's own throw-away extraction scene holds a copy
            for strip in scene.sequence_editor.strips_all:
                if strip.get(JOB_MARK) == self.token:
                    yield scene, strip

    def find(self) -> tuple:
        """(scene, strip) as they are now; (None, None) when the strip is gone."""
        return next(self._marked(), (None, None))

    def gone(self, folder: str) -> str:
        """What to say when ``find`` found nothing."""
        if bpy.data.scenes.get(self.scene_name) is None:
            return f"the scene {self.scene_name!r} was removed while the job ran; the frames are in {folder}"
        return f"strip {self.strip_name!r} was removed while the job ran; the frames are in {folder}"

    def first_frame(self, strip, planned: int) -> tuple:
        """(timeline frame for the result's first frame, note): the planned frame moved with the strip's
        content; the note says when the strip was trimmed meanwhile (the result keeps the frames it had)."""
        now = {key: compat.strip_time(strip, key) for key in TIMING}
        first = planned + int(now["content_start"] - self.timing["content_start"])
        trimmed = any(now[key] != self.timing[key] for key in TIMING[1:])
        note = (f"strip {strip.name!r} was trimmed while the job ran: the result shows the frames it showed when "
                "the job started; run Stylize again for its new range") if trimmed else ""
        return first, note

    def release(self) -> None:
        """Take the mark off the strip (and any copy of it made meanwhile)."""
        for _, strip in list(self._marked()):
            del strip[JOB_MARK]
