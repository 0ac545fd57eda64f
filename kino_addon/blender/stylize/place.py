"""Put stylized frames on the timeline: an sRGB image-sequence strip in a free channel above the
source, aligned frame for frame, named ``<strip>_<look>``, with the source's spatial transform. A keyed
job's frames (its workflow runs the ``key`` stage) carry the matte as alpha, a transparent source's
frames its alpha: that strip blends Alpha Over the strips below it."""
from __future__ import annotations

import os

from ...core.plan import frame_path
from ...core.png import png_has_alpha
from .. import compat
from ..blend_paths import blend_relative
from ..strip_settings import feeds

MAX_CHANNEL = 128


def _busy(sed, channel: int, start: int, end: int, ignore=()) -> bool:
    for s in sed.strips:
        if s.channel == channel and s.name not in ignore:
            left, right = compat.strip_span(s)
            if left < end and start < right:
                return True
    return False


def free_channel_above(sed, source, start: int, end: int, ignore=()) -> int:
    for channel in range(source.channel + 1, MAX_CHANNEL + 1):
        if not _busy(sed, channel, start, end, ignore):
            return channel
    raise RuntimeError(f"no free channel above {source.name!r} for frames {start}-{end - 1}")


def _copy_look(source, result, alpha: bool) -> None:
    """Carry over what the frames were rendered without: the source's spatial transform and its filter,
    crop, flips, how it blends with the strips below (opacity and mode; frames with alpha blend Alpha Over
    where the source replaced) and whether it is muted."""
    for key in ("offset_x", "offset_y", "scale_x", "scale_y", "rotation", "origin", "filter"):
        if hasattr(source.transform, key):
            setattr(result.transform, key, getattr(source.transform, key))
    for key in ("min_x", "max_x", "min_y", "max_y"):
        setattr(result.crop, key, getattr(source.crop, key))
    result.use_flip_x, result.use_flip_y = source.use_flip_x, source.use_flip_y
    result.blend_alpha = source.blend_alpha
    if not alpha or source.blend_type not in ("REPLACE", "CROSS", "ALPHA_OVER"):
        result.blend_type = source.blend_type
    result.mute = source.mute


def covered_strips(sed, source, result) -> list:
    """Strips that showed over the source and now lie under its result (channels between the two over the
    result's frames), other results of the same source and effects fed by it left out."""
    start, end = compat.strip_span(result)
    out = []
    for s in sed.strips:
        if not source.channel < s.channel < result.channel or s.mute or s.name.startswith(f"{source.name}_"):
            continue
        left, right = compat.strip_span(s)
        if left < end and start < right and not feeds(s, source.name):
            out.append(s.name)
    return out


def covered_note(sed, source, result) -> str:
    covered = covered_strips(sed, source, result)
    if not covered:
        return ""
    names = ", ".join(repr(n) for n in covered[:3]) + (" ..." if len(covered) > 3 else "")
    return (f"the result strip {result.name!r} is on channel {result.channel}, above {names}, which showed over "
            f"{source.name!r} and are now under the result: move them above channel {result.channel} to see "
            "them again")


def place_result(scene, source, folder: str, first_frame: int, count: int, look: str, keyed: bool = False):
    """Create (or replace) the result strip; returns it. Frames with alpha (a keyed job's, or those of a
    transparent source, which keep its alpha) blend Alpha Over the strips below."""
    sed = scene.sequence_editor
    name = f"{source.name}_{look}"
    old = sed.strips.get(name)
    channel = None
    if old is not None:
        channel = old.channel
        sed.strips.remove(old)
    end = first_frame + count
    if channel is None or _busy(sed, channel, first_frame, end):
        channel = free_channel_above(sed, source, first_frame, end)
    strip = sed.strips.new_image(name=name, filepath=frame_path(folder, 1), channel=channel,
                                 frame_start=first_frame)
    for n in range(2, count + 1):
        strip.elements.append(os.path.basename(frame_path(folder, n)))
    strip.directory = blend_relative(strip.directory)  # moves with the .blend and its kino/ folder
    strip.colorspace_settings.name = "sRGB"
    alpha = keyed or png_has_alpha(frame_path(folder, 1))
    if alpha:  # RGBA frames over the strips below
        strip.alpha_mode = 'STRAIGHT'
        strip.blend_type = 'ALPHA_OVER'
    strip.select = False  # keep the user's selection: a re-run stylizes the source, not the result
    _copy_look(source, strip, alpha)
    return strip
