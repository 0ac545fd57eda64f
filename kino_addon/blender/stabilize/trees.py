"""Reverse stabilization as compositor trees the artist can open and adjust.

* :func:`set_clip_stabilization`: the clip's own 2D stabilization (Tracking settings) from a set of
  tracks, e.g. the background tracks Kino's solver kept (``result["used_tracks"]``), as location and
  rotation tracks.
* :func:`build_stabilize_tree`: Movie Clip -> Stabilize 2D -> Group Output.
* :func:`build_restore_tree`: the stylized image sequence -> Stabilize 2D (Invert) -> Group Output,
  which puts the camera motion back.
* :func:`render_tree`: render such a tree headless to ``frame_####.png`` files.
* :func:`blender_default_stabilize`: Blender's stabilization set up the ordinary way (detect features,
  track, all full-length tracks as location and rotation tracks), the baseline Kino is measured
  against.

The trees live in their own scene (a scene with sequencer strips renders its strips, not its
compositor), with the clip's frames on the same scene frames (the Stabilize node reads the tracking
at the current scene frame).
"""
from __future__ import annotations

import os

import bpy

from .. import compat
from . import tracking

STAB_SCENE = "Kino Stabilize"


def _remove_all_stabilization_tracks(stab) -> None:
    while len(stab.tracks):
        stab.active_track_index = 0
        bpy.ops.clip.stabilize_2d_remove()
    while len(stab.rotation_tracks):
        stab.active_rotation_track_index = 0
        bpy.ops.clip.stabilize_2d_rotation_remove()


def set_clip_stabilization(clip, track_names, *, rotation: bool = True, scale: bool = False,
                           anchor_frame: int = 1, autoscale: bool = False) -> int:
    """Make ``track_names`` the clip's stabilization tracks (location, and rotation/scale when asked);
    return how many tracks were set."""
    names = set(track_names)
    if not names:
        raise tracking.TrackingError("no tracks to stabilize with; track the clip first")
    stab = clip.tracking.stabilization
    with tracking.clip_editor(clip):
        _remove_all_stabilization_tracks(stab)
        for t in clip.tracking.tracks:
            t.select = t.name in names
        bpy.ops.clip.stabilize_2d_add()
        if rotation or scale:
            bpy.ops.clip.stabilize_2d_rotation_add()
    stab.use_2d_stabilization = True
    stab.use_stabilize_rotation = rotation
    stab.use_stabilize_scale = scale
    stab.anchor_frame = anchor_frame
    stab.use_autoscale = autoscale
    return len(stab.tracks)


def comp_scene(clip, name: str = STAB_SCENE, frames=None):
    """A scene (created or reused) sized like the clip, Standard view, PNG RGB 8-bit; its frames are the
    clip's ``frames`` (first, last: clip frame numbers, e.g. a strip's visible part), else all of them."""
    scene = bpy.data.scenes.get(name) or bpy.data.scenes.new(name)
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = int(clip.size[0]), int(clip.size[1]), 100
    r.use_sequencer = False
    r.image_settings.file_format = 'PNG'
    r.image_settings.color_mode = 'RGB'
    r.image_settings.color_depth = '8'
    scene.view_settings.view_transform = 'Standard'
    if bpy.app.background:
        compat.cpu_compositor(scene)
    first, last = frames or (1, clip.frame_duration)
    scene.frame_start, scene.frame_end = int(clip.frame_start) + first - 1, int(clip.frame_start) + last - 1
    return scene


def _new_tree(scene, name):
    old = bpy.data.node_groups.get(name)
    if old is not None:
        bpy.data.node_groups.remove(old)
    return compat.new_compositor_tree(scene, name)


def build_stabilize_tree(scene, clip, name: str = "Kino Stabilize"):
    """Movie Clip -> Stabilize 2D -> Group Output, as the scene's compositor."""
    tree = _new_tree(scene, name)
    n, link = tree.nodes, tree.links.new
    src = n.new("CompositorNodeMovieClip")
    src.clip = clip
    src.location = (-300, 0)
    stab = n.new("CompositorNodeStabilize")
    stab.clip = clip
    stab.inputs["Invert"].default_value = False
    out = compat.output_node(tree)
    out.location = (300, 0)
    link(src.outputs["Image"], stab.inputs["Image"])
    link(stab.outputs["Image"], out.inputs["Image"])
    return tree


def build_restore_tree(scene, clip, first_image: str, count: int, name: str = "Kino Restore Camera",
                       first_clip_frame: int = 1):
    """Stylized image sequence (``first_image`` and its numbered siblings) -> Stabilize 2D with Invert
    -> Group Output: puts the clip's camera motion back on stabilized, stylized frames. Stylized frame 1
    is clip frame ``first_clip_frame`` (a strip that shows the clip from a later frame), so each frame
    gets its own frame's motion back."""
    tree = _new_tree(scene, name)
    n, link = tree.nodes, tree.links.new
    img = bpy.data.images.load(os.path.abspath(first_image), check_existing=False)
    img.source = 'SEQUENCE'
    seq = n.new("CompositorNodeImage")
    seq.image = img
    seq.frame_duration = count
    seq.frame_start = int(clip.frame_start) + first_clip_frame - 1
    seq.location = (-300, 0)
    inv = n.new("CompositorNodeStabilize")
    inv.clip = clip
    inv.inputs["Invert"].default_value = True
    out = compat.output_node(tree)
    out.location = (300, 0)
    link(seq.outputs["Image"], inv.inputs["Image"])
    link(inv.outputs["Image"], out.inputs["Image"])
    return tree


def render_tree(scene, out_dir: str, first: int | None = None, last: int | None = None) -> list:
    """Render the scene's compositor to ``out_dir/frame_####.png``; return the file paths."""
    os.makedirs(out_dir, exist_ok=True)
    saved = (scene.frame_start, scene.frame_end)
    if first is not None:
        scene.frame_start = first
    if last is not None:
        scene.frame_end = last
    scene.render.filepath = os.path.join(os.path.abspath(out_dir), "frame_####")
    try:
        bpy.ops.render.render(animation=True, scene=scene.name)
    finally:
        frames = range(scene.frame_start, scene.frame_end + 1)
        scene.frame_start, scene.frame_end = saved
    return [os.path.join(out_dir, f"frame_{f:04d}.png") for f in frames]


def full_length_tracks(clip, first: int, last: int) -> list:
    """Names of the tracks with an enabled marker on every frame ``first..last``."""
    names = []
    for t in clip.tracking.tracks:
        ok = True
        for f in range(first, last + 1):
            m = t.markers.find_frame(f)
            if m is None or m.mute:
                ok = False
                break
        if ok:
            names.append(t.name)
    return names


def blender_default_stabilize(input_path: str, out_dir: str) -> dict:
    """Blender's own 2D stabilization, set up the ordinary way, rendered to ``out_dir``: detect
    features on the first frame, track forward, all full-length tracks as location and rotation
    tracks, Movie Clip -> Stabilize 2D."""
    clip = tracking.load_clip(tracking.clip_path_for_input(input_path))
    first, last = 1, clip.frame_duration
    with tracking.clip_editor(clip) as scene:
        scene.frame_start, scene.frame_end, scene.frame_current = first, last, first
        bpy.ops.clip.detect_features(threshold=0.05, min_distance=max(10, min(clip.size) // 12), margin=16)
        bpy.ops.clip.track_markers(backwards=False, sequence=True)
    names = full_length_tracks(clip, first, last)
    set_clip_stabilization(clip, names, rotation=True)
    scene = comp_scene(clip)
    build_stabilize_tree(scene, clip)
    render_tree(scene, out_dir)
    return {"tracks_detected": len(clip.tracking.tracks), "tracks_used": len(names)}
