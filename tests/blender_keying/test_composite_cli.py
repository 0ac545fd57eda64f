"""``scripts/kino composite`` end to end (Blender decode, real backend, key stage, looks) on tiny inputs."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import blender_ext
import bpy
from kino_blender_keying_support import ACTOR, REPO, SCREEN, write_png

from kino_addon.core.png import read_png

BACKEND_PYTHON = REPO / ".venv-backend" / "bin" / "python"


def _composite(*args, expect=0):
    if not BACKEND_PYTHON.exists():
        pytest.fail(f"{BACKEND_PYTHON} is missing: run scripts/setup_env.sh backend")
    proc = subprocess.run([sys.executable, "-m", "kino_addon.blender.cli", "composite", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == expect, proc.stderr[-2000:]
    return proc


def test_none_looks_composite_exactly(media, tmp_path):
    out = tmp_path / "out"
    _composite("--actor", media / "actor", "--background", media / "bgseq", "--actor-look", "none",
               "--background-look", "none", "--out", out)
    assert sorted(os.listdir(out)) == ["frame_0001.png", "frame_0002.png", "frame_0003.png", "kino.json", "matte"]
    assert sorted(os.listdir(out / "matte")) == ["frame_0001.png", "frame_0002.png", "frame_0003.png"]
    for n in (1, 2, 3):
        img = read_png(str(out / f"frame_{n:04d}.png")).astype(int)
        matte = read_png(str(out / "matte" / f"frame_{n:04d}.png"))
        assert img.shape == (48, 64, 3) and matte.shape[:2] == (48, 64)
        cx = 26 + 2 * (n - 1)
        assert np.abs(img[24, cx] - ACTOR).max() <= 3 and matte[24, cx, 0] == 255
        # background: cover-scaled (left half red), frame 3 holds the shorter background's frame 2
        green = 60 if n == 1 else 160
        assert np.abs(img[3, 2] - (220, green, 30)).max() <= 3 and matte[3, 2, 0] == 0
        assert np.abs(img[3, 61] - (30, green, 220)).max() <= 3
    side = json.loads((out / "kino.json").read_text())
    key = side["composite"]["key"]
    assert key["key_color_source"] == "auto"
    assert np.abs(np.array(key["key_color"]) - SCREEN).max() <= 12
    assert side["workflow"]["actor"]["stages"][0]["name"] == "key"
    assert side["source"]["width"] == 64 and side["frames"]["count"] == 3
    # the same command again: the composite is complete, nothing is stylized again (both plates were)
    mtimes = {n: (out / n).stat().st_mtime_ns for n in ("frame_0001.png", "kino.json")}
    again = _composite("--actor", media / "actor", "--background", media / "bgseq", "--actor-look", "none",
                       "--background-look", "none", "--out", out, "--json")
    assert "holds this composite complete already (3 frames)" in again.stderr
    assert {n: (out / n).stat().st_mtime_ns for n in mtimes} == mtimes
    assert json.loads(again.stdout.strip().splitlines()[-1])["key_color"] == key["key_color"]
    (out / "matte" / "frame_0002.png").unlink()  # not complete: made again
    again = _composite("--actor", media / "actor", "--background", media / "bgseq", "--actor-look", "none",
                       "--background-look", "none", "--out", out)
    assert "complete already" not in again.stderr and (out / "matte" / "frame_0002.png").exists()


def test_toon_looks_given_key_garbage_and_blend(media, tmp_path):
    out, blend = tmp_path / "out", tmp_path / "scene.blend"
    proc = _composite("--actor", media / "actor", "--background", media / "bg.png", "--key-color", "40,180,60",
                      "--garbage-matte", "0,0,30,48", "--out", out, "--blend", blend, "--json")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["frames"] == 3 and summary["key_color"] == [40, 180, 60]
    first = read_png(str(out / "frame_0001.png")).astype(int)
    matte = read_png(str(out / "matte" / "frame_0001.png"))[..., 0]
    assert matte[:, 30:].max() == 0 and matte[24, 26] == 255
    assert np.abs(first[24, 40] - (30, 40, 220)).sum() < np.abs(first[24, 40] - ACTOR).sum()  # cut by the garbage matte
    side = json.loads((out / "kino.json").read_text())
    assert side["workflow"]["actor"]["look"] == "toon" and side["workflow"]["background"]["look"] == "toon"
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    try:
        scene = bpy.data.scenes["Kino Composite"]
        strips = {s.name: s for s in scene.sequence_editor.strips}
        assert {"actor", "background", "composite"} <= set(strips)
        comp = strips["composite"]
        assert comp.type == "IMAGE" and len(comp.elements) == 3 and comp.channel > strips["actor"].channel
        from kino_addon.blender import compat
        tree = compat.compositor_tree(bpy.data.scenes["Kino Key"])
        key = next(n for n in tree.nodes if n.bl_idname == "CompositorNodeKeying")
        assert key.inputs["Key Color"].default_value[1] > 0.4  # sRGB 180 in scene-linear
    finally:
        blender_ext.reset_scene()


def test_bad_arguments_exit_with_one_line_reasons(media, tmp_path):
    proc = _composite("--actor", media / "actor", "--background", media / "bg.png", "--key-color", "1,2",
                      "--out", tmp_path / "o", expect=2)
    assert "--key-color" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = _composite("--actor", tmp_path / "nope", "--background", media / "bg.png", "--out", tmp_path / "o",
                      expect=1)
    assert "does not exist" in proc.stderr


def test_an_actor_plate_already_transparent_is_its_own_matte(media, tmp_path):
    """An actor keyed elsewhere (RGBA frames): its alpha is the matte, nothing is keyed. Before, the keyer
    saw the colour over black, took black as the screen and keyed the actor's dark coat out too."""
    h, w = 48, 64
    yy, xx = np.mgrid[:h, :w]
    for n in range(3):
        frame = np.zeros((h, w, 4), np.uint8)
        frame[..., :3] = (20, 18, 16)  # a dark coat ...
        frame[yy < 16, :3] = (230, 200, 170)  # ... under a light face
        r = np.hypot(xx - (24 + 3 * n), yy - 24)
        frame[..., 3] = np.clip((20.5 - r) * 64, 0, 255).astype(np.uint8)  # a disc with a soft edge
        write_png(tmp_path / "keyed" / f"k_{n:03d}.png", frame)
    bg = np.zeros((h, w, 3), np.uint8)
    bg[..., 0], bg[..., 2] = (xx * 4).astype(np.uint8), (yy * 5).astype(np.uint8)
    write_png(tmp_path / "bg.png", bg)
    out = tmp_path / "out"
    run = _composite("--actor", tmp_path / "keyed", "--background", tmp_path / "bg.png", "--actor-look", "none",
                     "--background-look", "none", "--key-color", "0,200,0", "--out", out)
    assert "already transparent: its own alpha is the matte and it is not keyed (--key-color not used)" in run.stderr
    bg = bg.astype(float)
    for n in range(3):
        src = read_png(str(tmp_path / "keyed" / f"k_{n:03d}.png")).astype(float)
        a = src[..., 3:] / 255.0
        want = a * src[..., :3] + (1 - a) * bg[..., :3]
        got = read_png(str(out / f"frame_{n + 1:04d}.png")).astype(float)
        matte = read_png(str(out / "matte" / f"frame_{n + 1:04d}.png"))[..., 0]
        assert np.abs(matte.astype(int) - src[..., 3]).max() <= 1
        assert np.abs(got - want).max() <= 2, np.abs(got - want).max()
    side = json.loads((out / "kino.json").read_text())
    assert [s["name"] for s in side["workflow"]["actor"]["stages"]][0] != "key"
    assert side["composite"]["matte"] == "the actor plate's own alpha"
