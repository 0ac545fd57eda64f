"""Blender tests: bpy headless (in each supported release: scripts/run_tests.sh), Kino enabled as a real
extension, the real backend subprocess from .venv-backend. Helpers and media: kino_media.py."""
from __future__ import annotations

import pathlib
import sys
import types

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import blender_ext  # noqa: E402

MODULE = blender_ext.load_kino_extension()
import bpy  # noqa: E402

from kino_media import BACKEND_PYTHON, write_sequence  # noqa: E402


@pytest.fixture(scope="session")
def kino():
    """The enabled extension's modules."""
    sub = blender_ext.addon_submodule
    return types.SimpleNamespace(
        connection=sub("kino_addon.blender.connection"), strip_job=sub("kino_addon.blender.stylize.strip_job"),
        job_pump=sub("kino_addon.blender.job_pump"), panel=sub("kino_addon.blender.panel"),
        png=sub("kino_addon.core.png"), plan=sub("kino_addon.core.plan"), module=MODULE)


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    write_sequence(root / "idx")
    return root


@pytest.fixture(scope="session")
def backend(kino):
    if not BACKEND_PYTHON.exists():
        pytest.fail(f"{BACKEND_PYTHON} is missing: run scripts/setup_env.sh backend")
    blender_ext.addon_preferences().python_path = str(BACKEND_PYTHON)
    blender_ext.addon_preferences().backend_mode = 'LOCAL'
    bpy.ops.kino.backend_start()
    yield kino.connection.BACKEND
    kino.connection.BACKEND.stop()


@pytest.fixture
def scene(kino, tmp_path):
    s = blender_ext.reset_scene()
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "test.blend"))  # results go to <tmp>/kino/
    kino.strip_job.QUEUE.finished.clear()
    kino.strip_job.QUEUE.last_error = ""
    yield s
    kino.strip_job.QUEUE.cancel()
    kino.strip_job.QUEUE.run()


@pytest.fixture
def none_look(backend):
    names = [lk["name"] for lk in backend.hello.get("looks", [])]
    if "none" not in names:
        pytest.fail(f"the backend offers no 'none' look (contract: looks include none); it has {names}")
    return "none"


@pytest.fixture(scope="session")
def kino_mods(kino):
    return kino
