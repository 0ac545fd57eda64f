"""Choosing the Blender (KINO_BLENDER / --blender): ``scripts/kino stylize`` driven through a Blender
*executable* (``blender -b --factory-startup --python ...``) of the release this suite runs in writes
the frames and a .blend whose result strip sits above its source, which this release opens.

No Blender executable can be installed on the test machines (only bpy wheels), so the executable is
``tests/support/blender_exe.py`` around this suite's own bpy: it follows Blender's command line and
runs the real Blender underneath, without PYTHONPATH or the checkout on sys.path (as a real one)."""
import json
import os
import subprocess
import sys

import bpy
import numpy as np
import pytest

from kino_media import REPO, index_frame, write_sequence

from kino_addon.blender import compat

STAND_IN = REPO / "tests" / "support" / "blender_exe.py"


def blender_executable(folder) -> str:
    """An executable ``blender`` for this release (this Python's bpy)."""
    out = subprocess.run([sys.executable, str(STAND_IN), "make-wrapper", str(folder / "blender"), sys.executable],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def kino(*args, env=None, timeout=300):
    return subprocess.run([str(REPO / "scripts" / "kino"), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))


@pytest.mark.release_smoke
def test_stylize_through_a_blender_executable_writes_a_blend_this_release_opens(tmp_path, kino_mods):
    blender = blender_executable(tmp_path)
    version = subprocess.run([blender, "--version"], capture_output=True, text=True).stdout.splitlines()
    assert f"Blender {bpy.app.version_string}" in version
    write_sequence(tmp_path / "seq", 6)
    out, blend = tmp_path / "out", tmp_path / "scene.blend"
    run = kino("stylize", tmp_path / "seq", "--look", "none", "--frames", "2:4", "--out", out, "--blend", blend,
               env={"KINO_BLENDER": blender})
    assert run.returncode == 0, run.stderr[-3000:]
    for n in range(1, 4):  # exact source frames 2..4
        assert np.array_equal(kino_mods.png.read_png(str(out / f"frame_{n:04d}.png")), index_frame(n + 1))
    side = json.loads((out / "kino.json").read_text())
    assert side["versions"]["blender"] == bpy.app.version_string  # this release ran the job
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    strips = {s.name: s for s in bpy.context.scene.sequence_editor.strips}
    src, res = strips["seq"], strips["seq_none"]
    assert res.type == "IMAGE" and len(res.elements) == 3 and res.channel > src.channel
    assert compat.strip_span(res) == compat.strip_span(src) == (2, 5)
    assert bpy.path.abspath(res.directory).rstrip("/") == str(out)


def test_blender_option_wins_over_the_environment_and_bad_choices_are_clear(tmp_path):
    write_sequence(tmp_path / "seq", 2)
    run = kino("stylize", tmp_path / "seq", "--look", "none", "--out", tmp_path / "out",
               "--blender", sys.executable, env={"KINO_BLENDER": str(tmp_path / "no-such-blender")})
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(os.listdir(tmp_path / "out")) == ["frame_0001.png", "frame_0002.png", "kino.json"]
    bad = kino("stylize", tmp_path / "seq", "--look", "none", "--out", tmp_path / "o2",
               env={"KINO_BLENDER": str(tmp_path / "no-such-blender")})
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "notblender").write_text("#!/bin/sh\necho 'GNU bash, version 5'\n")
    os.chmod(tmp_path / "notblender", 0o755)
    bad = kino("stabilize", tmp_path / "seq", "--out", tmp_path / "o3", "--blender", tmp_path / "notblender")
    assert bad.returncode == 2 and "neither Blender nor Python" in bad.stderr


def test_a_failing_command_exits_non_zero_through_the_executable(tmp_path):
    blender = blender_executable(tmp_path)
    run = kino("stylize", tmp_path / "missing.mp4", "--look", "none", "--out", tmp_path / "out",
               env={"KINO_BLENDER": blender})
    assert run.returncode == 1 and run.stderr.strip().splitlines()[-1].endswith("does not exist")
