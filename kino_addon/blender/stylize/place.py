"""Put stylized frames on the timeline: an sRGB image-sequence strip in a free channel above the
source, aligned frame for frame, named ``<strip>_<look>``, with the source's spatial transform. A keyed
job's frames (its workflow runs the ``key`` stage) carry the matte as alpha, a transparent source's
frames its alpha: that strip blends Alpha Over the strips below it. The strip is marked as Kino's result
of its source and look (custom properties): a re-run gives that strip the new frames in place, keeping
what the artist did to it, and never takes a strip of the user's for it."""
from __future__ import annotations

import os

import bpy

from ...core.plan import frame_path
from ...core.png import png_has_alpha
from .. import compat
from ..blend_paths import blend_relative
from ..strip_settings import feeds

MAX_CHANNEL = 128
RESULT_SOURCE, RESULT_LOOK = "kino_result_of", "kino_look"  # custom properties marking Kino's result strips


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


def _copy_geometry(source, result) -> None:
    """Carry over what the frames were rendered without: the source's spatial transform and its filter,
    crop and flips (again on every run: the frames follow the source)."""
    for key in ("offset_x", "offset_y", "scale_x", "scale_y", "rotation", "origin", "filter"):
        if hasattr(source.transform, key):
            setattr(result.transform, key, getattr(source.transform, key))
    for key in ("min_x", "max_x", "min_y", "max_y"):
        setattr(result.crop, key, getattr(source.crop, key))
    result.use_flip_x, result.use_flip_y = source.use_flip_x, source.use_flip_y


def _copy_look(source, result, alpha: bool) -> None:
    """A new result: the source's geometry, how it blends with the strips below (opacity and mode; frames
    with alpha blend Alpha Over where the source replaced) and whether it is muted."""
    _copy_geometry(source, result)
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
        ours = s.get(RESULT_SOURCE) == source.name or s.name.startswith(f"{source.name}_")
        if not source.channel < s.channel < result.channel or s.mute or ours:
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


def _kino_folder(strip) -> bool:
    """An unmarked image strip showing a Kino output folder (results placed before strips were marked)."""
    folder = bpy.path.abspath(strip.directory)
    return os.path.isfile(os.path.join(folder, "kino.json")) and all(
        e.filename.startswith("frame_") and e.filename.endswith(".png") for e in strip.elements)


def previous_result(sed, source, look: str):
    """Kino's earlier result of ``source`` with ``look`` (marked when placed; an older unmarked one by its
    name and folder), else None. A strip of the user's is never taken for one, whatever its name."""
    for s in sed.strips_all:
        if s.type == 'IMAGE' and s.get(RESULT_SOURCE) == source.name and s.get(RESULT_LOOK) == look:
            return s
    old = sed.strips.get(f"{source.name}_{look}")
    if old is not None and old.type == 'IMAGE' and old.get(RESULT_SOURCE) is None and _kino_folder(old):
        return old
    return None


def _set_media(strip, folder: str, count: int) -> None:
    """Point an image strip at ``frame_0001.png`` ... of ``folder`` (its modifiers, effects and settings stay)."""
    names = [os.path.basename(frame_path(folder, n)) for n in range(1, count + 1)]
    strip.directory = blend_relative(os.path.join(folder, ""))
    while len(strip.elements) > count:
        strip.elements.pop(len(strip.elements) - 1)
    for element, name in zip(strip.elements, names):
        element.filename = name
    for name in names[len(strip.elements):]:
        strip.elements.append(name)


def _update(sed, strip, source, folder: str, first_frame: int, count: int, alpha: bool):
    """Kino's earlier result, given the new frames in place: what the artist did to it (modifiers,
    opacity, blend mode, effects using it, its name) stays, its geometry follows the source again; it
    moves to a free channel only if its own is taken."""
    _set_media(strip, folder, count)
    compat.set_strip_time(strip, "content_start", first_frame)
    start, end = compat.strip_span(strip)
    if _busy(sed, strip.channel, start, end, ignore=(strip.name,)):
        strip.channel = free_channel_above(sed, source, start, end, ignore=(strip.name,))
    if alpha and strip.blend_type == 'REPLACE':
        strip.alpha_mode, strip.blend_type = 'STRAIGHT', 'ALPHA_OVER'
    _copy_geometry(source, strip)
    strip[RESULT_SOURCE] = source.name
    return strip


def place_result(scene, source, folder: str, first_frame: int, count: int, look: str, keyed: bool = False):
    """Create the result strip, or give Kino's earlier result of this source and look the new frames;
    returns it. Frames with alpha (a keyed job's, or those of a transparent source, which keep its alpha)
    blend Alpha Over the strips below. A strip of the user's with the result's name is left alone (the
    result takes Blender's next free name)."""
    sed = scene.sequence_editor
    alpha = keyed or png_has_alpha(frame_path(folder, 1))
    old = previous_result(sed, source, look)
    if old is not None:
        return _update(sed, old, source, folder, first_frame, count, alpha)
    end = first_frame + count
    channel = free_channel_above(sed, source, first_frame, end)
    strip = sed.strips.new_image(name=f"{source.name}_{look}", filepath=frame_path(folder, 1), channel=channel,
                                 frame_start=first_frame)
    for n in range(2, count + 1):
        strip.elements.append(os.path.basename(frame_path(folder, n)))
    strip.directory = blend_relative(strip.directory)  # moves with the .blend and its kino/ folder
    strip.colorspace_settings.name = "sRGB"
    if alpha:  # RGBA frames over the strips below
        strip.alpha_mode = 'STRAIGHT'
        strip.blend_type = 'ALPHA_OVER'
    strip.select = False  # keep the user's selection: a re-run stylizes the source, not the result
    _copy_look(source, strip, alpha)
    strip[RESULT_SOURCE], strip[RESULT_LOOK] = source.name, look
    return strip
