"""``FrameWriter``: encode and write result frames off Blender's main thread.

PNG encoding of a large frame takes a hundred milliseconds or more (zlib releases the GIL while it
works), so the main thread (Blender's UI) only hands the image over and later collects which frames
are on disk. Frames are encoded on up to ``ENCODERS`` threads at once (a 1080p frame arrives faster
than one core encodes it when the look is fast or runs on a GPU or a cluster), and written, each with
its ``after`` callback (the resume checkpoint that belongs to it), on one thread in the order they
were submitted. Each write is atomic (into the folder's ``.partial``, then renamed): a frame is complete
or absent.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, List, Optional, Tuple

import numpy as np

from .frame_files import atomic_write_frame_file
from .plan import frame_path
from .png import encode_png

ENCODERS = max(1, min(4, os.cpu_count() or 1))  # frames encoded at once


def times_alpha(values: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """8-bit ``values`` times an 8-bit ``alpha`` (255 = 1), rounded to nearest: uint8."""
    return ((values.astype(np.uint32) * alpha + 127) // 255).astype(np.uint8)


def encode_frame(folder: str, number: int, image: np.ndarray, matte: Optional[np.ndarray] = None,
                 alpha: Optional[np.ndarray] = None) -> List[Tuple]:
    """The files of frame ``number`` as [(path, PNG bytes)]: ``frame_NNNN.png``, straight RGBA (ready
    for Alpha Over) when a matte came back (a keyed job) or the source frame was transparent
    (``alpha``: its alpha channel), with both the product of the two. A matte is also written alone as
    ``matte/frame_NNNN.png`` (first)."""
    h, w = image.shape[:2]
    if matte is None and alpha is None:
        return [(frame_path(folder, number), encode_png(image))]
    files = []
    if matte is not None:
        matte = np.asarray(matte, np.uint8).reshape(h, w, 1)
        files.append((frame_path(os.path.join(folder, "matte"), number), encode_png(matte)))
    if alpha is not None:
        alpha = np.asarray(alpha, np.uint8).reshape(h, w, 1)
        if matte is not None:
            alpha = times_alpha(matte, alpha)
    rgba = np.concatenate([np.asarray(image)[..., :3], matte if alpha is None else alpha], axis=2)
    files.append((frame_path(folder, number), encode_png(rgba)))
    return files


def write_files(files: List[Tuple]) -> None:
    for path, data in files:
        atomic_write_frame_file(path, data)


def write_frame(folder: str, number: int, image: np.ndarray, matte: Optional[np.ndarray] = None,
                alpha: Optional[np.ndarray] = None) -> None:
    """Encode and write frame ``number`` now (see ``encode_frame``)."""
    write_files(encode_frame(folder, number, image, matte, alpha))


def _encode(folder: str, number: int, image: np.ndarray, matte: Optional[np.ndarray],
            alpha: Optional[np.ndarray]) -> Tuple[List[Tuple], float]:
    t0 = time.perf_counter()
    files = encode_frame(folder, number, image, matte, alpha)
    return files, time.perf_counter() - t0


def _write(encoded: Optional[Future], after) -> float:
    """Write one encoded frame (and run ``after``); returns the seconds spent encoding and writing it."""
    seconds = 0.0
    if encoded is not None:
        files, seconds = encoded.result()
        t0 = time.perf_counter()
        write_files(files)
        seconds += time.perf_counter() - t0
    if after is not None:
        try:
            after()
        except OSError as exc:  # the frame is on disk: say it was what came after it (a resume checkpoint)
            exc.kino_after_frame = True
            raise
    return seconds


class FrameWriter:
    """Writes result frames off the main thread. State: the folder, the encoder threads and the writer
    thread (made on the first frame), ``_pending`` [(number, future)] in submission order until
    ``collect`` reports them."""
    def __init__(self, folder: str):
        self.folder = folder
        self._pool: Optional[ThreadPoolExecutor] = None  # the one writer thread: order of files and checkpoints
        self._encoders: Optional[ThreadPoolExecutor] = None
        self._pending: list = []  # (number, future) in submission order
        self.seconds = 0.0  # encoding and writing time of the frames collected so far (threads' time)

    def submit(self, number: int, image: Optional[np.ndarray], matte: Optional[np.ndarray] = None,
               after: Optional[Callable[[], None]] = None, alpha: Optional[np.ndarray] = None) -> None:
        """Write frame ``number`` (``image`` None: it is on disk already; ``matte``, ``alpha``: see
        ``encode_frame``), then run ``after`` (e.g. save the resume checkpoint that belongs to it), in
        submission order."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kino-frame-writer")
            self._encoders = ThreadPoolExecutor(max_workers=ENCODERS, thread_name_prefix="kino-frame-encoder")
        encoded = None if image is None else self._encoders.submit(_encode, self.folder, number, image, matte, alpha)
        self._pending.append((number, self._pool.submit(_write, encoded, after)))

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
            self._pool.shutdown(wait=True)  # waits for every encoding it writes
            self._encoders.shutdown(wait=True)
            self._pool = self._encoders = None
