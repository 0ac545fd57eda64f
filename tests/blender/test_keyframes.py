"""Painted keyframes in the sequencer and on the command line: Export Frames for Painting, the strip's
painted folder picked up by Stylize with the keyframes look (painted frames back bit-exact), fill and
"paint next" in the panel, repainting makes a new result, bad input, holds and in-betweens via
scripts/kino."""
import json
import os
import subprocess
import types

import blender_ext
import bpy
import numpy as np
import pytest

from kino_media import REPO, add_image_strip, select_only

W, H, N = 96, 64, 9


def texture_frame(i: int) -> np.ndarray:
    """A smooth colourful texture panning right by 2 px per frame."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    x = x + 2.0 * i
    img = np.stack([128 + 90 * np.sin(x / 7.0) * np.cos(y / 9.0), 128 + 90 * np.sin((x + y) / 11.0),
                    128 + 90 * np.cos(x / 5.0 - y / 13.0)], axis=2)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def paint(img: np.ndarray) -> np.ndarray:
    out = img.astype(np.int32)
    return np.clip(np.stack([255 - out[..., 2], out[..., 0] // 2 + 60, out[..., 1]], axis=2) // 16 * 16, 0, 255
                   ).astype(np.uint8)


def png():
    return blender_ext.addon_submodule("kino_addon.core.png")


def write(folder, frames: dict) -> None:
    os.makedirs(folder, exist_ok=True)
    for n, img in frames.items():
        with open(os.path.join(folder, f"frame_{n:04d}.png"), "wb") as fh:
            fh.write(png().encode_png(img))


def read(path) -> np.ndarray:
    return png().read_png(str(path))


class Recorder:
    def __init__(self, log=None):
        self.log = [] if log is None else log
        self.enabled, self.scale_y = True, 1.0

    def _child(self, *a, **k):
        return Recorder(self.log)

    row = column = box = split = _child

    def prop(self, data, name, **kw):
        assert name in data.bl_rna.properties
        self.log.append(("prop", name))

    def operator(self, idname, **kw):
        group, op = idname.split(".")
        assert hasattr(bpy.types, f"{group.upper()}_OT_{op}"), idname
        self.log.append(("operator", idname))
        return types.SimpleNamespace()

    def label(self, text="", icon='NONE', **kw):
        icons = bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items.keys()
        assert icon in icons, icon
        self.log.append(("label", text))

    def progress(self, **kw):
        self.log.append(("progress",))


def draw_keyframes_panel(kino):
    rec = Recorder()
    panel = blender_ext.addon_submodule("kino_addon.blender.keyframes.panel").KINO_PT_keyframes
    panel.draw(types.SimpleNamespace(layout=rec), bpy.context)
    return rec.log


@pytest.fixture
def source(scene, tmp_path):
    write(tmp_path / "src", {i: texture_frame(i) for i in range(1, N + 1)})
    strip = add_image_strip(scene, tmp_path / "src", name="src", start=1, channel=1)
    select_only(scene, strip)
    return strip


def test_two_shots_never_share_a_paintings_folder(scene, kino, source, tmp_path):
    """Same strip name in another scene, names that differ in accents only or after 48 characters: each
    gets its own folder (one shot was given another's paintings); the same strip always the same one."""
    ops = blender_ext.addon_submodule("kino_addon.blender.keyframes.ops")
    other_scene = bpy.data.scenes.new("shot 2")
    other_scene.sequence_editor_create()
    write(tmp_path / "src2", {i: texture_frame(i + 3) for i in range(1, N + 1)})
    twin = add_image_strip(other_scene, tmp_path / "src2", name="src", start=1, channel=1)
    folders = {ops.default_folder(source), ops.default_folder(twin)}
    for name in ("Szene \u00e9", "Szene \u00e8", "x" * 48 + "_v001", "x" * 48 + "_v002"):
        source.name = name
        folders.add(ops.default_folder(source))
    assert len(folders) == 6
    assert ops.default_folder(source) == ops.default_folder(source)
    bpy.data.scenes.remove(other_scene)


def test_export_paint_stylize_and_see_the_fill(scene, kino, backend, source, tmp_path):
    scene.kino_keyframes.frames = "every 4"
    assert bpy.ops.kino.export_keyframes() == {'FINISHED'}
    folder = bpy.path.abspath(source["kino_keyframes"])
    assert source["kino_keyframes"].startswith("//") and folder.endswith("_keyframes")
    assert os.path.basename(folder).startswith("src_")
    assert sorted(os.listdir(folder)) == ["frame_0001.png", "frame_0005.png", "frame_0009.png"]
    for n in (1, 5, 9):
        assert np.array_equal(read(os.path.join(folder, f"frame_{n:04d}.png")), texture_frame(n))
    painted = {n: paint(texture_frame(n)) for n in (1, 5, 9)}
    write(folder, painted)  # the artist paints over the exported frames
    assert bpy.ops.kino.export_keyframes(frames="1, 3") == {'FINISHED'}  # paintings are never overwritten
    assert np.array_equal(read(os.path.join(folder, "frame_0001.png")), painted[1])
    os.remove(os.path.join(folder, "frame_0003.png"))
    log = draw_keyframes_panel(kino)
    assert ("label", "3 keyframe(s): 1, 5, 9") in log and ("operator", "kino.export_keyframes") in log

    scene.kino.look = "keyframes"
    assert bpy.ops.kino.stylize() == {'FINISHED'}
    job = kino.strip_job.QUEUE.finished[-1]
    assert job.state == "completed", job.error
    for n, img in painted.items():
        assert np.array_equal(read(os.path.join(job.folder, f"frame_{n:04d}.png")), img)
    for n in (2, 3, 4, 6, 7, 8):
        made = read(os.path.join(job.folder, f"frame_{n:04d}.png")).astype(int)
        assert np.abs(made - paint(texture_frame(n))).mean() < 12.0  # the painting moved with the footage
    side = json.loads(open(os.path.join(job.folder, "kino.json")).read())
    kf = side["provenance"]["stages"]["keyframes"]
    assert kf["used"] == [1, 5, 9] and len(kf["fill"]) == N and "suggest" in kf
    assert side["workflow"]["stages"][0]["params"]["dir"] == folder.rstrip("/")
    assert side["options"]["clip_frames"] == {"first": 1, "count": N} and side["options"]["keyframes_stamp"]
    scene.frame_set(3)
    log = draw_keyframes_panel(kino)
    assert any(e[0] == "label" and e[1].startswith("Filled: ") for e in log)
    assert ("label", f"This frame: {kf['fill'][2] * 100:.1f}% filled") in log

    write(folder, {5: paint(texture_frame(5)) // 2})  # repaint a keyframe: a new result, not the old one
    assert bpy.ops.kino.stylize() == {'FINISHED'}
    again = kino.strip_job.QUEUE.finished[-1]
    assert again.folder != job.folder and again.session.reused == 0
    assert np.array_equal(read(os.path.join(again.folder, "frame_0005.png")), paint(texture_frame(5)) // 2)


def test_an_image_strip_of_painted_frames_marks_the_keyframes(scene, kino, backend, source, tmp_path):
    write(tmp_path / "painted", {3: paint(texture_frame(3)), 7: paint(texture_frame(7))})
    other = add_image_strip(scene, tmp_path / "painted", name="painted", start=1, channel=2)
    select_only(scene, source, other)  # the source is active, the painted strip selected too
    assert bpy.ops.kino.use_keyframes() == {'FINISHED'}
    assert os.path.samefile(bpy.path.abspath(source["kino_keyframes"]), tmp_path / "painted")


def test_stylize_without_painted_keyframes_says_what_to_do(scene, kino, backend, source):
    scene.kino.look = "keyframes"
    with pytest.raises(RuntimeError) as exc:
        bpy.ops.kino.stylize()
    assert "no painted keyframes" in str(exc.value) and "Export Frames for Painting" in str(exc.value)


def kino_cli(*args, timeout=300):
    return subprocess.run([str(REPO / "scripts" / "kino"), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_cli_keyframes_look_hold_and_interpolate(tmp_path):
    write(tmp_path / "src", {i: texture_frame(i) for i in range(1, N + 1)})
    painted = {1: paint(texture_frame(1)), 9: paint(texture_frame(9))}
    write(tmp_path / "kf", painted)
    run = kino_cli("stylize", tmp_path / "src", "--look", "keyframes", "--param", f"keyframes.dir={tmp_path / 'kf'}",
                   "--out", tmp_path / "out")
    assert run.returncode == 0, run.stderr[-3000:]
    for n, img in painted.items():
        assert np.array_equal(read(tmp_path / "out" / f"frame_{n:04d}.png"), img)
    side = json.loads((tmp_path / "out" / "kino.json").read_text())
    assert side["provenance"]["stages"]["keyframes"]["used"] == [1, 9]
    assert f"dir={tmp_path / 'kf'}" in side["command"]

    run = kino_cli("stylize", tmp_path / "src", "--look", "toon", "--param", "temporal.hold=2", "--out", tmp_path / "held")
    assert run.returncode == 0, run.stderr[-3000:]
    frames = [read(tmp_path / "held" / f"frame_{n:04d}.png") for n in range(1, N + 1)]
    for a in range(0, N - 1, 2):
        assert np.array_equal(frames[a], frames[a + 1]) and not np.array_equal(frames[a + 1], frames[a + 2])

    run = kino_cli("interpolate", tmp_path / "held", "--factor", "2", "--out", tmp_path / "tween")
    assert run.returncode == 0, run.stderr[-3000:]
    assert len([n for n in os.listdir(tmp_path / "tween") if n.endswith(".png")]) == 2 * N - 1


@pytest.mark.parametrize("case", ["empty", "size", "outside"])
def test_cli_bad_keyframes_exit_with_a_clear_reason(tmp_path, case):
    write(tmp_path / "src", {i: texture_frame(i) for i in range(1, 5)})
    kf = tmp_path / "kf"
    kf.mkdir()
    if case == "size":
        write(kf, {1: np.zeros((H + 2, W, 3), np.uint8)})
    elif case == "outside":
        write(kf, {1: paint(texture_frame(1)), 12: paint(texture_frame(1))})
    run = kino_cli("stylize", tmp_path / "src", "--look", "keyframes", "--param", f"keyframes.dir={kf}",
                   "--out", tmp_path / "out")
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert "Traceback" not in run.stderr
    assert {"empty": "holds no painted keyframes", "size": f"is {W}x{H + 2} but the clip is {W}x{H}",
            "outside": "frame_0012.png"}[case] in last, last
