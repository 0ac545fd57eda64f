"""Is a process still running? One answer for the add-on (temp-folder sweeping) and the backend
(parent watchdog): a zombie (exited, not yet reaped: in a container nobody may ever reap it) is not,
and on Windows the question never touches the process (``os.kill`` would terminate it there)."""
from __future__ import annotations

import os
import sys
from typing import Optional


def _proc_stat(pid: int) -> list:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); [] without /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return []
    return stat[stat.rfind(b")") + 1:].split()  # the command name may hold spaces and ")"


def zombie(pid: int) -> bool:
    """True when ``pid`` has exited and only waits to be reaped by its parent (state Z or X)."""
    fields = _proc_stat(pid)
    if fields:
        return fields[0] in (b"Z", b"X")
    if sys.platform == "darwin":  # no /proc: ask ps (only while kill() says the pid exists)
        import subprocess
        try:
            out = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return False
        return out.stdout.strip().startswith("Z")
    return False


def start_ticks(pid: int) -> Optional[int]:
    """When ``pid`` started (clock ticks since boot), to tell a reused pid from the one recorded;
    None without /proc."""
    try:
        return int(_proc_stat(pid)[19])  # field 22 of stat: the 20th after the name
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Is process ``pid`` running? A zombie is not."""
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
        pass  # it exists, owned by someone else
    return not zombie(pid)


def page_faults() -> int:
    """Minor page faults of this process so far (0 where the platform does not say: Windows)."""
    try:
        import resource
    except ImportError:
        return 0
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


def peak_rss_mb() -> Optional[float]:
    """This process's peak resident memory in MiB (None where the platform does not say: Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2 ** 20 if sys.platform == "darwin" else 1024.0), 1)  # macOS: bytes; Linux: KiB
