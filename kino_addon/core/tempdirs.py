"""Kino's temporary folders: each records its owner process, so a later run removes the ones a killed
run left behind (``sweep``) and never touches a folder whose owner still runs.

``make(prefix)`` creates ``<tmp>/<prefix>XXXXXXXX/`` with ``.kino-owner`` = ``{"pid", "host", "start"}``.
``sweep(prefixes)`` removes ``<tmp>/<prefix>*`` folders whose owner is gone (same host; the pid dead,
a zombie, or reused by a process that started later),
and, for folders without an owner file (older versions, or ``blender_*`` folders Blender made inside
one), those untouched for ``STALE_AGE_S``.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import time
from typing import Iterable, Optional

from .processes import pid_alive, start_ticks

OWNER_FILE = ".kino-owner"
PREFIXES = ("kino-bpy-", "kino-extract-", "kino-composite-", "kino-train-")
STALE_AGE_S = 24 * 3600


def make(prefix: str, base: Optional[str] = None) -> str:
    path = tempfile.mkdtemp(prefix=prefix, dir=base)
    with open(os.path.join(path, OWNER_FILE), "w", encoding="utf-8") as fh:
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "start": start_ticks(os.getpid())}, fh)
    return path


def _owner(path: str) -> Optional[dict]:
    try:
        with open(os.path.join(path, OWNER_FILE), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def stale(path: str, now: Optional[float] = None) -> bool:
    """True when nobody uses ``path`` any more."""
    owner = _owner(path)
    if owner is None:
        try:
            return (now or time.time()) - os.stat(path).st_mtime > STALE_AGE_S
        except OSError:
            return False
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return False  # another machine's folder on a shared temp: not ours to judge
    pid = owner["pid"]
    if pid == os.getpid():
        return False
    if not pid_alive(pid):
        return True
    started = owner.get("start")  # a live process with the owner's pid but another start: pid reused
    return isinstance(started, int) and start_ticks(pid) not in (None, started)


def sweep(prefixes: Iterable[str] = PREFIXES, base: Optional[str] = None) -> list:
    """Remove the stale Kino temp folders in ``base`` (default: the system temp folder); returns them."""
    base = base or tempfile.gettempdir()
    removed = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        path = os.path.join(base, name)
        if any(name.startswith(p) for p in prefixes) and os.path.isdir(path) and not os.path.islink(path) \
                and stale(path):
            remove(path)
            removed.append(path)
    return removed


def remove(path: str) -> None:
    """Remove a stale folder, its owner file last: a process of the dead owner that still writes into it
    (an orphaned backend's log, for the moment it takes to notice) can make the removal fail, and the
    owner file left behind lets a later sweep finish the job (without it the folder looked foreign)."""
    owner = os.path.join(path, OWNER_FILE)
    for entry in os.listdir(path) if os.path.isdir(path) else []:
        full = os.path.join(path, entry)
        if full == owner:
            continue
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.remove(full)
    if os.listdir(path) == [OWNER_FILE]:
        with contextlib.suppress(OSError):
            os.remove(owner)
            os.rmdir(path)
