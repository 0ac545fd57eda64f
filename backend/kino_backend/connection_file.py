"""The connection file a listening backend writes (docs/protocol.md): atomic, mode 0600."""
from __future__ import annotations

import json
import os

from kino_addon.protocol import PROTOCOL_VERSION
from kino_addon.protocol.atomic import atomic_write_json


def write_connection_file(path: str, host: str, port: int) -> dict:
    """Write ``{"host", "port", "pid", "protocol"}`` to ``path`` atomically, readable by the owner only."""
    info = {"host": host, "port": int(port), "pid": os.getpid(), "protocol": list(PROTOCOL_VERSION)}
    atomic_write_json(path, info, owner_only=True)
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
