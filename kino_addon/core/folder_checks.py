"""Why a folder cannot be made or written, in words a user can act on: the nearest part of a path that
exists, and "X is a file, not a folder" where the system only says "File exists"."""
from __future__ import annotations

import os


def nearest_existing(path: str) -> str:
    """``path`` itself, or the closest of its parent folders that exists."""
    here = os.path.abspath(path)
    while not os.path.exists(here) and os.path.dirname(here) != here:
        here = os.path.dirname(here)
    return here


def unwritable_reason(folder: str, exc: OSError) -> str:
    """A parent that is a file, named; else the system's reason."""
    here = nearest_existing(folder)
    return f"{here} is a file, not a folder" if os.path.isfile(here) else (exc.strerror or str(exc))
