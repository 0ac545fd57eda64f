"""The single timer pump, and how operators hand long operations to it.

Every long operation is a ``core.job_queue.QueuedJob`` in a ``JobQueue`` (stylize, train, composite);
each queue is registered here (``register_queue``). One timer on Blender's main thread advances every
active queue one step per tick, so all file writes and strip changes happen on the main thread, and
shows progress in the status bar and the sequencer sidebar. Timers never fire in background mode:
there ``start_jobs`` runs the jobs to the end before the operator returns.
"""
from __future__ import annotations

import bpy

from ..core.job_queue import JobQueue

INTERVAL = 0.01
QUEUES: list = []


def register_queue(name: str) -> JobQueue:
    """A new queue that the pump advances."""
    queue = JobQueue(name)
    QUEUES.append(queue)
    return queue


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
    """One tick: advance every active queue one step; keep ticking while any is active."""
    for queue in QUEUES:
        if queue.active:
            queue.step()
    texts = [q.progress_text() for q in QUEUES if q.active]
    if not texts:
        show_progress(None)
        return None
    show_progress("  |  ".join(texts))
    return INTERVAL


def start() -> None:
    if not bpy.app.timers.is_registered(pump):
        bpy.app.timers.register(pump, first_interval=0.0)


def stop() -> None:
    if bpy.app.timers.is_registered(pump):
        bpy.app.timers.unregister(pump)


def refuse(op, queue: JobQueue, message: str) -> set:
    """An operator cannot start: report ``message`` and keep it as the queue's last error (the panel shows it)."""
    queue.last_error = message
    op.report({'ERROR'}, message)
    return {'CANCELLED'}


def start_jobs(queue: JobQueue, jobs: list, synchronous: bool = False) -> None:
    """Queue ``jobs``; run them to the end now in background mode or when ``synchronous``, else let the
    pump run them."""
    queue.last_error = ""
    queue.add(jobs)
    if synchronous or bpy.app.background:
        queue.run()
    else:
        start()


def cancel_all() -> None:
    """Cancel every queue's jobs and let them end (finished frames stay on disk)."""
    for queue in QUEUES:
        queue.cancel()
        queue.run()


@bpy.app.handlers.persistent
def _on_load_pre(*_args):
    """Opening another file: the strips being read go away, so cancel (frames stay on disk)."""
    cancel_all()


def on_register():
    if _on_load_pre not in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.append(_on_load_pre)


def on_unregister():
    if _on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load_pre)
    stop()
    cancel_all()
