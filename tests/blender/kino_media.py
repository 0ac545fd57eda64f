"""Helpers for Kino's Blender tests (a uniquely named module: several tests/blender* folders run in
one pytest session, so tests must not import from ``conftest``). Test media is drawn with numpy: each
frame's index is the width of a white bar (4 px per index) in rows 0-3, so the pixels say which
source frame they are."""
from __future__ import annotations

import os
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import blender_ext  # noqa: E402

REPO = blender_ext.REPO_ROOT
BACKEND_PYTHON = REPO / ".venv-backend" / "bin" / "python"
W, H, N = 64, 48, 12


def index_frame(i: int) -> np.ndarray:
    a = np.zeros((H, W, 3), np.uint8)
    a[..., 0] = (np.arange(W) * 3)[None, :]
    a[..., 1] = (np.arange(H) * 5)[:, None]
    a[..., 2] = (i * 17) % 256
    a[:4, :i * 4] = 255
    return a


def bar_index(img: np.ndarray) -> int:
    """The source index drawn into a frame (robust to codec noise)."""
    return int((img[1, :, :].mean(axis=1) > 160).sum() // 4)


def write_sequence(folder, count=N) -> list:
    png = blender_ext.addon_submodule("kino_addon.core.png")
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(1, count + 1):
        path = os.path.join(folder, f"frame_{i:04d}.png")
        with open(path, "wb") as fh:
            fh.write(png.encode_png(index_frame(i)))
        paths.append(path)
    return paths



def add_image_strip(scene, folder, name="idx", channel=2, start=10):
    files = sorted(f for f in os.listdir(folder) if f.endswith(".png"))
    sed = scene.sequence_editor
    strip = sed.strips.new_image(name=name, filepath=os.path.join(folder, files[0]), channel=channel,
                                 frame_start=start)
    for f in files[1:]:
        strip.elements.append(f)
    return strip


def select_only(scene, *strips):
    for s in scene.sequence_editor.strips:
        s.select = False
    for s in strips:
        s.select = True
    scene.sequence_editor.active_strip = strips[0]
