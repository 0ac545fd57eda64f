"""Where a training job's frames come from: every N-th frame of the selected strips (rendered as the
sequencer shows them, with the Stylize extraction code), or one blank frame when it trains on a folder."""
from __future__ import annotations

import numpy as np

from ...core.lora_training import every_nth
from .. import compat
from ..strips import StripSource


def _fit(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize (strips of another size than the first one; training rescales anyway)."""
    if image.shape[:2] == (height, width):
        return image
    ys = (np.arange(height) * image.shape[0] // height).clip(0, image.shape[0] - 1)
    xs = (np.arange(width) * image.shape[1] // width).clip(0, image.shape[1] - 1)
    return np.ascontiguousarray(image[ys][:, xs])


class StripsReader:
    """Job frame ``n`` (1-based) = the n-th of every ``every``-th timeline frame of each strip, in order.

    State: one ``StripSource`` per strip, ``frames`` [(source, timeline frame)], the size of the first
    strip (the others are fitted to it)."""

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
        self.width, self.height = self.sources[0].width, self.sources[0].height

    def read(self, number: int) -> np.ndarray:
        src, timeline_frame = self.frames[number - 1]
        return _fit(src.read(timeline_frame), self.height, self.width)

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
