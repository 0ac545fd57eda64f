"""Atomic file writes: a file appears under its final name complete or not at all.

The data is written to a temporary file in the ``.partial`` subfolder of the target folder (same file
system) with the mode any new file gets (the umask's, not ``mkstemp``'s 0600, so other users and render
nodes can read the frames where the umask allows), flushed and fsynced, then ``os.replace``d onto the
final name. A crash leaves at most a stray
temp file in ``.partial``, never a half-written frame under a final name.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile

import numpy as np

from ..protocol.atomic import file_mode
from .png import encode_png

PARTIAL_DIR = ".partial"


def atomic_write_bytes(path: str, data: bytes) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    tmp_dir = os.path.join(folder, PARTIAL_DIR)
    os.makedirs(tmp_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=tmp_dir)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, file_mode())  # mkstemp makes 0600; the file gets what open() would give it
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        try:
            os.rmdir(tmp_dir)  # only when empty: another writer may be using it
        except OSError:
            pass


def atomic_write_png(path: str, image: np.ndarray, level: int = 1) -> None:
    atomic_write_bytes(path, encode_png(image, level=level))


def atomic_write_json(path: str, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8"))


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
