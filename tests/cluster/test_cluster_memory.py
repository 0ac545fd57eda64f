"""A Kino worker keeps the memory a frame frees for the next frame
(``kino_addon.core.malloc_tuning``: ``keep_freed_memory`` in the backend, the same settings as
environment variables in a Ray worker).

In a Ray worker process glibc's malloc handed every large block back to the kernel when it was freed, so
each frame's arrays were fresh pages: ~1,900 page faults per 320x240 toon frame, 12-20 % of the look's
time. The probe reproduces that state in a plain process (a fixed mmap threshold, as some library in the
Ray worker sets) and checks the fix removes the faults.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc tuning is Linux-only")

PROBE = """
import ctypes, json, resource, sys
import numpy as np
from kino_addon.core import malloc_tuning

libc = ctypes.CDLL("libc.so.6")
libc.mallopt(malloc_tuning.M_MMAP_THRESHOLD, 128 * 1024)  # a fixed threshold: no dynamic growth, as in a Ray worker


def frame():
    a = np.ones((1080, 1920, 3), np.float32)  # 25 MB (a 1080p float frame) touched, then freed, like a look's intermediates
    b = a * 2.0
    c = a + b  # three alive at once: more than one of a thread arena's 64 MiB heaps holds
    del a, b, c


def faults_per_frame(frames=20):
    frame()  # warm up: the heap grows once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(frames):
        frame()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / frames


def in_thread():  # the backend's job thread and a Ray worker's task thread are not the main thread
    import threading
    out = []
    t = threading.Thread(target=lambda: out.append(faults_per_frame()))
    t.start()
    t.join()
    return out[0]


plain = faults_per_frame()
kept = malloc_tuning.keep_freed_memory()
print(json.dumps({"plain": plain, "kept": kept, "after": faults_per_frame(), "thread": in_thread()}))
"""


def test_freed_frame_memory_is_reused_instead_of_faulted_in_again():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    if not got["kept"]:
        pytest.skip("this libc has no mallopt (not glibc): nothing to tune")
    assert got["plain"] > 200  # three 25 MB arrays of fresh pages a frame
    assert got["after"] < 10
    assert got["thread"] < 10


def test_worker_stats_report_page_faults():
    from kino_addon.core.processes import page_faults
    from kino_backend.cluster.worker import WorkerCore

    first = page_faults()
    assert first > 0
    stats = WorkerCore("w").stats()
    assert stats["page_faults"] >= first


RELEASE_PROBE = """
import json
import numpy as np
from kino_addon.core import malloc_tuning

def rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2 ** 20

malloc_tuning.keep_freed_memory()
frames = [np.ones((1080, 1920, 3), np.uint8) for _ in range(60)]  # ~370 MB of buffered 1080p input frames
tail = np.ones(1000, np.uint8)  # something still in use above them: the heap's top cannot shrink
del frames
held = rss_mb()
released = malloc_tuning.release_freed_memory()
print(json.dumps({"held": held, "after": rss_mb(), "released": released}))
"""


def test_an_idle_backend_gives_freed_frames_back():
    """Input frames freed below something still in use stay mapped by malloc (the backend stayed at 2 GB
    after a burst of buffered input); release_freed_memory, run when the last job ends, returns them."""
    out = subprocess.run([sys.executable, "-c", RELEASE_PROBE], capture_output=True, text=True, timeout=60, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    if not got["released"]:
        pytest.skip("this libc has no malloc_trim (not glibc)")
    assert got["held"] > 300 and got["after"] < got["held"] - 250, got
