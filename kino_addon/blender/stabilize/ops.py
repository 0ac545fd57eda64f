"""Operator: build the reverse-stabilization compositor trees for the active strip, so the artist can
open them (scenes "Kino Stabilize" and "Kino Restore Camera") and adjust the clip's Stabilize 2D
settings by hand."""
from __future__ import annotations

import os

import bpy
from bpy.props import StringProperty

from .. import compat
from . import tracking, transforms, trees

RESTORE_SCENE = "Kino Restore Camera"


def build_trees_for_strip(scene, strip, track_region=None, stylized_dir: str = "") -> dict:
    """Track the strip's clip, set the clip's 2D stabilization from the tracks Kino's solver kept, and
    build the trees: Movie Clip -> Stabilize 2D in the "Kino Stabilize" scene, and (when ``stylized_dir``
    holds frame_NNNN.png) stylized sequence -> Stabilize 2D (Invert) in the "Kino Restore Camera" scene
    (one compositor per scene, as Blender 4.5 has it; each tree stays in use, so it is saved)."""
    result = transforms.stabilization_for_input(scene, strip, None, track_region)
    clip = bpy.data.movieclips[result["clip"]]
    trees.set_clip_stabilization(clip, result["used_tracks"], rotation=True, anchor_frame=result["frames"][0])
    frames = tuple(result["frames"])  # the clip frames the strip shows
    comp = trees.comp_scene(clip, frames=frames)
    made = [trees.build_stabilize_tree(comp, clip).name]
    first = os.path.join(bpy.path.abspath(stylized_dir), "frame_0001.png") if stylized_dir else ""
    if first and os.path.isfile(first):
        count = len([n for n in os.listdir(os.path.dirname(first)) if n.startswith("frame_") and n.endswith(".png")])
        restore = trees.comp_scene(clip, RESTORE_SCENE, frames=(frames[0], frames[0] + count - 1))
        made.append(trees.build_restore_tree(restore, clip, first, count, first_clip_frame=frames[0]).name)
    return {"scene": comp.name, "trees": made, "clip": clip.name, "tracks": len(result["used_tracks"])}


class KINO_OT_stabilize_trees(bpy.types.Operator):
    """Track the active strip and build compositor trees for its reverse stabilization"""

    bl_idname = "kino.stabilize_trees"
    bl_label = "Build Stabilization Trees"
    bl_options = {'REGISTER', 'UNDO'}

    track_region: StringProperty(name="Track Region", description="X,Y,W,H in source pixels, or face; "
                                 "empty: lock the camera to the static background")
    stylized_dir: StringProperty(name="Stylized Frames", subtype='DIR_PATH', options=compat.BLEND_RELATIVE,
                                 description="Folder of stylized frame_NNNN.png to restore the camera motion on")

    @classmethod
    def poll(cls, context):
        scene = compat.sequencer_scene(context)
        strip = scene.sequence_editor.active_strip if scene and scene.sequence_editor else None
        return strip is not None and strip.type in ("MOVIE", "IMAGE")

    def execute(self, context):
        scene = compat.sequencer_scene(context)
        strip = scene.sequence_editor.active_strip
        try:
            info = build_trees_for_strip(scene, strip, self.track_region or None, self.stylized_dir)
        except (transforms.StabilizeError, tracking.TrackingError) as exc:
            self.report({'ERROR'}, f"Kino: {exc}")
            return {'CANCELLED'}
        self.report({'INFO'}, f"Kino: {len(info['trees'])} tree(s), scene {info['scene']!r}"
                              + (f" and {RESTORE_SCENE!r}" if len(info['trees']) > 1 else "") + " "
                              f"({info['tracks']} stabilization tracks on clip {info['clip']!r})")
        return {'FINISHED'}


CLASSES = (KINO_OT_stabilize_trees,)
