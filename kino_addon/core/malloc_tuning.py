"""glibc malloc tuning for the processes that work frame after frame (the backend, a Ray worker); the
page-fault count that shows whether it is needed is ``processes.page_faults``. Pure Python (ctypes), no bpy.

glibc hands a freed block above its mmap threshold (128 KiB, raised on the fly up to 32 MiB in an
ordinary process) back to the kernel at once, and the top of a heap above its trim threshold too; a
thread other than the main one allocates from its own arena, made of 64 MiB heaps that are unmapped
when they empty. The next frame's arrays are then fresh pages the kernel must fault in and zero: a
1080p toon frame on the backend's job thread took 7,000-8,900 page faults (the toon job ~13 % slower
than without them), a 320x240 frame in a Ray worker, where something turns the on-the-fly raising off,
~1,900 (12-20 %). ``keep_freed_memory`` raises both thresholds and puts every thread on the main arena,
so a frame's memory is reused by the next frame (50-700 faults a 1080p frame); memory then stays at the
peak of one frame's working set plus at most ``TRIM_THRESHOLD`` of freed heap at the heap's top, flat
with the clip. Freed blocks below others stay mapped too: ``release_freed_memory`` gives all of them back
when the backend has no job left (a burst of buffered input frames took 2 GB that stayed). Not applied
to Blender's own process: there it removed a third of the faults and none of the time.
"""
from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # glibc's malloc.h
MMAP_THRESHOLD = 32 << 20  # glibc's largest: blocks up to a 1080p float32 RGB frame come from the heap
TRIM_THRESHOLD = 256 << 20  # freed heap memory kept for the next frame, at most this much


# The same settings for a process started with them: a Ray worker, whose task threads exist (each with
# its own arena) before any of Kino's code runs in it, gets them through its runtime environment.
ENV = {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
       "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}


def _libc_function(name: str):
    """The C library's function ``name``, or None (another libc, or none to load)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return getattr(libc, name, None)


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds and use one arena for every thread of this process started
    from now on (the arrays are large and few; the arena lock costs nothing beside the work on them).
    Call it before starting threads. Returns whether they were set (False off glibc: macOS' and
    Windows' allocators have no ``mallopt``)."""
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_ARENA_MAX, 1))
    return all([bool(mallopt(option, value)) for option, value in settings])


def release_freed_memory() -> bool:
    """Give every freed page of the heap back to the kernel (glibc's ``malloc_trim(0)``; the pages stay
    reserved, so nothing moves). For a process that is idle: the next frame faults its pages in again.
    Returns whether it could be called (False off glibc)."""
    trim = _libc_function("malloc_trim")
    if trim is None:
        return False
    trim(0)
    return True
