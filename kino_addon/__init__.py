"""Kino's Blender add-on. This module never imports bpy at import time: the backend imports
``kino_addon.protocol`` from here, and the pure packages (``protocol``, ``core``) are tested without
Blender. ``register``/``unregister`` load the bpy side lazily."""

__version__ = "0.1.0"


def register():
    from .blender import register as _register
    _register()


def unregister():
    from .blender import unregister as _unregister
    _unregister()
