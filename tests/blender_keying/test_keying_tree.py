"""The Keying compositor tree, built and rendered headless."""
import numpy as np
import pytest

import bpy
from kino_blender_keying_support import ACTOR, FOOTAGE, SCREEN, srgb_to_linear

from kino_addon.blender import compat
from kino_addon.blender.keying import tree as keying_tree
from kino_addon.core.png import read_png


def _render(tmp_path, actor, background, key, garbage=None, last=None):
    scene = bpy.data.scenes.new("Kino Key test")
    nodes = keying_tree.build_keying_tree(scene, str(actor), str(background), key, garbage)
    if last:
        scene.frame_end = last
    paths = keying_tree.render_tree(scene, str(tmp_path / "out"))
    return nodes, [read_png(p) for p in paths]


@pytest.mark.release_smoke
def test_tree_keys_actor_over_cover_scaled_background(fresh, media, tmp_path):
    nodes, frames = _render(tmp_path, media / "actor", media / "bg.png", SCREEN)
    assert nodes["frames"] == 3 and nodes["size"] == (64, 48)
    key = nodes["keying"].inputs["Key Color"].default_value
    assert np.allclose(key[:3], srgb_to_linear(SCREEN), atol=1e-4)  # the socket is scene-linear
    assert compat.alpha_over_inputs(nodes["alpha_over"])[1].links[0].from_node == nodes["keying"]
    assert len(frames) == 3
    for i, img in enumerate(frames):
        assert img.shape == (48, 64, 3)
        cx = 26 + 2 * i
        assert np.abs(img[24, cx].astype(int) - ACTOR).max() <= 3      # the actor, keyed in
        # the 80x40 background scaled to cover 64x48 (x1.2 -> 96 wide, 16 px cropped each side);
        # Blender's Keying node at defaults leaves a little of the darker screen edge in (<= 16 levels)
        assert np.abs(img[3, 2].astype(int) - (220, 30, 30)).max() <= 16
        assert np.abs(img[3, 61].astype(int) - (30, 40, 220)).max() <= 16
        assert np.abs(img[44, 2].astype(int) - (220, 30, 30)).max() <= 16
    # frame n shows the n-th file (Blender numbers sequence files by name): the disk moves 2 px a frame
    right = [int(np.nonzero(np.abs(img[24].astype(int) - ACTOR).max(1) <= 3)[0].max()) for img in frames]
    assert right[1] - right[0] == 2 and right[2] - right[1] == 2, right


def test_garbage_box_keeps_only_the_inside(fresh, media, tmp_path):
    _, frames = _render(tmp_path, media / "actor", media / "bg.png", SCREEN, garbage=(0, 0, 28, 48))
    img = frames[0]
    assert np.abs(img[24, 22].astype(int) - ACTOR).max() <= 3      # inside the box: actor
    assert np.abs(img[24, 34].astype(int) - (30, 40, 220)).max() <= 16  # actor outside the box: background


def test_tree_on_the_real_clip(fresh, tmp_path):
    clip = FOOTAGE / "greenscreen_actor.mp4"
    if not clip.exists():
        pytest.skip(f"{clip} is absent (tests read ../shared/footage)")
    from kino_addon.core.png import encode_png
    plain = tmp_path / "plain.png"
    plain.write_bytes(encode_png(np.full((8, 8, 3), (20, 30, 235), np.uint8)))
    nodes, frames = _render(tmp_path, clip, plain, (69, 152, 103), last=2)
    assert nodes["size"] == (512, 512) and len(frames) == 2
    img = frames[0].astype(int)
    assert np.abs(img[20:60, 20:60] - (20, 30, 235)).mean() < 12   # screen corner -> background
    assert np.abs(img[330:450, 200:320] - (20, 30, 235)).mean() > 60  # the man's shirt stays
