"""The looks and stages the add-on can show before its backend has started.

``session.hello`` advertises the looks (presets) and every stage's parameters. Until a backend has
answered, the panel takes them from the last hello it cached (``save_cache``), else from the copy
that ships with the add-on (``looks_catalogue.json``, written from the backend code of the same
release by ``python -m kino_backend looks --write-snapshot``; a test keeps it equal to that code).
Standard library only.
"""
from __future__ import annotations

import json
import os
from typing import Optional

from .atomic import atomic_write_json

SNAPSHOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "looks_catalogue.json")
CACHE_FILE = "looks-from-last-hello.json"


def _read(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and isinstance(data.get("looks"), list) and data["looks"] else {}


def snapshot() -> dict:
    """The shipped copy: ``{"looks": [...], "stages": [...]}`` ({} when missing)."""
    return _read(SNAPSHOT)


def catalogue_of(hello: dict) -> dict:
    """The part of a hello (or of ``looks --json``) the menus use."""
    return {"looks": list(hello.get("looks") or []), "stages": list(hello.get("stages") or [])}


def save_cache(folder: str, hello: dict) -> None:
    """Remember a hello's looks and stages (atomic write; a failure only loses the cache)."""
    data = catalogue_of(hello)
    if not data["looks"]:
        return
    data["backend"] = hello.get("backend", "")
    try:
        atomic_write_json(os.path.join(folder, CACHE_FILE), data)
    except OSError:
        pass


def offline(cache_folder: Optional[str]) -> dict:
    """The cached catalogue of the last hello, else the shipped snapshot."""
    cached = _read(os.path.join(cache_folder, CACHE_FILE)) if cache_folder else {}
    return cached or snapshot()
