"""The extension passes Blender's validator, builds into a zip with bpy's own tool, and that zip
installs and enables through bpy.ops.extensions.package_install_files (in a fresh process, so this
session's development copy of the add-on is not disturbed)."""
import os
import subprocess
import sys
import textwrap
import zipfile

import pytest

from kino_media import BACKEND_PYTHON, REPO

INSTALL = textwrap.dedent("""
    import os, sys, tempfile
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp()
    import bpy, addon_utils
    zip_path = sys.argv[1]
    res = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    mod = "bl_ext.user_default.kino"
    enabled = mod in bpy.context.preferences.addons
    prefs = bpy.context.preferences.addons[mod].preferences
    print("RESULT", res, enabled, hasattr(bpy.ops.kino, "stylize"), hasattr(bpy.types.Scene, "kino"),
          type(prefs).__name__, sys.modules[mod].__file__)
    prefs.python_path = sys.argv[2]
    bpy.ops.kino.backend_start()
    backend = sys.modules[mod + ".kino_addon.blender.connection"].BACKEND
    proc = backend.process.proc
    print("BACKEND", backend.connected(), os.path.realpath(backend.process.connection_file).startswith(
        os.path.realpath(os.environ["BLENDER_USER_RESOURCES"])), proc.args[0] == sys.argv[2])
    addon_utils.disable(mod)
    proc.wait(10)
    print("DISABLED", hasattr(bpy.types.Scene, "kino"), proc.returncode is not None)
""")


@pytest.mark.release_smoke
def test_validate_build_install(tmp_path):
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "build_extension.py"), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Success parsing TOML" in out.stdout
    zip_path = out.stdout.strip().splitlines()[-1]
    assert zip_path.endswith("kino-0.1.0.zip") and os.path.isfile(zip_path)
    names = zipfile.ZipFile(zip_path).namelist()
    assert "blender_manifest.toml" in names and "kino_addon/blender/stylize/ops.py" in names
    assert "backend/kino_backend/server.py" in names  # the add-on starts the backend from its own copy
    assert not [n for n in names if n.startswith((".venv", "tests/", "scripts/", "dist/", "demo_out/"))
                or "__pycache__" in n]
    run = subprocess.run([sys.executable, "-c", INSTALL, zip_path, str(BACKEND_PYTHON)], capture_output=True,
                         text=True, timeout=120)
    result = [ln for ln in run.stdout.splitlines() if ln.startswith(("RESULT", "BACKEND", "DISABLED"))]
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert result[0].startswith("RESULT {'FINISHED'} True True True KinoPreferences"), result
    assert "/extensions/user_default/kino/__init__.py" in result[0]
    # the installed copy starts its backend from its own code, run files under the user resources
    assert result[1] == "BACKEND True True True"
    assert result[2] == "DISABLED False True"  # unregister stops the backend it started


def test_validator_rejects_a_bad_manifest(tmp_path):
    src = tmp_path / "ext"
    src.mkdir()
    (src / "__init__.py").write_text("")
    text = (REPO / "blender_manifest.toml").read_text()
    assert 'id = "kino"' in text
    (src / "blender_manifest.toml").write_text(text.replace('id = "kino"', 'id = "kino!"'))
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "build_extension.py"), "--source", str(src),
                          "--validate-only"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "id" in (out.stdout + out.stderr)
