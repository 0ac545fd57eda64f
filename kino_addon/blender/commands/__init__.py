"""Blender-side ``scripts/kino`` commands; each module has ``main(argv) -> int``."""
