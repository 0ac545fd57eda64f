"""``scripts/kino stylize --stabilize`` and ``scripts/kino stabilize`` on real hand-held footage
(handheld_seattle, Blender's tracker): no stretched bands at any border of any frame, and the stage's
parameters (``--param stabilize.canvas=...``) are accepted."""
import json
import os
import subprocess

import numpy as np
import pytest

from stab_support import HERE, kino  # noqa: F401  (loads the extension)

REPO = HERE.parents[1]


def footage(name):
    base = os.environ.get("KINO_FOOTAGE") or str(REPO.parent / "shared" / "footage")
    path = os.path.join(base, name)
    if not os.path.exists(path):
        pytest.skip(f"real footage not found at {path} (../shared/footage is absent)")
    return path


def stretched_band(image: np.ndarray, depth: int = 40) -> int:
    """Widest run of border rows/columns repeating their neighbour (mean change < 0.5 level)."""
    img = image.astype(np.float32)
    widest = 0
    for lines in (img[:, :depth].transpose(1, 0, 2), img[:, ::-1][:, :depth].transpose(1, 0, 2), img[:depth],
                  img[::-1][:depth]):
        n = 0
        while n + 1 < depth and np.abs(lines[n + 1] - lines[n]).mean() < 0.5:
            n += 1
        widest = max(widest, n)
    return widest


def bands(folder) -> list:
    png = kino("kino_addon.core.png")
    names = sorted(n for n in os.listdir(folder) if n.startswith("frame_") and n.endswith(".png"))
    return [stretched_band(png.read_png(os.path.join(folder, n))) for n in names]


def test_stylized_and_stabilized_handheld_frames_have_no_stretched_borders(tmp_path):
    clip = footage("handheld_seattle.avi")
    out = tmp_path / "paint"
    run = subprocess.run([str(REPO / "scripts" / "kino"), "stylize", clip, "--look", "paint", "--stabilize",
                          "--frames", "1:16", "--param", "stabilize.canvas=expand", "--out", str(out)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    widths = bands(out)
    assert len(widths) == 16 and max(widths) <= 1, widths
    side = json.loads((out / "kino.json").read_text())
    stage = next(s for s in side["workflow"]["stages"] if s["name"] == "stabilize")
    assert stage["params"] == {"canvas": "expand"}
    done = side["provenance"]["stages"]["stabilize"]
    assert done["canvas"] == "expand" and done["border"] == "fill" and max(done["margins"]) > 0
    stab = tmp_path / "stab"
    run = subprocess.run([str(REPO / "scripts" / "kino"), "stabilize", clip, "--frames", "1:16", "--out", str(stab)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    widths = bands(stab)
    assert len(widths) == 16 and max(widths) <= 1, widths


def test_a_variable_frame_rate_clip_is_noted(tmp_path):
    """handheld_park.mp4 holds 245 frames unevenly spaced; Blender's movie clip shows 244: the tracker
    works on what Blender shows, and the run says so (as stylize does)."""
    clip = footage("handheld_park.mp4")
    run = subprocess.run([str(REPO / "scripts" / "kino"), "stabilize", clip, "--frames", "1:4",
                          "--out", str(tmp_path / "stab")], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "note: handheld_park.mp4 has a variable frame rate: it holds 245 frames" in run.stderr
    assert "shows 244" in run.stderr
