"""Filling what a stabilizing warp uncovers, from the neighbouring frames along the motion.

A stabilized frame does not cover its whole canvas: where the shake moved the camera away, nothing of
this frame lands. Replicating the edge pixels there gives stretched bands (which a look then paints
and reverse stabilization brings back into the picture). But after stabilization the frames are
aligned, so that area was seen by other frames of the shot at the same canvas position. Each
uncovered pixel takes, in this order:

1. the latest earlier frame that covered it (a running mosaic of the stabilized shot),
2. the nearest of the next ``lookahead`` frames that covers it (the clip's first frames have no past),
3. a mirror of the frame itself (reflect, never a smear) where no frame of the shot saw it.

Pixels within ``EDGE`` px of a source frame's edge count as uncovered (the resampling kernel reaches
past the edge there). The mosaic is the state a resumed job needs (``checkpoint``); the look-ahead
frames come again with the resumed job.
"""
from __future__ import annotations

import collections
from typing import Deque, Iterator, Optional, Tuple

import numpy as np

EDGE = 2.0  # px: the Lanczos kernel's reach; closer to a source edge counts as uncovered


def coverage(matrix: np.ndarray, source_size: Tuple[int, int], canvas: Tuple[int, int]) -> np.ndarray:
    """bool (h, w) of the canvas: where a warp by ``matrix`` (source -> canvas) lands real source pixels."""
    m = np.asarray(matrix, np.float64).reshape(2, 3)
    inv = np.linalg.inv(np.vstack([m, [0.0, 0.0, 1.0]]))[:2]
    w, h = canvas
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    sx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    sy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    sw, sh = source_size
    return (sx >= EDGE) & (sx <= sw - 1 - EDGE) & (sy >= EDGE) & (sy <= sh - 1 - EDGE)


class Warped:
    """One stabilized frame: its canvas image (and matte), where it is real, and what it rode along."""

    __slots__ = ("payload", "image", "matte", "cover")

    def __init__(self, payload, image: np.ndarray, matte: Optional[np.ndarray], cover: np.ndarray):
        self.payload, self.image, self.matte, self.cover = payload, image, matte, cover


class NeighbourFill:
    def __init__(self, lookahead: int = 8):
        self.lookahead = max(0, int(lookahead))
        self.mosaic: Optional[np.ndarray] = None  # latest real pixel seen at each canvas position
        self.mosaic_matte: Optional[np.ndarray] = None
        self.known: Optional[np.ndarray] = None  # where the mosaic holds something
        self.held = 0  # frames taken in but not handed on yet (look-ahead)

    def run(self, frames: Iterator[Warped]) -> Iterator[Warped]:
        """The frames in order, their uncovered pixels filled (frames are held ``lookahead`` long)."""
        ahead: Deque[Warped] = collections.deque()
        for item in frames:
            ahead.append(item)
            if len(ahead) > self.lookahead:
                out = self._emit(ahead)
                self.held = len(ahead)
                yield out
        while ahead:
            out = self._emit(ahead)
            self.held = len(ahead)
            yield out

    def _emit(self, ahead: Deque[Warped]) -> Warped:
        cur = ahead.popleft()
        image = cur.image.copy()
        matte = None if cur.matte is None else cur.matte.copy()
        holes = ~cur.cover
        sources = []
        if self.known is not None and self.known.shape == holes.shape:
            sources.append((self.known, self.mosaic, self.mosaic_matte))
        sources += [(a.cover, a.image, a.matte) for a in ahead]
        for known, src, src_matte in sources:
            if not holes.any():
                break
            take = holes & known
            image[take] = src[take]
            if matte is not None and src_matte is not None:
                matte[take] = src_matte[take]
            holes &= ~take
        self._remember(cur)
        return Warped(cur.payload, image, matte, cur.cover)

    def _remember(self, cur: Warped) -> None:
        if self.known is None or self.known.shape != cur.cover.shape:
            self.mosaic = np.zeros_like(cur.image)
            self.known = np.zeros(cur.cover.shape, bool)
            self.mosaic_matte = None if cur.matte is None else np.zeros_like(cur.matte)
        self.mosaic[cur.cover] = cur.image[cur.cover]
        if cur.matte is not None:
            if self.mosaic_matte is None:
                self.mosaic_matte = np.zeros_like(cur.matte)
            self.mosaic_matte[cur.cover] = cur.matte[cur.cover]
        self.known |= cur.cover

    def checkpoint(self) -> dict:
        return {"fill_mosaic": self.mosaic, "fill_mosaic_matte": self.mosaic_matte, "fill_known": self.known}

    def restore(self, state: dict) -> None:
        self.mosaic, self.mosaic_matte = state.get("fill_mosaic"), state.get("fill_mosaic_matte")
        known = state.get("fill_known")
        self.known = None if known is None else np.asarray(known, bool)
