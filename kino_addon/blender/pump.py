"""The single timer pump: on Blender's main thread, advance the running jobs one step per tick and
show progress in the sidebar and the status bar. Timers never fire in background mode, where the
operator runs the jobs synchronously instead."""
from __future__ import annotations

import bpy

from .jobs import RUNNER

INTERVAL = 0.01


def _windows():
    wm = getattr(bpy.context, "window_manager", None)
    return list(wm.windows) if wm is not None else []


def show_progress(text) -> None:
    """Status-bar text (None clears it) and a redraw of sequencer areas."""
    for win in _windows():
        try:
            win.workspace.status_text_set(text)
        except (AttributeError, RuntimeError, TypeError):
            pass
        for area in win.screen.areas:
            if area.type == 'SEQUENCE_EDITOR':
                area.tag_redraw()


def pump():
    done = RUNNER.step()
    if done:
        show_progress(None)
        return None
    show_progress(RUNNER.progress_text())
    return INTERVAL


def start() -> None:
    if not bpy.app.timers.is_registered(pump):
        bpy.app.timers.register(pump, first_interval=0.0)


def stop() -> None:
    if bpy.app.timers.is_registered(pump):
        bpy.app.timers.unregister(pump)
