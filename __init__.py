# Blender requires __init__.py beside blender_manifest.toml: forward to the add-on package.
from .kino_addon import register, unregister  # noqa: F401
