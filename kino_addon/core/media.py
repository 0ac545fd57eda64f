"""Which files Kino reads as footage: image and movie extensions, and the images of a folder."""
from __future__ import annotations

import os
import re

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".exr", ".webp", ".tga")
MOVIE_EXTS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".ogv")


class MediaError(ValueError):
    """An input Kino cannot read as footage; the message says which and why."""


def image_files(folder: str) -> list:
    """The image file names in ``folder``, sorted (hidden files left out). Raises ``MediaError`` when none."""
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTS) and not n.startswith("."))
    if not names:
        raise MediaError(f"the folder {folder} holds no images ({', '.join(IMAGE_EXTS)})")
    return names


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
