"""The artist-facing operator: Keying compositor tree from two sequencer strips."""
import numpy as np
import pytest

import bpy
from kino_blender_keying_support import ACTOR, SCREEN

from kino_addon.blender import compat
from kino_addon.blender.keying import tree as keying_tree
from kino_addon.core.png import read_png


def test_key_tree_operator_from_strips(fresh, media, tmp_path):
    sed = fresh.sequence_editor_create()
    actor = sed.strips.new_image(name="actor", filepath=str(media / "actor" / "a_000.png"), channel=2, frame_start=1)
    for n in ("a_001.png", "a_002.png"):
        actor.elements.append(n)
    bg = sed.strips.new_image(name="bg", filepath=str(media / "bg.png"), channel=1, frame_start=1)
    for s in sed.strips:
        s.select = True
    sed.active_strip = actor
    assert bpy.ops.kino.key_tree.poll()
    assert bpy.ops.kino.key_tree(key_color=[v / 255 for v in SCREEN], garbage_matte="") == {'FINISHED'}
    scene = bpy.data.scenes["Kino Key"]
    key = next(n for n in compat.compositor_tree(scene).nodes if n.bl_idname == "CompositorNodeKeying")
    assert abs(key.inputs["Key Color"].default_value[1] - keying_tree.srgb_to_linear(SCREEN[1])) < 1e-3
    assert scene.frame_end == 3 and (scene.render.resolution_x, scene.render.resolution_y) == (64, 48)
    img = read_png(keying_tree.render_tree(scene, str(tmp_path / "out"))[0]).astype(int)
    assert np.abs(img[24, 26] - ACTOR).max() <= 3
    assert np.abs(img[3, 2] - (220, 30, 30)).max() <= 16
    with pytest.raises(RuntimeError, match="garbage matte must be X,Y,W,H"):
        bpy.ops.kino.key_tree(garbage_matte="1,2")
    assert bg.name == "bg"


def test_key_tree_follows_a_trimmed_strip_and_leaves_no_copies(fresh, media):
    """The tree's frames are the ones the actor strip shows; building it again replaces the earlier
    tree's images instead of piling up copies (actor.001, actor.002 ...)."""
    sed = fresh.sequence_editor_create()
    actor = sed.strips.new_image(name="actor", filepath=str(media / "actor" / "a_000.png"), channel=2, frame_start=1)
    for n in ("a_001.png", "a_002.png"):
        actor.elements.append(n)
    compat.set_strip_time(actor, "left_handle_offset", 1)
    sed.active_strip = actor
    for _ in range(3):
        assert bpy.ops.kino.key_tree(key_color=[v / 255 for v in SCREEN], garbage_matte="") == {'FINISHED'}
    scene = bpy.data.scenes["Kino Key"]
    assert (scene.frame_start, scene.frame_end) == (2, 3)
    assert len([i for i in bpy.data.images if i.name.startswith("a_000")]) == 2  # the actor and its plate
