"""Paths inside a .blend: under the .blend's folder they are stored relative (``//...``), as Blender
stores its own, so a project folder moved with its ``kino/`` results still finds every frame."""
from __future__ import annotations

import os


def _under(path: str, folder: str) -> bool:
    path, folder = os.path.normcase(os.path.abspath(path)), os.path.normcase(os.path.abspath(folder))
    return os.path.commonpath([path, folder]) == folder


def blend_relative(path: str, blend_path: str = "") -> str:
    """``//...`` for a path under the folder of the .blend (saved, or about to be saved at
    ``blend_path``), as Blender stores its own paths; anything else unchanged."""
    import bpy
    blend = blend_path or bpy.data.filepath
    if not blend or not path or path.startswith("//"):
        return path
    base = os.path.dirname(os.path.abspath(blend))
    if not _under(path, base):
        return path
    rel = os.path.relpath(os.path.abspath(path), base).replace(os.sep, "/")
    return "//" + ("" if rel == "." else rel) + ("/" if path.endswith(("/", os.sep)) and rel != "." else "")


def make_paths_relative(blend_path: str = "") -> int:
    """Store every strip, image and movie-clip path under the .blend's folder relative to it; returns
    how many changed. Call before saving to ``blend_path`` (the command line), or with the file saved."""
    import bpy
    changed = 0

    def fix(owner, attr):
        nonlocal changed
        old = getattr(owner, attr)
        new = blend_relative(old, blend_path) if old and not old.startswith("//") else old
        if new != old:
            setattr(owner, attr, new)
            changed += 1

    for scene in bpy.data.scenes:
        for strip in (scene.sequence_editor.strips_all if scene.sequence_editor else []):
            if strip.type == "IMAGE":
                fix(strip, "directory")
            elif strip.type in ("MOVIE", "SOUND") and hasattr(strip, "filepath"):
                fix(strip, "filepath")
    for block in list(bpy.data.images) + list(bpy.data.movieclips):
        if getattr(block, "filepath", None) is not None:
            fix(block, "filepath")
    return changed
