"""Where the add-on lives: its package id (for preferences), source folder and user data folder."""
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


def code_root() -> str:
    """The extension's source folder: it holds ``kino_addon/`` and ``backend/`` (the backend's code)."""
    here = os.path.dirname(os.path.abspath(__file__))  # .../kino_addon/blender
    return os.path.dirname(os.path.dirname(here))


def default_backend_python() -> str:
    """The project's backend venv next to the extension source (a developer checkout), else the
    backend that Install Backend put in the extension's user folder, when either exists."""
    for root in (code_root(), os.path.realpath(code_root())):
        candidate = os.path.join(root, ".venv-backend", "bin", "python")
        if os.path.exists(candidate):
            return candidate
    from .backend_install import installed_python
    return installed_python()


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
