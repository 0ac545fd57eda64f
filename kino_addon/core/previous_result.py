"""A finished result that a run with other settings is about to replace, kept until the new run has
made something.

Running a job into a folder that holds frames made with other settings replaces them. Deleting them at
the start would lose a finished result to a run that then fails at once (a wrong model file, a dead
backend): so they are moved into ``.kino-previous/`` and deleted only when the new run has written a
frame; a run that ends with nothing puts them back, ``kino.json`` included. A run killed outright leaves
the folder for the next run to settle (``settle``).
"""
from __future__ import annotations

import os
import shutil

from .plan import existing_frames, frame_path

PREVIOUS_DIR = ".kino-previous"
MOVED = ("kino.json", "matte")  # beside the frames


def _aside(folder: str) -> str:
    return os.path.join(folder, PREVIOUS_DIR)


def set_aside(folder: str) -> None:
    """Move the folder's frames, ``kino.json`` and mattes into ``.kino-previous/``."""
    aside = _aside(folder)
    shutil.rmtree(aside, ignore_errors=True)
    os.makedirs(aside)
    for number in existing_frames(folder):
        path = frame_path(folder, number)
        os.replace(path, os.path.join(aside, os.path.basename(path)))
    for name in MOVED:
        if os.path.exists(os.path.join(folder, name)):
            os.replace(os.path.join(folder, name), os.path.join(aside, name))


def restore(folder: str) -> bool:
    """Put a set-aside result back (the new run made nothing); True when there was one."""
    aside = _aside(folder)
    if not os.path.isdir(aside):
        return False
    for name in os.listdir(aside):
        target = os.path.join(folder, name)
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target, ignore_errors=True)
        os.replace(os.path.join(aside, name), target)
    os.rmdir(aside)
    return True


def discard(folder: str) -> None:
    shutil.rmtree(_aside(folder), ignore_errors=True)


def settle(folder: str) -> None:
    """After a run that was killed: its predecessor's result comes back when it made no frame, else goes."""
    if not os.path.isdir(_aside(folder)):
        return
    if existing_frames(folder):
        discard(folder)
    else:
        restore(folder)
