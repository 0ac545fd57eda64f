"""Workflow preset files, shared by the add-on and the backend (standard library only).

A preset (built-in look or user preset) is ``{"version": 1, "look": name, "label": str, "help": str,
"stages": [{"name": str, "enabled": bool, "params": {...}}, ...]}``; a stage entry may also be
written as just its name. ``workflow_from_preset`` gives the ``workflow`` of a ``job.submit``.
"""
from __future__ import annotations

import json
from typing import Any

from .atomic import atomic_write_json

PRESET_VERSION = 1


class PresetError(ValueError):
    """A preset file that cannot be used; the message says which file and how to fix it."""


def normalize_preset(data: Any, source: str = "preset") -> dict:
    """Check a preset's structure and return it with every stage entry as an object."""
    if not isinstance(data, dict):
        raise PresetError(f"{source}: a preset must be a JSON object")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PresetError(f"{source}: 'version' must be a positive integer (this Kino writes {PRESET_VERSION})")
    if version > PRESET_VERSION:
        raise PresetError(f"{source} was saved by a newer Kino (preset version {version}); this Kino reads "
                          f"version {PRESET_VERSION} and older: update Kino to use it")
    look = data.get("look")
    if not isinstance(look, str) or not look:
        raise PresetError(f"{source}: 'look' must be the name of a look, e.g. \"toon\"")
    stages = data.get("stages")
    if not isinstance(stages, list) or not stages:
        raise PresetError(f"{source}: 'stages' must be a non-empty list of stages")
    out_stages = []
    for i, entry in enumerate(stages):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise PresetError(f"{source}: stages[{i}] must be a stage name or {{\"name\": ..., \"params\": {{}}}}")
        enabled, params = entry.get("enabled", True), entry.get("params", {})
        if not isinstance(enabled, bool) or not isinstance(params, dict):
            raise PresetError(f"{source}: stages[{i}] ({entry['name']}): 'enabled' must be true/false and "
                              "'params' an object")
        out_stages.append({"name": entry["name"], "enabled": enabled, "params": dict(params)})
    return {"version": version, "look": look, "label": str(data.get("label") or look),
            "help": str(data.get("help") or ""), "stages": out_stages}


def workflow_from_preset(preset: dict) -> dict:
    """The ``workflow`` object of a ``job.submit`` for this preset."""
    return {"version": 1, "look": preset["look"],
            "stages": [{"name": s["name"], "enabled": s["enabled"], "params": dict(s["params"])}
                       for s in preset["stages"]]}


def preset_from_workflow(workflow: dict, label: str = "", help: str = "") -> dict:
    """A preset (current version) holding ``workflow``: what a user preset file contains."""
    return normalize_preset({"version": PRESET_VERSION, "look": workflow.get("look"), "label": label,
                             "help": help, "stages": workflow.get("stages")}, "workflow")


def read_preset(path: str) -> dict:
    try:
        with open(path, encoding="utf-8-sig") as fh:  # -sig: a byte-order mark (Windows Notepad) is allowed
            data = json.load(fh)
    except OSError as exc:
        raise PresetError(f"cannot read preset {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise PresetError(f"preset {path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise PresetError(f"preset {path} is nested too deeply to be a preset") from None
    return normalize_preset(data, f"preset {path}")


def write_preset(path: str, preset: dict) -> None:
    """Write a preset atomically (temp file + rename) as readable JSON."""
    data = normalize_preset(preset, f"preset for {path}")
    atomic_write_json(path, data, indent=2)
