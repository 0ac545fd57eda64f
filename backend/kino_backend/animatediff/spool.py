"""A clip's arrays held for the length of a job: in memory up to a budget, then in a private temporary
folder (raw ``.npy`` files, read back memory-mapped), so a clip of any length can be buffered."""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Hashable, Optional

import numpy as np

DEFAULT_BUDGET = 2 * 2 ** 30


class Spool:
    def __init__(self, budget_bytes: int = DEFAULT_BUDGET):
        self.budget = int(budget_bytes)
        self.held = 0
        self._mem: dict = {}
        self._disk: dict = {}
        self._dir: Optional[str] = None
        self._files = 0

    def put(self, key: Hashable, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        self.drop(key)
        if self.held + array.nbytes <= self.budget:
            self._mem[key] = array
            self.held += array.nbytes
            return
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="kino-clip-")
        self._files += 1
        path = os.path.join(self._dir, f"{self._files}.npy")
        np.save(path, array)
        self._disk[key] = path

    def get(self, key: Hashable) -> np.ndarray:
        if key in self._mem:
            return self._mem[key]
        return np.load(self._disk[key], mmap_mode="c")

    def __contains__(self, key) -> bool:
        return key in self._mem or key in self._disk

    def drop(self, key: Hashable) -> None:
        if key in self._mem:
            self.held -= self._mem.pop(key).nbytes
        path = self._disk.pop(key, None)
        if path:
            try:
                os.remove(path)
            except OSError:
                pass

    @property
    def on_disk(self) -> int:
        return len(self._disk)

    def close(self) -> None:
        self._mem.clear()
        self._disk.clear()
        self.held = 0
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
