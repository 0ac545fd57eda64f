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
    return data if _valid(data) else {}


def _entries_ok(items) -> bool:
    """A list of objects each with a text ``name`` and, when present, a list of such ``params``."""
    return isinstance(items, list) and all(
        isinstance(i, dict) and isinstance(i.get("name"), str)
        and (i.get("params") is None or _entries_ok(i["params"])) for i in items)


def _valid(data) -> bool:
    """The shape the menus read: a file edited by hand or cut short is not used (the panel would fail
    on every redraw), the next source is."""
    return (isinstance(data, dict) and bool(data.get("looks")) and _entries_ok(data["looks"])
            and _entries_ok(data.get("stages", [])))


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
