"""The classic looks (OpenCV, no model weights): toon, paint, pencil, watercolor, and their shared
image helpers (``common``)."""
