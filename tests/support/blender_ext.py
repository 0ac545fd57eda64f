"""Load Kino into bpy (Blender as a Python module) exactly as a user's Blender does: as an
extension in a USER extension repository. Shared by every Blender test suite (tests/blender*).

Usage (in a conftest.py of a tests/blender* folder)::

    import sys, pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
    import blender_ext                            # does NOT import bpy
    MODULE = blender_ext.load_kino_extension()    # before anything imports bpy
    scene = blender_ext.reset_scene()             # between tests: empty file, add-on stays enabled
    queue = blender_ext.addon_submodule("kino_addon.blender.stylize.strip_job").QUEUE  # the enabled extension's

``load_kino_extension()`` sets ``BLENDER_USER_RESOURCES`` to a temporary folder (so nothing is written
to ~/.config/blender) *before* importing bpy, links the repository as ``kino`` inside a temporary
extension repository folder (the checkout's own folder name does not matter), enables
``bl_ext.kino_test.kino`` and returns that module name. Calling it again returns the same name.
The implementation is shared with ``scripts/kino`` (``kino_addon/blender/devload.py``).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_NAME = "kino_test"


def _devload():
    # Load devload.py by path: importing the package ``kino_addon.blender`` is fine too (it does not
    # import bpy), but this keeps the helper independent of sys.path.
    name = "_kino_devload"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "kino_addon" / "blender" / "devload.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def load_kino_extension(repo_root=REPO_ROOT, repo_name: str = REPO_NAME) -> str:
    """Enable the Kino extension from ``repo_root`` in a temporary user repo; return its module name."""
    return _devload().load_extension(str(repo_root), repo_name)


def extension_module():
    """The enabled extension's root package (``bl_ext.<repo>.kino``)."""
    return sys.modules[load_kino_extension()]


def addon_submodule(dotted: str):
    """``addon_submodule("kino_addon.blender.stylize.ops")`` -> that module of the *enabled* extension."""
    load_kino_extension()
    return _devload().submodule(dotted)


def addon_preferences():
    import bpy
    return bpy.context.preferences.addons[load_kino_extension()].preferences


def reset_scene():
    """Empty the file (the add-on stays enabled) and make the scene the sequencer scene; return it."""
    return _devload().reset_scene()
