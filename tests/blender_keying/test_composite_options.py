"""``scripts/kino composite`` on real footage: the actor plate's black letterbox bar is outside the
picture (the body reaches the frame edge, no background band under the torso), --frames, --param for
the keyer and the looks, actor placement; and an --out that cannot be created is one clear line."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kino_blender_keying_support import REPO

from kino_addon.core.png import read_png


def footage(name):
    base = os.environ.get("KINO_FOOTAGE") or str(REPO.parent / "shared" / "footage")
    path = os.path.join(base, name)
    if not os.path.exists(path):
        pytest.skip(f"real footage not found at {path} (../shared/footage is absent)")
    return path


def composite(*args):
    return subprocess.run([sys.executable, "-m", "kino_addon.blender.cli", "composite", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)


def test_letterboxed_actor_reaches_the_frame_edge(tmp_path, media):
    actor, bg = footage("greenscreen_actor.mp4"), footage("handheld_park.mp4")
    out = tmp_path / "crop"
    run = composite("--actor", actor, "--background", bg, "--actor-look", "none", "--background-look", "none",
                    "--frames", "5:7", "--param", "key.despill=0.8", "--out", out)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "black bars" in run.stderr and "512x485" in run.stderr
    side = json.loads((out / "kino.json").read_text())
    assert side["composite"]["picture_area"] == [0, 0, 512, 485] and side["frames"]["count"] == 3
    assert side["frames"]["source_first"] == 5
    key = next(s for s in side["workflow"]["actor"]["stages"] if s["name"] == "key")
    assert key["params"]["despill"] == 0.8
    for n in (1, 3):
        matte = read_png(str(out / "matte" / f"frame_{n:04d}.png"))[..., 0]
        assert matte.shape == (485, 512)
        torso = matte[-1] > 250  # the jacket fills the bottom of the picture, and so of the frame
        assert torso.mean() > 0.9, torso.mean()
    # with the bar kept, it stays opaque black over both plates: the background never shows below the body
    keep = tmp_path / "keep"
    run = composite("--actor", actor, "--background", bg, "--actor-look", "none", "--background-look", "none",
                    "--frames", "5:5", "--bars", "keep", "--out", keep)
    assert run.returncode == 0, run.stderr[-2000:]
    img = read_png(str(keep / "frame_0001.png")).astype(int)
    matte = read_png(str(keep / "matte" / "frame_0001.png"))[..., 0]
    assert img.shape[:2] == (512, 512) and matte[490:].min() > 250 and img[490:].max() < 30


def test_a_variable_frame_rate_background_is_noted(tmp_path, media):
    bg = footage("handheld_park.mp4")  # 245 frames unevenly spaced, of which the sequencer shows 244
    run = composite("--actor", media / "actor", "--background", bg, "--actor-look", "none",
                    "--background-look", "none", "--frames", "1:1", "--out", tmp_path / "o")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "note: handheld_park.mp4 has a variable frame rate: it holds 245 frames" in run.stderr
    assert "actor" not in run.stderr.split("variable frame rate")[0].splitlines()[-1]  # said of the background


def test_actor_placement_scales_about_the_bottom_centre(tmp_path, media):
    out = tmp_path / "placed"
    run = composite("--actor", media / "actor", "--background", media / "bg.png", "--actor-look", "none",
                    "--background-look", "toon", "--param", "background.levels=3",
                    "--param", "background.temporal.strength=0.5", "--actor-scale", "0.5", "--actor-offset", "10,0",
                    "--out", out)
    assert run.returncode == 0, run.stderr[-2000:]
    plain = tmp_path / "plain"
    assert composite("--actor", media / "actor", "--background", media / "bg.png", "--actor-look", "none",
                     "--background-look", "none", "--out", plain).returncode == 0
    a = read_png(str(plain / "matte" / "frame_0001.png"))[..., 0] > 128
    b = read_png(str(out / "matte" / "frame_0001.png"))[..., 0] > 128
    assert 0.15 < b.sum() / a.sum() < 0.35  # half the size each way: a quarter of the area
    ya, xa = np.nonzero(a)
    yb, xb = np.nonzero(b)
    h, w = a.shape
    assert abs((xb.mean() - (w - 1) / 2) - ((xa.mean() - (w - 1) / 2) * 0.5 + 10)) < 1.5  # about the centre, +10 px
    assert abs((h - 1 - yb.mean()) - 0.5 * (h - 1 - ya.mean())) < 1.5  # the bottom edge stays put
    side = json.loads((out / "kino.json").read_text())
    assert side["composite"]["actor_scale"] == 0.5 and side["composite"]["actor_offset"] == [10.0, 0.0]
    stages = {s["name"]: s["params"] for s in side["workflow"]["background"]["stages"]}
    assert stages["toon"]["levels"] == 3 and stages["temporal"]["strength"] == 0.5


@pytest.mark.parametrize("args,want", [
    (["--actor-scale", "0"], "--actor-scale must be between"),
    (["--actor-offset", "abc"], "--actor-offset must be X,Y"),
    (["--param", "nokey=1"], "give key.KEY=VALUE"),
    (["--param", "key.nope=1"], "unknown parameter 'key.nope'"),
])
def test_bad_composite_options_are_one_line(tmp_path, media, args, want):
    run = composite("--actor", media / "actor", "--background", media / "bg.png", *args, "--out", tmp_path / "o")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert want in run.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "o").exists()  # a failed run leaves no empty folder


def test_a_wrong_param_is_found_before_the_plates_are_decoded(tmp_path, media):
    """The plates are decoded by Blender first thing (minutes for a long shot): a mistyped parameter must
    not wait for that. An actor that cannot be decoded shows which came first."""
    (tmp_path / "actor.mp4").write_text("not a movie")
    run = composite("--actor", tmp_path / "actor.mp4", "--background", media / "bg.png",
                    "--param", "key.nope=1", "--out", tmp_path / "o")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "unknown parameter 'key.nope'" in run.stderr.strip().splitlines()[-1]
    run = composite("--actor", tmp_path / "actor.mp4", "--background", media / "bg.png", "--out", tmp_path / "o")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "unknown parameter" not in run.stderr and "actor.mp4" in run.stderr.strip().splitlines()[-1]


def test_out_that_cannot_be_created_is_a_clear_message(tmp_path, media):
    (tmp_path / "file").write_text("x")
    run = composite("--actor", media / "actor", "--background", media / "bg.png", "--out", tmp_path / "file" / "o")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "cannot create the output folder" in run.stderr.strip().splitlines()[-1]
