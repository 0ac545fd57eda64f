"""Shared bits of the Blender stabilization tests: the extension is loaded for real
(tests/support/blender_ext.py) before anything imports bpy, and the fixtures live here, imported by
the test module (no conftest.py: several tests/blender* folders run in one pytest session and a
second ``conftest`` module would shadow another folder's)."""
import importlib
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "support"))
sys.path.insert(0, str(HERE))
import blender_ext  # noqa: E402

blender_ext.load_kino_extension()
W, H, T = 200, 150, 16


def kino(dotted):
    """A module of the enabled extension, e.g. kino("kino_addon.blender.stabilize.tracking")."""
    return importlib.import_module(f"{blender_ext.load_kino_extension()}.{dotted}")


@pytest.fixture(scope="session")
def shaken(tmp_path_factory):
    """A shaken static scene with a 'person' walking across: (folder, world->frame matrices, person)."""
    import stab_media
    folder = tmp_path_factory.mktemp("shaken")
    cam, people = stab_media.shaken_clip(str(folder), width=W, height=H, frames=T, seed=3)
    return str(folder), cam, people


@pytest.fixture()
def scene():
    return blender_ext.reset_scene()
