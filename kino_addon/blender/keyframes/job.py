"""What a stylize job of a strip needs for painted keyframes and timing (the operator calls
``job_setup`` for every strip): the strip's painted keyframes folder, a stamp of the paintings (so a
repainted frame makes a new result), the strip's frame numbering, and whole-job resume."""
from __future__ import annotations

import copy
import os

import bpy

from ...core.painted_keyframes import folder_stamp, painted_numbers
from ...core.plan import PlanError
from .. import compat

MARK = "kino_keyframes"  # custom property of a source strip: the folder of its painted keyframes
LOOK = "keyframes"


class KeyframesSetupError(PlanError):
    """The keyframes look cannot run for this strip; the message says what to do."""


def strip_keyframes_dir(strip) -> str:
    """The absolute folder marked as the strip's painted keyframes ('' when none)."""
    value = strip.get(MARK) if strip is not None else None
    return bpy.path.abspath(value) if isinstance(value, str) and value else ""


def mark_strip(strip, folder: str) -> str:
    """Mark ``folder`` as the strip's painted keyframes (stored relative to the .blend when it can be)."""
    stored = folder
    if bpy.data.filepath:
        try:
            stored = bpy.path.relpath(folder)
        except ValueError:  # another drive
            stored = folder
    strip[MARK] = stored
    return stored


def _stage(workflow: dict, name: str):
    return next((st for st in workflow["stages"] if st["name"] == name and st.get("enabled", True)), None)


def _timed(workflow: dict) -> bool:
    temporal = _stage(workflow, "temporal")
    params = temporal["params"] if temporal else {}
    return int(params.get("hold") or 1) > 1 or int(params.get("interpolate") or 1) > 1


def job_setup(strip, workflow: dict, options: dict, frame_range) -> tuple:
    """``(workflow, options)`` for the job of ``strip``: the keyframes folder filled in from the strip's
    mark when the look's ``dir`` is unset, the paintings' stamp, ``clip_frames`` and whole resume."""
    kf = _stage(workflow, LOOK)
    if kf is None and not _timed(workflow):
        return workflow, options
    workflow, options = copy.deepcopy(workflow), dict(options)
    kf = _stage(workflow, LOOK)
    if kf is not None:
        folder = kf["params"].get("dir") or strip_keyframes_dir(strip)
        if not folder:
            raise KeyframesSetupError(
                f"strip {strip.name!r} has no painted keyframes: select it, Export Frames for Painting, paint "
                "over them, then Stylize (or set the look's Dir to the folder of painted frame_NNNN.png)")
        folder = bpy.path.abspath(folder)
        if not painted_numbers(folder):
            raise KeyframesSetupError(f"{folder} holds no painted keyframes (frame_NNNN.png, numbered by the "
                                      f"strip's frames); export frames for painting into it first")
        kf["params"]["dir"] = os.path.abspath(folder)
        options["keyframes_stamp"] = folder_stamp(folder)
    options["clip_frames"] = {"first": int(frame_range[0]) if frame_range else 1,
                              "count": int(compat.strip_time(strip, "duration"))}
    options["resume"] = "whole"
    return workflow, options
