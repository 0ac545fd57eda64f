"""Stage registry: every module under this package (sub-packages included, e.g. ``classic/toon.py``)
that defines ``STAGES`` (a list of ``Stage`` instances) contributes them. A new stage is a new module
(or a new package with its helpers beside it); nothing here changes. See docs/adding-a-look.md."""
from __future__ import annotations

import importlib
import pkgutil
from typing import Dict

from .base import Stage

_REGISTRY: Dict[str, Stage] = {}


def _stage_modules():
    """Every module of this package, sub-packages walked, in a stable order (``base`` skipped)."""
    infos = pkgutil.walk_packages(__path__, prefix=f"{__name__}.")
    for info in sorted(infos, key=lambda i: i.name):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("_") or info.name == f"{__name__}.base":
            continue
        yield info.name


def all_stages() -> Dict[str, Stage]:
    if not _REGISTRY:
        for name in _stage_modules():
            module = importlib.import_module(name)
            for stage in getattr(module, "STAGES", ()):
                if stage.name in _REGISTRY:
                    raise RuntimeError(f"stage name {stage.name!r} defined twice ({name})")
                _REGISTRY[stage.name] = stage
    return dict(_REGISTRY)


def get_stage(name: str) -> Stage:
    stages = all_stages()
    if name not in stages:
        raise KeyError(name)
    return stages[name]
