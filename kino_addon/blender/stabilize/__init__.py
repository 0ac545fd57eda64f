"""Reverse stabilization: Blender's tracker driven headless (``tracking``), the transforms a job
sends (``transforms``), compositor trees the artist can adjust (``trees``, ``ops``), the panel's
Stabilize switch (``panel``) and ``scripts/kino stabilize`` (``command``)."""
