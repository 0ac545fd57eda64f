"""Exit when the parent process (Blender) dies: ``KINO_PARENT_PID`` (docs/protocol.md)."""
from __future__ import annotations

import logging
import os
import threading
from typing import Callable

from kino_addon.core.processes import pid_alive  # noqa: F401  (one implementation, shared with the add-on)

log = logging.getLogger("kino.watchdog")


def watch_parent(pid: int, on_death: Callable[[], None], interval: float = 0.5) -> threading.Thread:
    """Call ``on_death()`` once ``pid`` is gone. When ``pid`` is our parent, re-parenting counts as
    death too (robust against the pid being reused)."""
    is_parent = hasattr(os, "getppid") and os.getppid() == pid
    stop = threading.Event()

    def loop():
        while not stop.wait(interval):
            gone = (os.getppid() != pid) if is_parent else not pid_alive(pid)
            if gone:
                log.warning("parent process %d is gone; shutting down", pid)
                on_death()
                return

    thread = threading.Thread(target=loop, name="kino-watchdog", daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]
    thread.start()
    return thread
