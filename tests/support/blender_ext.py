"""Load Kino into bpy (Blender as a Python module) exactly as a user's Blender does: as an
extension in a USER extension repository. Shared by every Blender test suite (tests/blender*).

Usage (in a conftest.py of a tests/blender* folder)::

    import sys, pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
    import blender_ext                       # does NOT import bpy
    MODULE = blender_ext.load_kino_extension()   # before anything imports bpy
    scene = blender_ext.reset_scene()         # between tests: empty file, add-on stays enabled

``load_kino_extension()`` sets ``BLENDER_USER_RESOURCES`` to a temporary folder (so nothing is written
to ~/.config/blender) *before* importing bpy, links the repository as ``kino`` inside a temporary
extension repository folder (the checkout's own folder name does not matter), enables
``bl_ext.<repo>.kino`` and returns that module name. Calling it again returns the same name.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_NAME = "kino_test"
_state: dict = {}


def _raise(exc):
    raise exc


def load_kino_extension(repo_root: os.PathLike = REPO_ROOT, repo_name: str = REPO_NAME) -> str:
    """Enable the Kino extension from ``repo_root`` in a temporary user repo; return its module name."""
    if "module" in _state:
        return _state["module"]
    if "bpy" in sys.modules and not os.environ.get("BLENDER_USER_RESOURCES"):
        raise RuntimeError("bpy was imported before load_kino_extension(): call it first (it must set "
                           "BLENDER_USER_RESOURCES before bpy starts)")
    tmp = tempfile.mkdtemp(prefix="kino-bpy-")
    atexit.register(shutil.rmtree, tmp, True)
    os.environ.setdefault("BLENDER_USER_RESOURCES", os.path.join(tmp, "userres"))
    import bpy  # noqa: E402  (after BLENDER_USER_RESOURCES)
    import addon_utils  # available once bpy is imported

    ext_dir = os.path.join(tmp, "extensions", repo_name)
    os.makedirs(ext_dir)
    os.symlink(os.path.abspath(repo_root), os.path.join(ext_dir, "kino"))
    bpy.context.preferences.extensions.repos.new(
        name=repo_name, module=repo_name, custom_directory=ext_dir, source='USER')
    module = f"bl_ext.{repo_name}.kino"
    addon_utils.enable(module, default_set=True, handle_error=_raise)
    if module not in bpy.context.preferences.addons:
        raise RuntimeError(f"enabling {module} did not register it (see the traceback above)")
    _state.update(module=module, tmp=tmp, ext_dir=ext_dir)
    reset_scene()
    return module


def extension_module():
    """The enabled extension's root package (``bl_ext.<repo>.kino``)."""
    return sys.modules[load_kino_extension()]


def addon_submodule(dotted: str):
    """``addon_submodule("kino_addon.blender.ops")`` -> that module of the *enabled* extension."""
    import importlib
    return importlib.import_module(f"{load_kino_extension()}.{dotted}")


def addon_preferences():
    import bpy
    return bpy.context.preferences.addons[load_kino_extension()].preferences


def reset_scene():
    """Empty the file (the add-on stays enabled) and make the scene the sequencer scene; return it."""
    import bpy
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    bpy.context.workspace.sequencer_scene = scene
    scene.sequence_editor_create()
    return scene
