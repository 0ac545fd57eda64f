"""Atomic files (standard library only), for both sides: a reader sees the whole new file or the old
one, never half a file.

The data goes to a temporary file (in the target's folder, or in ``temp_dir`` on the same file
system), is flushed and fsynced, then renamed onto the final name. ``atomic_write_json`` is the one
JSON writer of the add-on and the backend (``kino.json``, presets, the backend's connection file).
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Optional


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


def usual_file_modes(*paths: str) -> None:
    """Give the files at ``paths`` (and under those that are folders) the mode a new file gets under the
    umask: writers that create their files 0600 (safetensors' ``save_file``, and so diffusers'
    ``save_pretrained``) would leave a model or LoRA unreadable to other users and render nodes."""
    mode = file_mode()
    for path in paths:
        files = [path] if os.path.isfile(path) else [os.path.join(here, n) for here, _, names in os.walk(path)
                                                     for n in names]
        for f in files:
            if not os.path.islink(f):
                os.chmod(f, mode)


def _temp_file(tmp_dir: str, prefix: str):
    """``mkstemp`` in ``tmp_dir``, made when missing. Another thread's write may remove the shared folder
    (when it is empty) between the two steps: then it is made again (a frame writer and the kino.json
    writer share ``.partial``)."""
    for attempt in range(10):
        try:
            os.makedirs(tmp_dir, exist_ok=True)  # FileExistsError when it went between mkdir and its check
            return tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=tmp_dir)  # created 0600
        except (FileNotFoundError, FileExistsError):
            if attempt == 9:
                raise
    raise AssertionError("unreachable")


def atomic_write_bytes(path: str, data: bytes, *, temp_dir: Optional[str] = None, owner_only: bool = False) -> None:
    """Write ``data`` to ``path`` atomically. ``owner_only`` makes the file mode 0600 (secrets), else the
    mode any new file gets under the umask (0644 with the usual 022), so other users and render nodes
    can read frames and mattes. ``temp_dir`` (created when missing, removed again when empty) holds the
    temporary file, so a crash leaves a stray file there, never in the target's folder."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp_dir = temp_dir or folder
    fd, tmp = _temp_file(tmp_dir, f".{os.path.basename(path)}.")
    try:
        if not owner_only and hasattr(os, "fchmod"):
            os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    finally:
        if temp_dir:
            try:
                os.rmdir(temp_dir)  # only when empty: another writer may be using it
            except OSError:
                pass


def atomic_write_json(path: str, data: Any, *, indent: Optional[int] = None, sort_keys: bool = False,
                      owner_only: bool = False, temp_dir: Optional[str] = None) -> None:
    """Write ``data`` as JSON (one trailing newline; values JSON cannot hold are written as strings)
    to ``path`` atomically; the keywords as in :func:`atomic_write_bytes`."""
    text = json.dumps(data, indent=indent, sort_keys=sort_keys, default=str) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"), temp_dir=temp_dir, owner_only=owner_only)
