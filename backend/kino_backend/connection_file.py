"""The connection file a listening backend writes (contract §2): atomic, mode 0600."""
from __future__ import annotations

import json
import os
import tempfile

from kino_addon.protocol import PROTOCOL_VERSION


def write_connection_file(path: str, host: str, port: int) -> dict:
    """Write ``{"host", "port", "pid", "protocol"}`` to ``path`` atomically, readable by the owner only."""
    info = {"host": host, "port": int(port), "pid": os.getpid(), "protocol": list(PROTOCOL_VERSION)}
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".backend-", suffix=".json.tmp", dir=folder)  # created 0600
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(info, fh)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return info


def remove_connection_file(path: str) -> None:
    """Remove the file if it still describes this process (a newer backend may have replaced it)."""
    try:
        with open(path, encoding="utf-8") as fh:
            info = json.load(fh)
        if isinstance(info, dict) and info.get("pid") == os.getpid():
            os.remove(path)
    except (OSError, ValueError):
        pass
