"""Operator: build the Keying compositor tree (scene "Kino Key") from sequencer strips, so the artist can
open it and tweak Blender's own Keying node: the active strip is the actor on the green/blue screen,
another selected strip (optional) the background."""
from __future__ import annotations

import os

import bpy
from bpy.props import FloatVectorProperty, StringProperty

from .. import compat
from ..strips import clip_frames
from . import tree

SCENE_NAME = "Kino Key"


def strip_path(strip) -> str:
    """What ``tree.source_node`` reads for a strip: the movie file, the image folder, or the
    single image."""
    if strip.type == "MOVIE":
        return bpy.path.abspath(strip.filepath)
    folder = bpy.path.abspath(strip.directory)
    if len(strip.elements) == 1:
        return os.path.join(folder, strip.elements[0].filename)
    return folder


def build_for_strips(actor, background, key_rgb, garbage=None):
    """(Re)build the "Kino Key" scene's tree; returns the scene. Without a background strip the keyed
    actor goes over the actor's own first frame darkened to black (a neutral plate)."""
    scene = bpy.data.scenes.get(SCENE_NAME) or bpy.data.scenes.new(SCENE_NAME)
    old = compat.compositor_tree(scene)
    media = [] if old is None else [
        n.clip if n.bl_idname == "CompositorNodeMovieClip" else getattr(n, "image", None) for n in old.nodes]
    bg = strip_path(background) if background is not None else strip_path(actor)
    nodes = tree.build_keying_tree(scene, strip_path(actor), bg, key_rgb, garbage)
    if background is None:
        plate = compat.alpha_over_inputs(nodes["alpha_over"])[0]
        plate.default_value = (0.0, 0.0, 0.0, 1.0)
        for link in list(plate.links):
            nodes["tree"].links.remove(link)
    if old is not None and old != nodes["tree"]:
        compat.remove_compositor_tree(old)
    for data in media:  # the earlier tree's clips and images (4.5 rebuilds the scene's one tree), if unused now
        if data is not None and data.users == 0:
            (bpy.data.movieclips if isinstance(data, bpy.types.MovieClip) else bpy.data.images).remove(data)
    first, last = clip_frames(actor)  # the frames the actor strip shows, not its whole clip
    scene.frame_start, scene.frame_end = first, min(last, scene.frame_end)
    return scene


def parse_rect(text: str):
    """"X,Y,W,H" -> [x, y, w, h]; "" -> None; anything else -> False."""
    if not text.strip():
        return None
    try:
        rect = [int(v) for v in text.split(",")]
    except ValueError:
        return False
    return rect if len(rect) == 4 and rect[2] > 0 and rect[3] > 0 else False


class KINO_OT_key_tree(bpy.types.Operator):
    """Build a Keying compositor tree (scene "Kino Key") for the active strip over another selected strip"""

    bl_idname = "kino.key_tree"
    bl_label = "Build Key Compositor Tree"
    bl_options = {'REGISTER', 'UNDO'}

    key_color: FloatVectorProperty(name="Key Color", subtype='COLOR_GAMMA', size=3, min=0.0, max=1.0,
                                   default=(40 / 255, 180 / 255, 60 / 255),
                                   description="The screen colour (display sRGB); Kino's composite command "
                                               "finds it automatically")
    garbage_matte: StringProperty(name="Garbage Matte", description="X,Y,W,H in source pixels: everything "
                                  "outside is background (empty: the whole frame)")

    @classmethod
    def poll(cls, context):
        scene = compat.sequencer_scene(context)
        strip = scene.sequence_editor.active_strip if scene and scene.sequence_editor else None
        return strip is not None and strip.type in ("MOVIE", "IMAGE")

    def execute(self, context):
        sed = compat.sequencer_scene(context).sequence_editor
        actor = sed.active_strip
        others = [s for s in sed.strips if s.select and s != actor and s.type in ("MOVIE", "IMAGE")]
        garbage = parse_rect(self.garbage_matte)
        if garbage is False:
            self.report({'ERROR'}, "Kino: the garbage matte must be X,Y,W,H in source pixels, e.g. 40,0,400,480")
            return {'CANCELLED'}
        key = [round(c * 255) for c in self.key_color]
        try:
            scene = build_for_strips(actor, others[0] if others else None, key, garbage)
        except (ValueError, RuntimeError) as exc:
            self.report({'ERROR'}, f"Kino: {exc}")
            return {'CANCELLED'}
        self.report({'INFO'}, f"Kino: Keying tree in scene {scene.name!r} (key colour {key})")
        return {'FINISHED'}


CLASSES = (KINO_OT_key_tree,)
