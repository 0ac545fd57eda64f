"""Process bookkeeping for the local cluster: the descendants of a process, the processes that carry
a cluster's marker in their environment, and stopping them (SIGTERM, then SIGKILL after a grace).

Every process of a local cluster inherits ``KINO_CLUSTER_ID`` from the supervisor, so even a worker
that Ray moved into its own session is found and stopped by that marker. Linux reads ``/proc``;
elsewhere ``ps`` gives the process tree (the marker search needs ``/proc``).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Dict, Iterable, List, Set

MARKER = "KINO_CLUSTER_ID"


def _parents() -> Dict[int, int]:
    """pid -> parent pid of every process."""
    out: Dict[int, int] = {}
    if os.path.isdir("/proc"):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    stat = fh.read().decode(errors="replace")
                out[int(name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
        return out
    text = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "ppid="], capture_output=True, text=True, timeout=10).stdout
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            out[int(parts[0])] = int(parts[1])
    return out


def descendants(pid: int) -> List[int]:
    """Every process below ``pid`` (children first)."""
    children: Dict[int, List[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def marked(cluster_id: str) -> List[int]:
    """Processes whose environment carries ``KINO_CLUSTER_ID=cluster_id`` (Linux)."""
    if not os.path.isdir("/proc") or not cluster_id:
        return []
    return [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) != os.getpid()
            and _carries(int(name), cluster_id) and not zombie(int(name))]


def _carries(pid: int, cluster_id: str) -> bool:
    """``pid``'s environment holds ``KINO_CLUSTER_ID=cluster_id`` (Linux; False when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return f"{MARKER}={cluster_id}".encode() in fh.read().split(b"\0")
    except OSError:
        return False


def belongs_to(pid: int, cluster_id: str) -> bool:
    """``pid`` is a live process of the cluster ``cluster_id`` (its environment carries the marker). An
    address file left by a crash or a reboot names a pid that may now be anyone's (Blender's): only a
    process that carries the marker is ever signalled. Without ``/proc`` (macOS) a live pid is taken."""
    if not pid or not alive(pid):
        return False
    return _carries(pid, cluster_id) if os.path.isdir("/proc") else True


def zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().decode(errors="replace").rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not zombie(pid)


def reap() -> None:
    """Collect exited children (a subreaper inherits orphans)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop(pids: Iterable[int], grace: float) -> Set[int]:
    """SIGTERM ``pids``, wait up to ``grace`` seconds, SIGKILL what is left; returns those killed hard."""
    left = _signal_and_wait([p for p in pids if p != os.getpid()], signal.SIGTERM, grace)
    if left:
        _signal_and_wait(left, signal.SIGKILL, 5.0)
    return set(left)


def _signal_and_wait(pids: List[int], sig: int, wait: float) -> List[int]:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + wait
    while pids and time.monotonic() < deadline:
        reap()
        pids = [p for p in pids if alive(p)]
        if pids:
            time.sleep(0.1)
    return [p for p in pids if alive(p)]


def reap_others(keep: int) -> None:
    """Collect this process's exited children except ``keep`` (its ``Popen`` collects that one)."""
    me = os.getpid()
    for pid, parent in _parents().items():
        if parent == me and pid != keep and zombie(pid):
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
