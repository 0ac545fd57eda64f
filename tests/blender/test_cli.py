"""``scripts/kino stylize`` end to end (contract §3): real footage, exact `none` output, --blend,
and clear non-zero exits for bad input."""
import json
import os
import subprocess
import sys

import bpy
import numpy as np
import pytest

from kino_media import REPO, index_frame, write_sequence

from kino_addon.blender import compat

FOOTAGE = REPO.parent / "shared" / "footage"


def kino(*args, timeout=300):
    """``scripts/kino stylize ARGS`` in the Blender this suite runs in (KINO_BLENDER = this bpy Python)."""
    env = dict(os.environ, KINO_BLENDER=sys.executable)
    return subprocess.run([str(REPO / "scripts" / "kino"), "stylize", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_real_footage_toon_four_frames_with_blend(tmp_path, kino_mods):
    clip = FOOTAGE / "carphone_tiny.mp4"
    if not clip.exists():
        pytest.skip(f"real footage not found at {clip} (../shared/footage is absent)")
    out, blend = tmp_path / "toon", tmp_path / "scene.blend"
    run = kino(clip, "--look", "toon", "--frames", "2:5", "--out", out, "--blend", blend)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(os.listdir(out)) == [f"frame_{n:04d}.png" for n in range(1, 5)] + ["kino.json"]
    frames = [kino_mods.png.read_png(str(out / f"frame_{n:04d}.png")) for n in range(1, 5)]
    assert all(f.shape == (144, 176, 3) for f in frames)
    side = json.loads((out / "kino.json").read_text())
    assert side["status"] == "completed" and side["workflow"]["look"] == "toon"
    assert [s["name"] for s in side["workflow"]["stages"]][:1] == ["toon"]
    assert side["frames"]["count"] == 4 and side["source"]["input"] == str(clip)
    assert "--frames 2:5" in side["command"] and side["versions"]["blender"] == bpy.app.version_string
    assert np.abs(frames[0].astype(int) - frames[3].astype(int)).mean() > 0.5  # frames differ: it moves
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    strips = {s.name: s for s in bpy.context.scene.sequence_editor.strips}
    src, res = strips["carphone_tiny.mp4"], strips["carphone_tiny.mp4_toon"]
    assert res.channel > src.channel and res.type == "IMAGE" and len(res.elements) == 4
    assert compat.strip_span(res) == compat.strip_span(src) and compat.strip_span(res)[0] == 2
    assert compat.strip_time(res, "duration") == 4


def test_none_look_is_exact_and_refuses_what_it_would_ignore(tmp_path, kino_mods):
    write_sequence(tmp_path / "seq", 4)
    bad = kino(tmp_path / "seq", "--look", "none", "--param", "bogus=1", "--out", tmp_path / "bad")
    assert bad.returncode == 1 and "unknown parameter 'bogus'" in bad.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "bad").exists()  # a failed run leaves no empty folder
    run = kino(tmp_path / "seq", "--look", "none", "--temporal", "on", "--frames", "1:99", "--out",
               tmp_path / "out")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "--temporal is ignored" in run.stderr
    assert "--frames 1:99 goes past the clip's last frame; stylized 1:4 (4 frames)" in run.stderr
    for n in range(1, 5):
        assert np.array_equal(kino_mods.png.read_png(str(tmp_path / "out" / f"frame_{n:04d}.png")), index_frame(n))
    stages = json.loads((tmp_path / "out" / "kino.json").read_text())["workflow"]["stages"]
    assert stages == [{"name": "none", "enabled": True, "params": {}}]


def test_inputs_the_sequencer_does_not_show_whole_are_noted(tmp_path, kino_mods):
    """A folder whose frames are not all frame 1's size, and a variable-frame-rate phone-style movie whose
    frames the sequencer does not all show: the run goes on as the sequencer shows it and ends with a note."""
    write_sequence(tmp_path / "seq", 3)
    png = kino_mods.png
    with open(tmp_path / "seq" / "frame_0004.png", "wb") as fh:
        fh.write(png.encode_png(np.zeros((20, 30, 3), np.uint8)))
    run = kino(tmp_path / "seq", "--look", "none", "--out", tmp_path / "mixed")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "1 frame of" in run.stderr and "4 (30x20)" in run.stderr and "scale the frames to one size" in run.stderr
    clip = FOOTAGE / "handheld_park.mp4"  # 245 frames, two of them 20 ms after the one before
    if not clip.exists():
        pytest.skip(f"real footage not found at {clip} (../shared/footage is absent)")
    run = kino(clip, "--look", "none", "--frames", "1:2", "--out", tmp_path / "vfr")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "variable frame rate: it holds 245 frames, of which Blender's sequencer shows 244" in run.stderr


def test_a_slate_in_the_frames_folder_is_left_out_and_named(tmp_path, kino_mods):
    """Slate.png sorted before frame_0001.png and became frame 1, every frame after it one late."""
    write_sequence(tmp_path / "seq", 3)
    with open(tmp_path / "seq" / "Slate.png", "wb") as fh:
        fh.write(kino_mods.png.encode_png(np.full(index_frame(1).shape, 255, np.uint8)))
    run = kino(tmp_path / "seq", "--look", "none", "--out", tmp_path / "out")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "are not frames of its sequence" in run.stderr and "Slate.png" in run.stderr
    for n in range(1, 4):
        assert np.array_equal(kino_mods.png.read_png(str(tmp_path / "out" / f"frame_{n:04d}.png")), index_frame(n))
    assert not (tmp_path / "out" / "frame_0004.png").exists()


def test_a_frame_repainted_mid_sequence_is_stylized_again(tmp_path, kino_mods):
    """Only the first two and the last file of a sequence were in the settings hash: frame 3 edited, the
    re-run said "6 reused" and kept the old frame 3 (255 levels off)."""
    write_sequence(tmp_path / "seq", 6)
    run = kino(tmp_path / "seq", "--look", "none", "--out", tmp_path / "out")
    assert run.returncode == 0, run.stderr[-3000:]
    with open(tmp_path / "seq" / "frame_0003.png", "wb") as fh:
        fh.write(kino_mods.png.encode_png(255 - index_frame(3)))
    run = kino(tmp_path / "seq", "--look", "none", "--out", tmp_path / "out")
    assert run.returncode == 0 and "reused" not in run.stdout + run.stderr, run.stdout + run.stderr
    assert np.array_equal(kino_mods.png.read_png(str(tmp_path / "out" / "frame_0003.png")), 255 - index_frame(3))


def test_float_exr_frames_are_noted_as_clipped(tmp_path):
    """EXR plates hold values above 1; Kino's 8-bit frames clip them (up to 81 levels off the source
    under AgX), which the run now says."""
    (tmp_path / "exr").mkdir()
    for n in (1, 2):
        img = bpy.data.images.new(f"hdr{n}", 8, 6, float_buffer=True)
        img.pixels = [2.0, 0.5, 0.25, 1.0] * (8 * 6)
        img.filepath_raw = str(tmp_path / "exr" / f"shot.{1000 + n}.exr")
        img.file_format = 'OPEN_EXR'
        img.save()
        bpy.data.images.remove(img)
    run = kino(tmp_path / "exr", "--look", "none", "--out", tmp_path / "out")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "shot.1001.exr holds float (HDR) values" in run.stderr and "clipped" in run.stderr


def test_unknown_param_lists_valid_keys(tmp_path):
    write_sequence(tmp_path / "seq", 2)
    run = kino(tmp_path / "seq", "--look", "toon", "--param", "nope=1", "--out", tmp_path / "out")
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("kino stylize: unknown parameter 'nope'") and "temporal." in last


@pytest.mark.parametrize("case", ["garbage", "missing", "empty", "frames"])
def test_bad_input_exits_non_zero_with_reason(tmp_path, case):
    args, want = {
        "garbage": ([tmp_path / "bad.mp4"], "cannot decode"),
        "missing": ([tmp_path / "nothere.mp4"], "does not exist"),
        "empty": ([tmp_path / "emptydir"], "holds no images"),
        "frames": ([tmp_path / "seq", "--frames", "9:3"], "START"),
    }[case]
    (tmp_path / "bad.mp4").write_bytes(b"not a movie" * 50)
    (tmp_path / "emptydir").mkdir()
    write_sequence(tmp_path / "seq", 2)
    run = kino(*args, "--look", "toon", "--out", tmp_path / "out")
    assert run.returncode != 0
    assert want in run.stderr.strip().splitlines()[-1]
    assert not [n for n in os.listdir(tmp_path / "out")] if (tmp_path / "out").exists() else True


def test_saved_result_strip_paths_are_relative_and_survive_moving_the_folder(tmp_path, kino_mods):
    """Result strips under the .blend's folder are stored as //...: move the folder, every frame is found."""
    write_sequence(tmp_path / "seq", 5)
    project = tmp_path / "project"
    run = kino(tmp_path / "seq", "--look", "toon", "--out", project / "kino" / "toon", "--blend",
               project / "edit.blend")
    assert run.returncode == 0, run.stderr[-3000:]
    moved = tmp_path / "elsewhere" / "project_moved"
    moved.parent.mkdir()
    os.rename(project, moved)
    bpy.ops.wm.open_mainfile(filepath=str(moved / "edit.blend"))
    strip = bpy.context.scene.sequence_editor.strips["seq_toon"]
    assert strip.directory.startswith("//kino/toon"), strip.directory
    found = [os.path.isfile(os.path.join(bpy.path.abspath(strip.directory), e.filename)) for e in strip.elements]
    assert len(found) == 5 and all(found), found
    source = bpy.context.scene.sequence_editor.strips["seq"]
    assert os.path.isabs(source.directory) and not source.directory.startswith("//")  # outside: absolute


def test_out_that_cannot_be_created_and_region_outside_the_frame_are_one_line(tmp_path):
    write_sequence(tmp_path / "seq", 3)
    (tmp_path / "file").write_text("x")
    run = kino(tmp_path / "seq", "--look", "toon", "--out", tmp_path / "file" / "out")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "cannot create the output folder" in run.stderr.strip().splitlines()[-1]
    run = kino(tmp_path / "seq", "--look", "none", "--stabilize", "--track-region", "5000,5000,20,20", "--out",
               tmp_path / "out")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "lies outside the 64x48 frame" in run.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()
def test_the_flags_become_choices_and_the_reproduce_command_repeats_them(backend):
    """Every flag that shapes the job survives into kino.json's command (``--track-region`` included),
    and that command parses back to the same workflow."""
    import shlex

    from kino_addon.blender.stylize import command
    from kino_addon.core.job_workflow import build_workflow
    from kino_addon.core.sidecar import reproduce_command
    argv = ["clip.mp4", "--look", "toon", "--temporal", "off", "--param", "levels=3",
            "--param", "key.key_color=auto", "--stabilize", "--track-region", "10,20,30,40", "--out", "/o"]
    choices = command.choices_from_args(backend.hello, command.build_parser().parse_args(argv))
    assert choices.stabilize and choices.track_region == "10,20,30,40" and choices.temporal is False
    workflow = build_workflow(backend.hello, choices)
    assert [s["name"] for s in workflow["stages"]][:3] == ["key", "stabilize", "toon"]
    line = reproduce_command("clip.mp4", workflow, (2, 9), "/o", choices.track_region)
    assert "--stabilize --track-region 10,20,30,40" in line and "--frames 2:9" in line
    again = command.choices_from_args(backend.hello, command.build_parser().parse_args(shlex.split(line)[2:]))
    assert build_workflow(backend.hello, again) == workflow and again.track_region == choices.track_region
    # text that reads as JSON stays text: the prompt "1984" came back as the number 1984 and was refused
    argv = ["clip.mp4", "--look", "diffusion", "--param", 'prompt="1984"', "--param", 'negative_prompt="true"',
            "--out", "/o"]
    workflow = build_workflow(backend.hello, command.choices_from_args(backend.hello,
                                                                       command.build_parser().parse_args(argv)))
    line = reproduce_command("clip.mp4", workflow, None, "/o")
    again = command.choices_from_args(backend.hello, command.build_parser().parse_args(shlex.split(line)[2:]))
    assert build_workflow(backend.hello, again) == workflow
    params = next(s for s in workflow["stages"] if s["name"] == "diffusion")["params"]
    assert params["prompt"] == "1984" and params["negative_prompt"] == "true"
