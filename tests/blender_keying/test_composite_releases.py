"""``scripts/kino composite --blend`` through a Blender executable of the release this suite runs in
(KINO_BLENDER; see tests/blender/test_blender_choice.py for the stand-in executable): the .blend holds
Blender's Keying node tree as that release keeps compositors, this release opens it, and the tree
renders headless to the keyed actor over the cover-scaled background."""
import os
import subprocess
import sys

import bpy
import numpy as np
import pytest

import blender_ext
from kino_blender_keying_support import ACTOR, REPO

from kino_addon.blender import compat
from kino_addon.blender.keying import tree as keying_tree
from kino_addon.core.png import read_png


def _blender_executable(folder) -> str:
    out = subprocess.run([sys.executable, str(REPO / "tests" / "support" / "blender_exe.py"), "make-wrapper",
                          str(folder / "blender"), sys.executable], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.release_smoke
def test_composite_blend_opens_and_its_keying_tree_renders(media, tmp_path):
    out, blend = tmp_path / "out", tmp_path / "comp.blend"
    env = dict(os.environ, KINO_BLENDER=_blender_executable(tmp_path))
    proc = subprocess.run([str(REPO / "scripts" / "kino"), "composite", "--actor", str(media / "actor"),
                           "--background", str(media / "bg.png"), "--actor-look", "none", "--background-look",
                           "none", "--key-color", "40,180,60", "--out", str(out), "--blend", str(blend)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    try:
        scene = bpy.data.scenes["Kino Key"]
        tree = compat.compositor_tree(scene)
        assert tree is not None
        if not compat.COMPOSITOR_GROUPS:  # 4.5: the scene's own node tree
            assert scene.use_nodes and tree == scene.node_tree
        kinds = {n.bl_idname for n in tree.nodes}
        assert {"CompositorNodeKeying", "CompositorNodeAlphaOver", "CompositorNodeScale"} <= kinds
        frames = [read_png(p).astype(int) for p in keying_tree.render_tree(scene, str(tmp_path / "render"))]
        assert len(frames) == 3
        for i, img in enumerate(frames):
            assert img.shape == (48, 64, 3)
            assert np.abs(img[24, 26 + 2 * i] - ACTOR).max() <= 3           # the keyed actor
            assert np.abs(img[3, 2] - (220, 30, 30)).max() <= 16             # background, left half
            assert np.abs(img[3, 61] - (30, 40, 220)).max() <= 16            # right half
    finally:
        blender_ext.reset_scene()
