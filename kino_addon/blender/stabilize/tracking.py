"""Blender's motion tracker, driven headless: movie clips from strips or files, feature detection and
tracking through a CLIP_EDITOR context override, and markers read back as plain lists.

Tracks that Kino creates are named ``kino_NNN`` so a re-run replaces them and never touches the
tracks an artist made by hand (those are used as they are when present, see :func:`artist_tracks`).
Marker coordinates stay in Blender's convention here (normalized, y up); the conversion to pixels
lives in one place: ``kino_addon.core.stabilize_geom``.
"""
from __future__ import annotations

import contextlib
import os

import bpy
import numpy as np

from ...core import stabilize_geom as geo
from ...core.media import MediaError, image_files

KINO_PREFIX = "kino_"


class TrackingError(RuntimeError):
    """Tracking could not run; the message says what to change."""


def _same_file(a: str, b: str) -> bool:
    return os.path.normcase(os.path.abspath(bpy.path.abspath(a))) == os.path.normcase(os.path.abspath(b))


def first_image(folder: str) -> str:
    """The first frame of the folder's image sequence (``core.media``): Blender loads the clip from it."""
    try:
        return os.path.join(folder, image_files(folder)[0])
    except MediaError as exc:
        raise TrackingError(f"{exc}; give a video file or a folder of numbered images") from None


def clip_path_for_input(path: str) -> str:
    """The file a MovieClip is loaded from: the video itself, or the first image of a folder (Blender
    then loads the numbered images as a SEQUENCE clip)."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        return first_image(path)
    if not os.path.isfile(path):
        raise TrackingError(f"input {path} does not exist; give a video file or a folder of images")
    return path


def clip_path_for_strip(strip) -> str:
    if strip.type == "MOVIE":
        return os.path.abspath(bpy.path.abspath(strip.filepath))
    if strip.type == "IMAGE":
        return os.path.join(os.path.abspath(bpy.path.abspath(strip.directory)), strip.elements[0].filename)
    raise TrackingError(f"strip {strip.name!r} is a {strip.type.lower()} strip; stabilization needs a movie "
                        "or image strip")


def load_clip(filepath: str):
    """The MovieClip of ``filepath``: an existing one (it may hold the artist's tracks) or a new one."""
    for clip in bpy.data.movieclips:
        if _same_file(clip.filepath, filepath):
            return clip
    try:
        clip = bpy.data.movieclips.load(filepath)
    except RuntimeError as exc:
        raise TrackingError(f"Blender cannot open {filepath} as a movie clip: {exc}") from None
    if clip.size[0] == 0 or clip.frame_duration <= 0:
        raise TrackingError(f"Blender read no frames from {filepath}; is it a video or an image sequence?")
    return clip


@contextlib.contextmanager
def clip_editor(clip, scene=None):
    """A CLIP_EDITOR override on the first area of the window, with ``clip`` shown; the area's type
    and the scene's frame range and current frame are restored afterwards."""
    wm = bpy.context.window_manager
    if not wm.windows:
        raise TrackingError("no Blender window to run the tracker in (bpy has none in this mode)")
    win = wm.windows[0]
    area = win.screen.areas[0]
    old_type = area.type
    scene = scene or win.scene
    saved = (scene.frame_start, scene.frame_end, scene.frame_current)
    area.type = 'CLIP_EDITOR'
    try:
        space = area.spaces.active
        space.clip = clip
        region = next(r for r in area.regions if r.type == 'WINDOW')
        with bpy.context.temp_override(window=win, screen=win.screen, area=area, region=region,
                                       space_data=space, scene=scene):
            yield scene
    finally:
        scene.frame_start, scene.frame_end = saved[0], saved[1]
        scene.frame_current = saved[2]
        area.type = old_type


def go_to(scene, frame: int) -> None:
    """Make ``frame`` the current frame of the scene and of the clip editor :func:`clip_editor` opened.
    The tracker's operators work on the editor's own frame, which Blender moves with the scene's only
    when it redraws: without a window loop (headless, a script) it stayed at 1, so features were
    detected on frame 1 and tracked through every frame up to the range."""
    scene.frame_current = frame
    bpy.context.space_data.clip_user.frame_current = frame


def artist_tracks(clip) -> list:
    return [t for t in clip.tracking.tracks if not t.name.startswith(KINO_PREFIX)]


def _delete_tracks(clip, names) -> None:
    """Delete the named tracks (the RNA collection has no remove(): select them and run the
    operator). Must run inside :func:`clip_editor`."""
    names = set(names)
    if not names:
        return
    for t in clip.tracking.tracks:
        t.select = t.name in names
    bpy.ops.clip.delete_track(confirm=False)


def remove_kino_tracks(clip) -> None:
    """Delete the tracks Kino made earlier on ``clip`` (the artist's tracks stay)."""
    names = [t.name for t in clip.tracking.tracks if t.name.startswith(KINO_PREFIX)]
    if names:
        with clip_editor(clip):
            _delete_tracks(clip, names)


def _keyframes(first: int, last: int, step: int) -> list:
    if step <= 0:
        return sorted({first, (first + last) // 2, last})
    keys = list(range(first, last + 1, step))
    if keys[-1] != last:
        keys.append(last)
    return keys


def detect_and_track(clip, first: int, last: int, *, threshold: float = 0.005, min_distance: int = 0,
                     margin: int = 0, keyframe_step: int = 0, correlation_min: float = 0.8,
                     region=None) -> list:
    """Detect features and track them over clip frames ``first..last`` (inclusive).

    Features are detected on keyframes (the first and last frame and every ``keyframe_step`` frames
    between; by default the first, middle and last frame), each set tracked forwards and backwards
    through the range, so features hidden at one moment (a person walking past) are found at another.
    With ``region`` (x, y, w, h in pixels of frame ``first``) features are detected densely on the
    first frame only and just those inside the region are kept and tracked. Returns the new tracks'
    names (``kino_NNN``); Kino's earlier tracks on the clip are removed first.
    """
    w, h = clip.size
    if region is not None:
        min_distance = min_distance or max(4, int(min(region[2], region[3])) // 14)
        threshold = min(threshold, 0.005)   # faces are smooth: take the weaker corners too
        keyframe_step = last - first + 1
    min_distance = min_distance or max(10, min(w, h) // 16)
    margin = margin or max(8, min(w, h) // 24)
    settings = clip.tracking.settings
    settings.default_correlation_min = correlation_min
    settings.default_search_size = max(71, int(0.08 * max(w, h)) * 2 + 21)
    made = []
    with clip_editor(clip) as scene:
        _delete_tracks(clip, [t.name for t in clip.tracking.tracks if t.name.startswith(KINO_PREFIX)])
        scene.frame_start, scene.frame_end = first, last
        for key in _keyframes(first, last, keyframe_step):
            for t in clip.tracking.tracks:
                t.select = False
            go_to(scene, key)
            before = set(t.name for t in clip.tracking.tracks)
            bpy.ops.clip.detect_features(threshold=threshold, min_distance=min_distance, margin=margin)
            new = [t.name for t in clip.tracking.tracks if t.name not in before]
            if region is not None:
                new = _keep_inside(clip, new, key, region)
            new = _drop_duplicates(clip, new, made, key, 0.5 * min_distance)
            renamed = []
            for name in new:
                renamed.append(f"{KINO_PREFIX}{len(made) + len(renamed):03d}")
                clip.tracking.tracks[name].name = renamed[-1]
            for t in clip.tracking.tracks:
                t.select = t.name in renamed
            made.extend(renamed)
            if not new:
                continue
            if key < last:
                bpy.ops.clip.track_markers(backwards=False, sequence=True)
            if key > first:
                go_to(scene, key)
                bpy.ops.clip.track_markers(backwards=True, sequence=True)
    if not made:
        raise TrackingError("Blender's tracker found no features to track; the clip (or the track region) "
                            "may be blank, very dark or very soft: stabilize a clip with visible detail, or give a "
                            "track region around a part of the picture with texture (--track-region X,Y,W,H, or "
                            "Lock to: Region under Stabilize in Kino's panel)")
    return made


def _marker_px(track, frame, w, h):
    m = track.markers.find_frame(frame)
    if m is None or m.mute:
        return None
    return geo.blender_to_pixels(m.co, w, h)


def _drop_duplicates(clip, names, made, frame, radius):
    """Delete new tracks that start within ``radius`` px of a feature already tracked through
    ``frame`` (detected again on a later keyframe); return the names of the others."""
    w, h = clip.size
    old = [p for p in (_marker_px(clip.tracking.tracks[n], frame, w, h) for n in made) if p is not None]
    if not old:
        return names
    old = np.array(old)
    keep, drop = [], []
    for name in names:
        p = _marker_px(clip.tracking.tracks[name], frame, w, h)
        near = p is None or np.min(np.linalg.norm(old - p, axis=1)) < radius
        (drop if near else keep).append(name)
    _delete_tracks(clip, drop)
    return keep


def _keep_inside(clip, names, frame, region):
    """Delete the named tracks whose marker at ``frame`` lies outside ``region`` (pixels); return the
    names of the others."""
    w, h = clip.size
    keep, drop = [], []
    for name in names:
        m = clip.tracking.tracks[name].markers.find_frame(frame)
        x, y = geo.blender_to_pixels(m.co, w, h) if m is not None else (-1e9, -1e9)
        inside = region[0] <= x < region[0] + region[2] and region[1] <= y < region[1] + region[3]
        (keep if inside else drop).append(name)
    _delete_tracks(clip, drop)
    return keep


def read_tracks(clip, names=None) -> list:
    """Markers as plain lists: ``[{"name", "frames", "co", "mute"}]`` (Blender convention: co normalized,
    y up). ``names`` limits it to those tracks (default: all)."""
    out = []
    for t in clip.tracking.tracks:
        if names is not None and t.name not in names:
            continue
        frames, co, mute = [], [], []
        for m in t.markers:
            frames.append(int(m.frame))
            co.append((float(m.co[0]), float(m.co[1])))
            mute.append(bool(m.mute))
        out.append({"name": t.name, "frames": frames, "co": co, "mute": mute})
    return out
