"""The static bpy API check (scripts/check_bpy_api.py, names half) on small add-on sources: API that a
release lacks is a finding outside compat.py and "guarded" inside it; the add-on itself is clean.
Runs the check in .venv-apicheck (made by scripts/setup_env.sh apicheck, which `make test` runs)."""
import pathlib
import subprocess
import textwrap

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv-apicheck" / "bin" / "python"
CHECK = REPO / "scripts" / "check_bpy_api.py"

pytestmark = pytest.mark.skipif(not PYTHON.exists(), reason=".venv-apicheck is absent (KINO_TEST_RELEASES=default); "
                                "make it with scripts/setup_env.sh apicheck")


def check(package, releases="4.5,5.2"):
    return subprocess.run([str(PYTHON), str(CHECK), "--names-only", "--releases", releases, "--package", str(package)],
                          capture_output=True, text=True, timeout=600)


def write(folder, name, source):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(source))


def test_api_a_release_lacks_is_a_finding_outside_compat_and_guarded_inside(tmp_path):
    pkg = tmp_path / "kino_addon" / "blender"
    write(pkg, "compat.py", """
        def sequencer_scene(context):
            return context.sequencer_scene if hasattr(context, "sequencer_scene") else context.scene
    """)
    write(pkg, "ops.py", """
        import bpy
        def draw(context, fo, strips):
            scene = context.sequencer_scene                      # 5.0+: 4.5 has no sequencer_scene
            fo.file_output_items.new('RGBA', "v")               # 5.0+: 4.5 has file_slots
            strips.new_effect(name="c", type='COLOR', channel=1, frame_start=1, length=3)   # 4.5: frame_end
            bpy.ops.render.render(animation=True, scene=scene.name)
            return scene.render.resolution_x, "x".strip()
    """)
    proc = check(pkg)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    finds = [ln for ln in lines if "FINDING" in ln]
    assert any("member sequencer_scene" in ln and "ops.py:4" in ln for ln in finds), proc.stdout
    assert any("member file_output_items" in ln for ln in finds) and any("new_effect(length)" in ln for ln in finds)
    assert not any("render" in ln or "strip" in ln.split("(used")[0] for ln in finds)  # 4.5 has these
    assert any(ln.strip() == "guarded member sequencer_scene [names]" for ln in lines)
    assert "5.2: 0 finding(s)" in proc.stdout


def test_the_addon_itself_has_no_findings():
    proc = check(REPO / "kino_addon" / "blender", releases="4.5,5.2,main")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4.5: 0 finding(s)" in proc.stdout and "5.2: 0 finding(s)" in proc.stdout
