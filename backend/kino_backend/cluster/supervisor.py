"""``python -m kino_backend.cluster.supervisor ARGS -- RAY_START_ARGS``: the parent of a local Ray head.

It runs ``ray start --head --block ...`` as its child and stays the parent of every process of the
cluster (a child subreaper on Linux: processes whose parent dies are handed to it, not to init). On
SIGTERM or SIGINT, or when ``ray start`` exits, it stops all of them (SIGTERM, then SIGKILL after a
grace) and exits, so ``kino cluster stop`` leaves nothing behind. It runs in its own session with its
output in the cluster's log file.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading

from . import procs

PR_SET_CHILD_SUBREAPER = 36
GRACE = 8.0


def become_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except OSError:
        return False


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ray_args = argv[argv.index("--") + 1:] if "--" in argv else argv
    become_subreaper()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    child = subprocess.Popen([ray, "start", "--head", "--block", *ray_args], stdin=subprocess.DEVNULL)
    print(f"kino cluster supervisor {os.getpid()}: ray start pid {child.pid}", flush=True)
    while not stop.is_set() and child.poll() is None:
        stop.wait(0.5)
        procs.reap_others(child.pid)
    code = child.poll()
    print(f"kino cluster supervisor: stopping (ray start {'exited ' + str(code) if code is not None else 'running'})",
          flush=True)
    left = procs.stop(procs.descendants(os.getpid()), GRACE)
    procs.stop(procs.descendants(os.getpid()), 1.0)  # anything started meanwhile
    print(f"kino cluster supervisor: stopped ({len(left)} killed hard)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
