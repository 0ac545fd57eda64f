"""Built-in looks (``presets/<look>.json``) and the catalogue sent in ``session.hello``.

Each built-in look is a workflow preset (format in ``kino_addon.protocol.preset_format``). A preset whose
look stage is not registered, or that is broken, is left out of the catalogue and logged, so one
bad file never takes the backend down.
"""
from __future__ import annotations

import glob
import logging
import os
from typing import Dict, List, Optional, Tuple

from kino_addon.protocol.preset_format import (PRESET_VERSION, PresetError, normalize_preset, preset_from_workflow,
                                         read_preset, workflow_from_preset, write_preset)

from .stages import all_stages
from .stages.base import Stage

log = logging.getLogger("kino.presets")
PRESETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets")

__all__ = ["PRESET_VERSION", "PresetError", "builtin_presets", "catalogue", "look_names", "load_user_preset",
           "save_user_preset", "workflow_for_look", "preset_from_workflow", "normalize_preset"]


def _look_stage(preset: dict, registry: Dict[str, Stage]) -> Optional[Stage]:
    for entry in preset["stages"]:
        stage = registry.get(entry["name"])
        if entry["enabled"] and stage is not None and stage.role == "look":
            return stage
    return None


def builtin_presets(registry: Optional[Dict[str, Stage]] = None,
                    folder: Optional[str] = None) -> Tuple[Dict[str, dict], List[str]]:
    """``({look name: preset}, [problems])`` for the preset files whose look stage is registered."""
    registry = all_stages() if registry is None else registry
    folder = folder or PRESETS_DIR
    presets: Dict[str, dict] = {}
    problems: List[str] = []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        try:
            preset = read_preset(path)
        except PresetError as exc:
            problems.append(str(exc))
            continue
        missing = [e["name"] for e in preset["stages"] if e["name"] not in registry]
        if missing or _look_stage(preset, registry) is None:
            problems.append(f"preset {os.path.basename(path)}: " + (
                f"stage(s) {', '.join(missing)} not registered" if missing else "no enabled look stage"))
            continue
        presets[preset["look"]] = preset
    for problem in problems:
        log.warning("look left out: %s", problem)
    return presets, problems


def look_names(registry: Optional[Dict[str, Stage]] = None) -> List[str]:
    return sorted(builtin_presets(registry)[0])


def catalogue(registry: Optional[Dict[str, Stage]] = None) -> dict:
    """``{"looks": [...], "stages": [...]}`` as sent in ``session.hello`` and ``looks --json``."""
    registry = all_stages() if registry is None else registry
    presets, problems = builtin_presets(registry)
    looks = []
    for name, preset in sorted(presets.items()):
        look = _look_stage(preset, registry)
        looks.append({"name": name, "label": preset["label"], "help": preset["help"],
                      "stages": [e["name"] for e in preset["stages"]],
                      "params": [p.to_json() for p in look.params],
                      "workflow": workflow_from_preset(preset)})
    stages = [registry[n].spec() for n in sorted(registry)]
    return {"looks": looks, "stages": stages, "problems": problems}


def workflow_for_look(look: str, registry: Optional[Dict[str, Stage]] = None) -> dict:
    """The built-in workflow of a look; ``KeyError`` lists the valid looks."""
    presets, _ = builtin_presets(registry)
    if look not in presets:
        raise KeyError(f"unknown look {look!r}; valid looks: {', '.join(sorted(presets)) or 'none'}")
    return workflow_from_preset(presets[look])


def save_user_preset(path: str, workflow: dict, label: str = "", help: str = "") -> dict:
    """Save a workflow as a user preset (same schema as the built-in looks)."""
    preset = preset_from_workflow(workflow, label, help)
    write_preset(path, preset)
    return preset


def load_user_preset(path: str) -> dict:
    """Read a user preset; a file from a newer Kino is refused with a clear ``PresetError``."""
    return read_preset(path)
