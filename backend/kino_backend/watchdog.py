"""Exit when the parent process (Blender) dies: ``KINO_PARENT_PID`` (docs/protocol.md)."""
from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Callable

log = logging.getLogger("kino.watchdog")


def _zombie(pid: int) -> bool:
    """True when ``pid`` has exited and only waits to be reaped by its parent (state Z or X)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return stat[stat.rindex(b")") + 2:][:1] in (b"Z", b"X")  # the name in () may hold spaces
    except (OSError, ValueError):
        pass
    if sys.platform == "darwin":  # no /proc: ask ps (only while kill() says the pid exists)
        import subprocess
        try:
            out = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return False
        return out.stdout.strip().startswith("Z")
    return False


def pid_alive(pid: int) -> bool:
    """Is process ``pid`` running? A zombie (exited, not yet reaped) is not."""
    if sys.platform == "win32":
        import ctypes
        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x00100000, False, pid)  # SYNCHRONIZE
        if not handle:
            return False
        try:
            return kernel32.WaitForSingleObject(handle, 0) == 0x102  # WAIT_TIMEOUT: still running
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return not _zombie(pid)
    return not _zombie(pid)


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
