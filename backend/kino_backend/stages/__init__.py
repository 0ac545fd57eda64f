"""Stage registry: every module in this package that defines ``STAGES`` (a list of ``Stage``
instances) contributes them. A new stage is a new module; nothing here changes."""
from __future__ import annotations

import importlib
import pkgutil
from typing import Dict

from .base import Stage

_REGISTRY: Dict[str, Stage] = {}


def all_stages() -> Dict[str, Stage]:
    if not _REGISTRY:
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
            if info.name.startswith("_") or info.name == "base":
                continue
            module = importlib.import_module(f"{__name__}.{info.name}")
            for stage in getattr(module, "STAGES", ()):
                if stage.name in _REGISTRY:
                    raise RuntimeError(f"stage name {stage.name!r} defined twice ({info.name})")
                _REGISTRY[stage.name] = stage
    return dict(_REGISTRY)


def get_stage(name: str) -> Stage:
    stages = all_stages()
    if name not in stages:
        raise KeyError(name)
    return stages[name]
