"""Stabilizing transforms for a strip or a file, from Blender's tracker (``tracking``) and Kino's
robust solver (``kino_addon.core.stabilize_solve``).

``stabilization_for_input(scene, strip, frame_range, track_region)`` is what ``scripts/kino stylize
--stabilize`` and the Stylize operator call (``stylize.strip_job``); its result goes as-is into the
job option ``stabilize`` of the backend stage of that name: one 2x3 matrix per job frame, mapping
source pixels to stabilized pixels, origin top-left, y down.

``track_region``: None (camera lock: features on moving people and things are rejected), (x, y, w, h)
or "X,Y,W,H" in source pixels of the first frame (the frame is locked to that region), or "face"
(the region is the actor's face: the add-on sends the first five frames to the connected backend,
``face.find``; see ``face.py``). ``client``: the backend connection to ask (default: the add-on's own,
``connection.BACKEND``, started or attached as the preferences say); only "face" uses it.
"""
from __future__ import annotations

import os

import numpy as np

from ...core import stabilize_solve as solve
from ...core.movie_timing import movie_notes
from ...core.plan import FramePlan
from .. import compat
from ..strip_settings import feeds
from ..strips import clip_frame_offset
from . import face, tracking


class StabilizeError(RuntimeError):
    """Stabilization could not be computed; the message says what to change."""


def parse_region(track_region):
    """None, "face", or a 4-tuple of floats from a tuple/list or an "X,Y,W,H" string."""
    if track_region is None or track_region == "":
        return None
    if isinstance(track_region, str):
        if track_region.strip().lower() == "face":
            return "face"
        parts = track_region.split(",")
    else:
        parts = list(track_region)
    try:
        x, y, w, h = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise StabilizeError(f"track region must be X,Y,W,H (source pixels) or 'face', got {track_region!r}") from None
    if w <= 0 or h <= 0:
        raise StabilizeError(f"track region {track_region!r} has no area: W and H must be positive")
    return (x, y, w, h)


def fit_region(region: tuple, width: int, height: int) -> tuple:
    """(region clipped to the frame, note or ""); a region with no pixel in the frame is refused."""
    x, y, w, h = region
    x0, y0, x1, y1 = max(0.0, x), max(0.0, y), min(float(width), x + w), min(float(height), y + h)
    if x1 <= x0 or y1 <= y0:
        raise StabilizeError(f"track region {x:g},{y:g},{w:g},{h:g} lies outside the {width}x{height} frame; give "
                             "X,Y,W,H in source pixels of the first frame, origin top-left")
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise StabilizeError(f"track region {x:g},{y:g},{w:g},{h:g} is too small inside the {width}x{height} "
                             f"frame ({x1 - x0:g}x{y1 - y0:g} px); give a region of at least a few dozen pixels "
                             "around something with texture")
    fitted = (x0, y0, x1 - x0, y1 - y0)
    if fitted == tuple(region):
        return fitted, ""
    return fitted, (f"track region {x:g},{y:g},{w:g},{h:g} reaches outside the {width}x{height} frame; "
                    f"tracking {x0:g},{y0:g},{x1 - x0:g},{y1 - y0:g}")


def find_face(path: str, first: int, last: int, client=None) -> tuple:
    """The actor's face (x, y, w, h, source pixels) on source frames ``first..last`` of ``path``."""
    try:
        return face.find_face(path, first, last, client)
    except face.FaceError as exc:
        raise StabilizeError(str(exc)) from None


def _tracks_for(clip, first, last, region, use_artist_tracks):
    artist = tracking.artist_tracks(clip) if use_artist_tracks else []
    if artist:
        names = [t.name for t in artist]
        return tracking.read_tracks(clip, names), "artist"
    if region is None:
        names = tracking.detect_and_track(clip, first, last)
    else:
        names = tracking.detect_and_track(clip, first, last, region=region)
    return tracking.read_tracks(clip, names), "kino"


def stabilization_for_clip(clip, first: int, last: int, track_region=None, *, zoom=False,
                           use_artist_tracks: bool = True, source_path: str = "", client=None) -> dict:
    """Matrices for clip frames ``first..last`` (inclusive, 1-based), one per frame."""
    region = parse_region(track_region)
    mode = "camera" if region is None else ("face" if region == "face" else "region")
    width, height = int(clip.size[0]), int(clip.size[1])
    notes = []
    if region not in (None, "face"):
        region, note = fit_region(region, width, height)
        notes += [note] if note else []
    if last == first:  # one frame: nothing moves and there is nothing to track
        return {"matrices": [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], "width": width, "height": height, "mode": mode,
                "tracks_used": 0, "tracks_total": 0, "tracks_source": "none (one frame)", "smoothing": None,
                "zoom": 1.0, "residual_px": 0.0, "clip": clip.name, "frames": [first, last], "used_tracks": [],
                "notes": notes}
    if region == "face":
        region = find_face(source_path or tracking.clip_path_for_input(clip.filepath), first,
                           min(first + face.SAMPLE_FRAMES - 1, last), client)
    try:
        tracks, source = _tracks_for(clip, first, last, region, use_artist_tracks)
        points = solve.tracks_to_points(tracks, first, last - first + 1, width, height)
        if region is None:
            result = solve.stabilize(points, width, height, zoom=zoom)
        else:
            result = solve.stabilize_region(points, region, width, height, zoom=zoom)
    except solve.ShotBreak as exc:
        cut = first + exc.index
        raise StabilizeError(f"the tracking breaks between clip frames {cut} and {cut + 1} (the tracked features are "
                             "lost at once): a hard cut, or a jump the tracker lost, across which the camera's motion "
                             f"is unknown; stabilize each shot on its own (--frames {first}:{cut} and --frames "
                             f"{cut + 1}:{last})") from None
    except (tracking.TrackingError, ValueError) as exc:
        raise StabilizeError(str(exc)) from None
    out = {"matrices": np.round(result.matrices, 9).tolist(), "width": width, "height": height, "mode": mode,
           "tracks_used": int(result.alignment.track_ok.sum()), "tracks_total": len(tracks),
           "tracks_source": source, "smoothing": result.smoothing, "zoom": float(result.zoom),
           "residual_px": float(result.alignment.residual_px), "clip": clip.name, "frames": [first, last],
           "used_tracks": [t["name"] for t, ok in zip(tracks, result.alignment.track_ok) if ok], "notes": notes}
    if region is not None:
        out["region"] = [float(v) for v in region]
    return out


def stabilization_for_path(path: str, first: int = 1, last: int | None = None, track_region=None, *,
                           zoom=False, client=None) -> dict:
    """Matrices for source frames ``first..last`` of a video file or image folder."""
    clip = tracking.load_clip(tracking.clip_path_for_input(path))
    asked = f"{first}:{last}" if last is not None else f"{first}:"
    last = clip.frame_duration if last is None else min(last, clip.frame_duration)
    if first < 1 or last < first:
        raise StabilizeError(f"frame range {asked} is outside the clip's frames 1-{clip.frame_duration}")
    result = stabilization_for_clip(clip, first, last, track_region, zoom=zoom, source_path=os.path.abspath(path),
                                    client=client)
    result["notes"] = result["notes"] + movie_notes(os.path.abspath(path), clip.frame_duration)
    return result


def time_changes(strip) -> list:
    """How the strip's frames are not its clip's frames in order: a Speed effect it feeds, retiming
    keys, reversed or strobed playback (empty for a plain strip)."""
    sed = getattr(strip.id_data, "sequence_editor", None)
    speed = [s.name for s in (sed.strips_all if sed else []) if s.type == 'SPEED' and feeds(s, strip.name)]
    out = [f"retimed by the Speed effect {speed[0]!r}"] if speed else []
    out += ["retimed (retiming keys)"] if len(getattr(strip, "retiming_keys", ())) else []
    out += ["played in reverse"] if getattr(strip, "use_reverse_frames", False) else []
    out += ["strobed"] if (getattr(strip, "strobe", 1.0) or 1.0) > 1.0 else []
    return out


def stabilization_for_input(scene, strip, frame_range=None, track_region=None, *, zoom=False, client=None) -> dict:
    """Matrices for the frames a job on ``strip`` sends (``frame_range`` as the Stylize operator has it:
    1-based within the strip's visible frames, inclusive, or None for all), one per job frame.

    The tracker reads the strip's own file, frame after frame (the clip frame of timeline frame t is
    ``t - content_start + content_trim_start + 1``): a strip whose time is changed (a Speed effect fed
    by it, retiming, reversed or strobed playback) is refused, since its frames are not those.
    """
    retimed = time_changes(strip)
    if retimed:
        raise StabilizeError(f"strip {strip.name!r} is {' and '.join(retimed)}: the tracker follows the clip's own "
                             "frames, not these; stabilize (and stylize) the strip without them, then retime "
                             "the result strip")
    plan = FramePlan.for_strip(*compat.strip_span(strip), frame_range)
    path = tracking.clip_path_for_strip(strip)
    clip = tracking.load_clip(path)
    offset = clip_frame_offset(strip)
    first, last = plan.first + offset, plan.first + plan.count - 1 + offset
    if first < 1 or last > clip.frame_duration:
        raise StabilizeError(f"strip {strip.name!r} shows clip frames {first}..{last}, outside the clip's "
                             f"1..{clip.frame_duration}")
    source = path if strip.type == "MOVIE" else os.path.dirname(path)
    result = stabilization_for_clip(clip, first, last, track_region, zoom=zoom, source_path=source,
                                    client=client)
    result["strip"] = strip.name
    return result
