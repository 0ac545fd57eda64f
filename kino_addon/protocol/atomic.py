"""Atomic JSON files (temp file in the same folder + rename): a reader never sees half a file."""
from __future__ import annotations

import json
import os
import tempfile
from typing import Optional


def write_json_atomic(path: str, data, *, indent: Optional[int] = None, owner_only: bool = False) -> None:
    """Write ``data`` as JSON to ``path`` atomically; ``owner_only`` makes it mode 0600 (secrets)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kino-", suffix=".json.tmp", dir=folder)  # created 0600
    try:
        if not owner_only and hasattr(os, "fchmod"):
            os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=indent)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
