"""Kino's Blender side: a few shared modules and one package per feature.

Shared: ``addon`` (where the add-on lives, versions), ``prefs`` (preferences and the one place they
become job options), ``connection`` (the backend connection), ``strips`` (source strips and their
frames), ``job_pump`` (the single timer that runs every queued job), ``model_picker``, ``panel`` (the
Kino tab's root panel), ``backend_ops`` (start/stop), ``cli`` and ``devload`` (command line).
Features: ``stylize``, ``stabilize``, ``keying``, ``train``; each holds its operators (``ops``), its
part of the panel (``panel``), its queued job (``*_job``) and its command (``command``).

``register()`` registers the ``CLASSES`` tuple of every module that has one and then runs its
``on_register()`` (handlers, properties on Blender types); ``unregister()`` does the reverse. Order:
the shared modules (``_FIRST``, then alphabetically), then each feature package's modules
alphabetically; a new feature is a new package, picked up as it is.
"""
from __future__ import annotations

import importlib
import pkgutil

_FIRST = ("prefs", "backend_ops", "job_pump")  # unregistered last: jobs are cancelled before the backend stops
_SKIP = {"cli", "devload"}  # command line only (the CLI must set BLENDER_USER_RESOURCES before bpy starts)
_registered: list = []  # (module, [classes]) in registration order


def _module_names() -> list:
    entries = list(pkgutil.iter_modules(__path__))
    shared = [m.name for m in entries if not m.ispkg and m.name not in _SKIP]
    names = [n for n in _FIRST if n in shared] + sorted(n for n in shared if n not in _FIRST)
    for package in sorted(m.name for m in entries if m.ispkg):
        pkg = importlib.import_module(f"{__name__}.{package}")
        names += [f"{package}.{m.name}" for m in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name)]
    return names


def _discover() -> list:
    modules = [importlib.import_module(f"{__name__}.{name}") for name in _module_names()]
    return [mod for mod in modules if hasattr(mod, "CLASSES") or hasattr(mod, "on_register")]


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
