"""A per-clip flow cache: each (frame A, frame B) pair is computed once, keyed by the frames' content."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Tuple

import numpy as np

CTX_KEY = "kino.flow_cache"


def image_key(image: np.ndarray) -> str:
    """A short content hash of an image (shape, dtype and bytes)."""
    arr = np.ascontiguousarray(image)
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{arr.shape}{arr.dtype}".encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


class FlowCache:
    """LRU cache of flows for one backend, bounded by ``max_bytes`` (default 256 MiB: 64 flows at the
    temporal stage's 960x540 working size; a clip's memory stays flat however long it is, and a flow
    pushed out is computed again if asked for, with the same result).

    ``pair(a, b)`` returns ``(forward a->b, backward b->a)``; ``flow(a, b)`` only the forward one.
    ``computed`` counts the flows actually calculated (tests check reuse with it).
    """

    def __init__(self, backend, max_bytes: int = 256 * 2**20):
        self.backend = backend
        self.max_bytes = int(max_bytes)
        self._items: "OrderedDict[Tuple[str, str, str], np.ndarray]" = OrderedDict()
        self._bytes = 0
        self.computed = 0
        self._lock = threading.RLock()

    def flow(self, a: np.ndarray, b: np.ndarray, *, key_a: str | None = None, key_b: str | None = None) -> np.ndarray:
        key = (getattr(self.backend, "key", self.backend.name), key_a or image_key(a), key_b or image_key(b))
        with self._lock:  # a stage's helper thread may ask at the same time (one flow backend object)
            return self._flow(key, a, b)

    def _flow(self, key: tuple, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        out = self.backend.calc(a, b)
        self.computed += 1
        self._items[key] = out
        self._bytes += out.nbytes
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= old.nbytes
        return out

    def pair(self, a: np.ndarray, b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        ka, kb = image_key(a), image_key(b)
        return self.flow(a, b, key_a=ka, key_b=kb), self.flow(b, a, key_a=kb, key_b=ka)


def flow_cache_for(cache: dict, backend) -> FlowCache:
    """The clip's ``FlowCache`` for ``backend`` kept in a job's ``ctx.cache`` dict (made on first use)."""
    caches = cache.setdefault(CTX_KEY, {})
    key = getattr(backend, "key", backend.name)
    if key not in caches:
        caches[key] = FlowCache(backend)
    return caches[key]
