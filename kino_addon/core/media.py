"""Which files Kino reads as footage: image and movie extensions, and the images of a folder."""
from __future__ import annotations

import os

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
