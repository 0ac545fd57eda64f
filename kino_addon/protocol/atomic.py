"""Atomic JSON files (temp file in the same folder + rename): a reader never sees half a file."""
from __future__ import annotations

import json
import os
import tempfile
from typing import Optional


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it (and put it back at once)
    os.umask(mask)
    return mask


def file_mode(base: int = 0o666) -> int:
    """The mode ``open()`` would give a new file: ``base`` less the umask (``mkstemp`` gives 0600)."""
    return base & ~current_umask()


def write_json_atomic(path: str, data, *, indent: Optional[int] = None, owner_only: bool = False) -> None:
    """Write ``data`` as JSON to ``path`` atomically, with the umask's mode like any new file;
    ``owner_only`` makes it mode 0600 (secrets)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kino-", suffix=".json.tmp", dir=folder)  # created 0600
    try:
        if not owner_only and hasattr(os, "fchmod"):
            os.fchmod(fd, file_mode())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=indent)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
