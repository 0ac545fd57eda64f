"""Atomic frame files: a frame appears under its final name complete or not at all.

The temporary file goes to the ``.partial`` subfolder of the target folder (same file system; see
``kino_addon.protocol.atomic``), so a crash leaves at most a stray file in ``.partial`` (which
``clear_partial`` removes at the next start), never a half-written frame under a final name.
"""
from __future__ import annotations

import os
import shutil

import numpy as np

from ..protocol.atomic import atomic_write_bytes
from .png import encode_png

PARTIAL_DIR = ".partial"


def atomic_write_frame_file(path: str, data: bytes) -> None:
    """``data`` to ``path`` atomically, through the folder's ``.partial`` (made, with the folder, when
    missing)."""
    folder = os.path.dirname(os.path.abspath(path))
    atomic_write_bytes(path, data, temp_dir=os.path.join(folder, PARTIAL_DIR))


def atomic_write_png(path: str, image: np.ndarray, level: int = 1) -> None:
    atomic_write_frame_file(path, encode_png(image, level=level))


def clear_partial(folder: str) -> None:
    """Remove temp files a crashed run left behind (never touches final files)."""
    shutil.rmtree(os.path.join(folder, PARTIAL_DIR), ignore_errors=True)


class OutputFolderError(OSError):
    """The output folder cannot be created or written; the message says which and why."""


def make_output_folder(folder: str) -> None:
    """Create ``folder`` (and its parents) and check it is writable; ``OutputFolderError`` says why not."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OutputFolderError(f"cannot create the output folder {folder} ({exc.strerror or exc}); "
                                "pick a folder you can write to") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputFolderError(f"the output folder {folder} is not writable; pick a folder you can write to")
