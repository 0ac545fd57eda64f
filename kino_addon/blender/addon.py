"""Where the add-on lives and what it records about itself: its package id (for preferences), source
folder, user data folder, the default output folder, and the versions written to ``kino.json``."""
from __future__ import annotations

import os
import sys
import tempfile

import bpy

#: ``bl_ext.<repo>.kino`` when loaded as an extension (the package that holds ``kino_addon``).
ADDON_ID = __name__.split(".kino_addon.")[0] if ".kino_addon." in __name__ else "kino_addon"


def version() -> str:
    mod = sys.modules.get(f"{ADDON_ID}.kino_addon") or sys.modules.get("kino_addon")
    return getattr(mod, "__version__", "0.0.0")


def versions(hello: dict) -> dict:
    """The ``versions`` of ``kino.json``: Kino, Blender, and the backend and protocol from its hello."""
    return {"kino": version(), "blender": bpy.app.version_string, "backend": hello.get("backend"),
            "protocol": hello.get("protocol")}


def code_root() -> str:
    """The extension's source folder: it holds ``kino_addon/`` and ``backend/`` (the backend's code)."""
    here = os.path.dirname(os.path.abspath(__file__))  # .../kino_addon/blender
    return os.path.dirname(os.path.dirname(here))


def checkout_backend_python() -> str:
    """The project's backend venv next to the extension source, when it exists (a developer checkout)."""
    for root in (code_root(), os.path.realpath(code_root())):
        for rel in (os.path.join(".venv-backend", "bin", "python"), os.path.join(".venv-backend", "Scripts", "python.exe")):
            candidate = os.path.join(root, rel)
            if os.path.exists(candidate):
                return candidate
    return ""


def preferences():
    """The add-on preferences, or None when the add-on is not enabled through Blender."""
    addon = bpy.context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


def user_dir(sub: str) -> str:
    """A writable folder for Kino's own data (backend run files), never inside the extension."""
    try:
        return bpy.utils.extension_path_user(ADDON_ID, path=sub, create=True)
    except ValueError:  # not loaded as an extension (plain add-on): fall back to a temp folder
        path = os.path.join(tempfile.gettempdir(), "kino-user", sub)
        os.makedirs(path, exist_ok=True)
        return path


def output_base() -> tuple:
    """(folder, warning): ``//kino`` next to the saved .blend, or a temp folder for an unsaved file."""
    if bpy.data.filepath:
        return bpy.path.abspath("//kino"), ""
    base = os.path.join(tempfile.gettempdir(), "kino-unsaved")
    return base, (f"the .blend file is not saved, so the stylized frames go to {base}; save the file to "
                  "keep them next to it in //kino/")
