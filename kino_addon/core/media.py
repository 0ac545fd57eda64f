"""Which files Kino reads as footage: image and movie extensions, and the images of a folder."""
from __future__ import annotations

import os
import re

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".exr", ".webp", ".tga")
MOVIE_EXTS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".ogv")


class MediaError(ValueError):
    """An input Kino cannot read as footage; the message says which and why."""


DIGITS = re.compile(r"\d+")


def _shape(name: str) -> str | None:
    """``shot_v002.0001.png`` -> ``shot_v#.#.png`` (every number a #); None for a name without one."""
    stem, ext = os.path.splitext(name)
    return DIGITS.sub("#", stem) + ext.lower() if DIGITS.search(stem) else None


def _numbered(names: list) -> list:
    """Of names of one shape, the largest run of one sequence in frame order: the frame number is the
    last number that changes from name to name; names differing in an earlier number (``_v001`` /
    ``_v002``: two versions of a shot) are separate runs."""
    numbers = [DIGITS.findall(os.path.splitext(n)[0]) for n in names]
    varying = [i for i in range(len(numbers[0])) if len({g[i] for g in numbers}) > 1] or [len(numbers[0]) - 1]
    frame, others = varying[-1], varying[:-1]
    runs: dict = {}
    for n, g in zip(names, numbers):
        runs.setdefault(tuple(g[i] for i in others), []).append((int(g[frame]), n))
    best = max(runs.values(), key=len)  # the first of the largest (names come sorted)
    return [n for _, n in sorted(best)]


def sequence_files(folder: str) -> tuple:
    """``(frames, left_out)``: the image names of ``folder`` that make its image sequence, in frame
    order, and the other images. The sequence is the largest set of names that differ only in their
    frame number (``frame_0001.png``, ``frame_0002.png`` ...; ``frame_9.png`` comes before
    ``frame_10.png``); a slate, a thumbnail, a reference picture or another version's frames beside it
    are left out. A folder without such a set (fewer than two numbered names alike) is taken whole, in
    name order. Hidden files are never read. Raises ``MediaError`` when the folder holds no images."""
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTS) and not n.startswith(".")
                   and os.path.isfile(os.path.join(folder, n)))
    if not names:
        raise MediaError(f"the folder {folder} holds no images ({', '.join(IMAGE_EXTS)})")
    shapes: dict = {}
    for n in names:
        shape = _shape(n)
        if shape is not None:
            shapes.setdefault(shape, []).append(n)
    runs = [_numbered(group) for group in shapes.values() if len(group) > 1]
    best = max(runs, key=len, default=[])
    if len(best) < 2:
        return names, []
    chosen = set(best)
    return best, [n for n in names if n not in chosen]


def image_files(folder: str) -> list:
    """The image names of ``folder``'s image sequence, in frame order (``sequence_files``)."""
    return sequence_files(folder)[0]


def left_out_note(folder: str, frames: list, other: list) -> str | None:
    """One line naming the images of ``folder`` (``sequence_files``: ``frames``, ``other``) that are not
    part of its numbered sequence."""
    if not other:
        return None
    shown = ", ".join(other[:4]) + (f" and {len(other) - 4} more" if len(other) > 4 else "")
    return (f"{len(other)} image(s) in {folder} are not frames of its sequence {frames[0]} ... {frames[-1]} "
            f"({len(frames)} frames) and are left out: {shown}")


def _first_frame(path: str) -> str:
    """``path`` itself, or the first frame of a folder's sequence ("" for a folder without images)."""
    if not os.path.isdir(path):
        return path
    try:
        return image_files(path)[0]
    except MediaError:
        return ""


def read_outside_blender(path: str) -> str | None:
    """Why frames at ``path`` (a file, or a folder's sequence) cannot be read by the commands that read
    files without Blender (``interpolate``, ``stabilize``'s warp, the metrics), or None. OpenCV reads
    no TGA, and EXR's float scene-linear values need a view transform: Blender's sequencer gives them."""
    name = _first_frame(path)
    ext = os.path.splitext(name)[1].lower()
    if ext not in (".exr", ".tga"):
        return None
    what = "float (HDR) EXR" if ext == ".exr" else "TGA"
    return (f"{os.path.basename(name)} is {what}, which this command does not read; write the frames as PNG or "
            "TIFF first (16-bit keeps the most; Blender's sequencer can render them, or scripts/kino stylize "
            "--look none gives the 8-bit frames Kino sees)")


def float_note(path: str) -> str | None:
    """One line when the frames at ``path`` (an image, or a folder's sequence) are float (EXR, HDR): Kino
    works on 8-bit display frames (Blender's Standard view), so values above 1 are clipped."""
    name = _first_frame(path)
    if os.path.splitext(name)[1].lower() not in (".exr", ".hdr"):
        return None
    return (f"{os.path.basename(name)} holds float (HDR) values; Kino works on 8-bit display frames (Blender's "
            "Standard view), so values above 1 are clipped and the 8-bit result will not match the source under "
            "another view transform (AgX, Filmic): grade or expose the plate into 0-1 first to keep its highlights")


def is_movie(path: str) -> bool:
    return path.lower().endswith(MOVIE_EXTS)


def is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_EXTS)


def numbering_gaps(names: list) -> list:
    """``[(number, next number), ...]`` where the frame numbers in an image sequence's names
    (``shot_0007.png``; the last group of digits that changes from name to name) do not go up by one:
    the sequence is read in name order as consecutive frames all the same."""
    groups = [re.findall(r"\d+", os.path.splitext(n)[0]) for n in names]
    if len(names) < 2 or not groups[0] or any(len(g) != len(groups[0]) for g in groups):
        return []  # not one numbered sequence
    varying = [i for i in range(len(groups[0])) if len({g[i] for g in groups}) > 1]
    if not varying:
        return []
    numbers = [int(g[varying[-1]]) for g in groups]
    return [(a, b) for a, b in zip(numbers, numbers[1:]) if b != a + 1]


def numbering_note(folder: str, names: list) -> str | None:
    gaps = numbering_gaps(names)
    if not gaps:
        return None
    shown = ", ".join(f"{a} -> {b}" for a, b in gaps[:4]) + (" ..." if len(gaps) > 4 else "")
    return (f"the frame numbers of {folder} skip ({shown}); its {len(names)} images are taken in name order as "
            f"consecutive frames 1-{len(names)}, and the results are numbered so (frame_0001.png ...)")
