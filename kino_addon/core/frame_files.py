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


def atomic_write_png(path: str, image: np.ndarray, level: int = 1) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    atomic_write_bytes(path, encode_png(image, level=level), temp_dir=os.path.join(folder, PARTIAL_DIR))


def clear_partial(folder: str) -> None:
    """Remove temp files a crashed run left behind (never touches final files)."""
    shutil.rmtree(os.path.join(folder, PARTIAL_DIR), ignore_errors=True)
