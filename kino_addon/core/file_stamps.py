"""What identifies the files a result was made from, for the settings hash: every file of the source
(an image sequence with one frame repainted is another source) and every file a parameter names (a
checkpoint, LoRA or ControlNet retrained or replaced under the same name is another model). A file is
known by its size and modification time to the nanosecond; a folder by those of every file in it."""
from __future__ import annotations

import hashlib
import os
import re

MAX_FOLDER_FILES = 5000  # a model folder holds a few dozen; a folder this big is hashed by its first files
DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def _stat(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


def files_digest(paths) -> str:
    """One hash of the name, size and modification time of every file in ``paths``."""
    h = hashlib.sha1()
    for path in paths:
        h.update(f"{os.path.basename(path)}|{_stat(path)}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def input_digest(path: str) -> str:
    """``files_digest`` of an input: a movie or image file, or every file of a folder (name order)."""
    files = [os.path.join(path, n) for n in sorted(os.listdir(path))] if os.path.isdir(path) else [path]
    return files_digest(files)


def stamp(path: str) -> str:
    """A file's size and time, or a digest of a folder's files (walked in name order)."""
    if not os.path.isdir(path):
        return _stat(path)
    found = []
    for here, dirs, names in os.walk(path):
        dirs.sort()
        found += [os.path.join(here, n) for n in sorted(names) if not n.startswith(".")]
        if len(found) >= MAX_FOLDER_FILES:
            break
    h = hashlib.sha1()
    for f in found[:MAX_FOLDER_FILES]:
        h.update(f"{os.path.relpath(f, path)}|{_stat(f)}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def path_in(value: str):
    """The existing file or folder a parameter value names: the value itself, or its part before the
    first ``:`` (``lora=ink.safetensors:0.7``, ``controlnet=DIR:canny:0.8``); None when it names none."""
    if not isinstance(value, str) or not value or len(value) > 4096:
        return None
    if os.path.exists(value):
        return value
    drive = DRIVE.match(value)
    head = value[:2] + value[2:].split(":", 1)[0] if drive else value.split(":", 1)[0]
    return head if head != value and os.path.exists(head) else None


def workflow_files(workflow: dict) -> dict:
    """``{path: stamp}`` of every file or folder the workflow's parameters name."""
    out = {}
    for stage in workflow.get("stages") or []:
        for value in (stage.get("params") or {}).values() if isinstance(stage, dict) else ():
            for item in value if isinstance(value, list) else [value]:
                path = path_in(item)
                if path is not None:
                    out[os.path.abspath(path)] = stamp(path)
    return out
