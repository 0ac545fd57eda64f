"""Kino's Blender side. ``register()`` registers, in a fixed order, the ``CLASSES`` tuple of every
module of this package that has one (auto-discovered), so other parts (stabilize, keying) add their
operators and panels by adding a module with a ``CLASSES`` tuple.

Order: the modules in ``_FIRST`` (property groups, preferences, core operators, the main panel), then
every other module alphabetically. Within a module, ``CLASSES`` is registered in its own order.
A module may also define ``on_register()`` / ``on_unregister()`` for non-class setup (handlers,
properties on Blender types); they run after its classes are registered / before they are removed.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys

_FIRST = ("props", "prefs", "ops", "panel")
_SKIP = {"cli", "commands", "devload"}  # not part of the running add-on (bpy is imported lazily: the CLI
# must set BLENDER_USER_RESOURCES before bpy starts)
_registered: list = []  # (module, [classes]) in registration order


def _module_names() -> list:
    names = [m.name for m in pkgutil.iter_modules(__path__) if m.name not in _SKIP]
    first = [n for n in _FIRST if n in names]
    return first + sorted(n for n in names if n not in first)


def _discover() -> list:
    modules = []
    for name in _module_names():
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ImportError as exc:  # another part's module with a missing dependency must not block Kino
            print(f"Kino: module {name!r} was not loaded ({exc}); its features are unavailable", file=sys.stderr)
            continue
        if hasattr(mod, "CLASSES") or hasattr(mod, "on_register"):
            modules.append(mod)
    return modules


def register() -> None:
    import bpy
    for mod in _discover():
        done = []
        for cls in getattr(mod, "CLASSES", ()):
            bpy.utils.register_class(cls)
            done.append(cls)
        _registered.append((mod, done))
        hook = getattr(mod, "on_register", None)
        if hook is not None:
            hook()


def unregister() -> None:
    import bpy
    while _registered:
        mod, classes = _registered.pop()
        hook = getattr(mod, "on_unregister", None)
        if hook is not None:
            hook()
        for cls in reversed(classes):
            bpy.utils.unregister_class(cls)
