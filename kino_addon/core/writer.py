"""``FrameWriter``: encode and write result frames on one background thread.

PNG encoding of a large frame takes a few hundred milliseconds (zlib releases the GIL while it
works), so the main thread (Blender's UI) only hands the image over and later collects which frames
are on disk. Each write is atomic (``frame_files.atomic_write_png``): a frame is complete or absent.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import numpy as np

from .frame_files import atomic_write_png
from .plan import frame_path


def write_frame(folder: str, number: int, image: np.ndarray, matte: Optional[np.ndarray] = None) -> None:
    """``frame_NNNN.png``; when a matte came back (a keyed job) the frame carries it as its alpha
    (straight RGBA, ready for Alpha Over) and ``matte/frame_NNNN.png`` holds it alone as well."""
    if matte is not None:
        alpha = np.asarray(matte, np.uint8).reshape(image.shape[0], image.shape[1], 1)
        os.makedirs(os.path.join(folder, "matte"), exist_ok=True)
        atomic_write_png(frame_path(os.path.join(folder, "matte"), number), alpha)
        image = np.concatenate([np.asarray(image)[..., :3], alpha], axis=2)
    atomic_write_png(frame_path(folder, number), image)


def _write(folder: str, number: int, image, matte, after) -> float:
    """Write one frame (and run ``after``); returns the seconds it took."""
    t0 = time.perf_counter()
    if image is not None:
        write_frame(folder, number, image, matte)
    if after is not None:
        after()
    return time.perf_counter() - t0


class FrameWriter:
    """Writes result frames on one background thread. State: the folder, the thread pool (made on the
    first frame), ``_pending`` [(number, future)] in submission order until ``collect`` reports them."""
    def __init__(self, folder: str):
        self.folder = folder
        self._pool: Optional[ThreadPoolExecutor] = None
        self._pending: list = []  # (number, future) in submission order
        self.seconds = 0.0  # time the thread spent encoding and writing the frames collected so far

    def submit(self, number: int, image: Optional[np.ndarray], matte: Optional[np.ndarray] = None,
               after: Optional[Callable[[], None]] = None) -> None:
        """Write frame ``number`` (``image`` None: it is on disk already), then run ``after`` (e.g. save
        the resume checkpoint that belongs to it), in submission order on one thread."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kino-frame-writer")
        self._pending.append((number, self._pool.submit(_write, self.folder, number, image, matte, after)))

    @property
    def pending(self) -> int:
        return len(self._pending)

    def collect(self, wait: bool = False) -> tuple:
        """(numbers written since the last call, first error as (number, OSError) or None)."""
        done, error, keep = [], None, []
        for number, future in self._pending:
            if not wait and not future.done():
                keep.append((number, future))
                continue
            exc = future.exception()
            if exc is None:
                done.append(number)
                self.seconds += future.result()
            elif error is None:
                error = (number, exc)
        self._pending = keep
        if error is not None and not isinstance(error[1], OSError):
            raise error[1]
        return done, error

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
