"""Load Kino into bpy (Blender as a Python module) the way a user's Blender does: as an extension in
a USER extension repository. Used by ``scripts/kino`` and by the Blender tests
(``tests/support/blender_ext.py``). Import this module before bpy: it sets ``BLENDER_USER_RESOURCES``
to a temporary folder first, so nothing is written to ~/.config/blender.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_state: dict = {}


def _raise(exc):
    raise exc


def load_extension(repo_root: str = REPO_ROOT, repo_name: str = "kino_dev", private_tmp: bool = False) -> str:
    """Enable the extension whose source is ``repo_root``; return its module name (``bl_ext.<repo>.kino``).

    ``private_tmp`` (``scripts/kino``): every temporary file of this process (Blender's own
    ``blender_*`` folder, frame extraction, the backend's run folder) goes inside this run's
    ``kino-bpy-*`` folder, removed at exit; folders that killed runs left behind are removed first."""
    if "module" in _state:
        return _state["module"]
    if "bpy" in sys.modules and not os.environ.get("BLENDER_USER_RESOURCES"):
        raise RuntimeError("bpy was imported before load_extension(): call it first (it must set "
                           "BLENDER_USER_RESOURCES before bpy starts)")
    from kino_addon.core import tempdirs
    tempdirs.sweep()
    tmp = tempdirs.make("kino-bpy-")
    atexit.register(shutil.rmtree, tmp, True)
    # Again at exit: a run killed just before this one started may still have been exiting then.
    atexit.register(tempdirs.sweep, tempdirs.PREFIXES, os.path.dirname(tmp))
    if private_tmp:
        os.makedirs(os.path.join(tmp, "tmp"))
        for var in ("TMPDIR", "TEMP", "TMP"):
            os.environ[var] = os.path.join(tmp, "tmp")
        tempfile.tempdir = None  # gettempdir() reads the variables again
    os.environ.setdefault("BLENDER_USER_RESOURCES", os.path.join(tmp, "userres"))
    import bpy  # noqa: E402  (after BLENDER_USER_RESOURCES)
    import addon_utils  # available once bpy is imported

    ext_dir = os.path.join(tmp, "extensions", repo_name)
    os.makedirs(ext_dir)
    os.symlink(os.path.abspath(repo_root), os.path.join(ext_dir, "kino"))
    bpy.context.preferences.extensions.repos.new(name=repo_name, module=repo_name, custom_directory=ext_dir,
                                                 source='USER')
    module = f"bl_ext.{repo_name}.kino"
    addon_utils.enable(module, default_set=True, handle_error=_raise)
    if module not in bpy.context.preferences.addons:
        raise RuntimeError(f"enabling {module} did not register it")
    _state.update(module=module, tmp=tmp)
    reset_scene()
    return module


def submodule(dotted: str):
    """``submodule("kino_addon.blender.stylize.strip_job")`` -> that module of the *enabled* extension."""
    import importlib
    return importlib.import_module(f"{load_extension()}.{dotted}")


def reset_scene():
    """Empty the file (the add-on stays enabled); the scene becomes the sequencer scene. Returns it."""
    import bpy
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    submodule("kino_addon.blender.compat").set_sequencer_scene(bpy.context, scene)
    scene.sequence_editor_create()
    return scene
