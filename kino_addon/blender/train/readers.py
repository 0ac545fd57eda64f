"""Where a training job's frames come from: every N-th frame of the selected strips (rendered as the
sequencer shows them, with the Stylize extraction code), or one blank frame when it trains on a folder."""
from __future__ import annotations

import numpy as np

from ...core.lora_training import every_nth
from .. import compat
from ..strips import StripSource


def square_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The frame's centred square, resized (nearest) to ``size``: what training takes of every image, so
    strips of any shape keep their proportions (a portrait strip among landscape ones was stretched)."""
    h, w = image.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    image = image[y:y + side, x:x + side]
    if side == size:
        return np.ascontiguousarray(image)
    idx = (np.arange(size) * side // size).clip(0, side - 1)
    return np.ascontiguousarray(image[idx][:, idx])


class StripsReader:
    """Job frame ``n`` (1-based) = the n-th of every ``every``-th timeline frame of each strip, in order.

    State: one ``StripSource`` per strip, ``frames`` [(source, timeline frame)]. Every frame goes out as
    its centred square (training's own crop), all at the first strip's shorter side."""

    def __init__(self, scene, strips, every: int):
        self.sources, self.frames = [], []
        try:
            for strip in strips:
                src = StripSource(scene, strip)
                self.sources.append(src)
                self.frames += [(src, t) for t in every_nth(*compat.strip_span(strip), every)]
        except BaseException:
            self.close()
            raise
        self.width = self.height = min(self.sources[0].width, self.sources[0].height)

    def read(self, number: int) -> np.ndarray:
        src, timeline_frame = self.frames[number - 1]
        return square_crop(src.read(timeline_frame), self.width)

    def close(self) -> None:
        for src in self.sources:
            src.close()
        self.sources = []


class BlankReader:
    """One small black frame: a folder-only training job still needs a frame to run."""
    width, height, frames = 64, 64, [None]

    def read(self, number: int) -> np.ndarray:
        return np.zeros((self.height, self.width, 3), np.uint8)

    def close(self) -> None:
        pass
