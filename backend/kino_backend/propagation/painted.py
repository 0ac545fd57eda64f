"""The artist's painted keyframes: a folder of ``frame_NNNN.png`` named by the clip's frame number
(the numbering ``scripts/kino stylize`` writes and "Export Frames for Painting" uses)."""
from __future__ import annotations

import os
import re
from typing import Dict, Iterable, List, Optional

import cv2
import numpy as np

from kino_addon.core.image_size import image_size

NAME = re.compile(r"^frame_(\d{4,})\.png$", re.IGNORECASE)
OTHER_FORMAT = re.compile(r"^frame_(\d{4,})\.(jpe?g|tiff?|bmp|exr|webp|tga|psd|kra|xcf)$", re.IGNORECASE)


class KeyframeError(ValueError):
    """Unusable keyframes; the message says what to change."""


def _read(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise KeyframeError(f"cannot read the painted keyframe {path} (damaged or not a PNG); save it again "
                            "as an 8-bit RGB PNG")
    if img.dtype == np.uint16:
        img = np.clip(np.rint(img / 257.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


class PaintedKeyframes:
    """The keyframes in ``folder``: ``numbers`` (sorted clip frame numbers) and ``image(number, source)``.

    Images are read when asked for (a long clip's keyframes never all sit in memory). A keyframe saved
    with transparency is laid over the frame's source where it is transparent.
    """

    def __init__(self, folder: Optional[str]):
        if not folder:
            raise KeyframeError("no keyframes folder given: set keyframes.dir to the folder of painted frames "
                                "(frame_NNNN.png, numbered by the clip's frames; Export Frames for Painting "
                                "writes them)")
        folder = os.path.abspath(os.path.expanduser(folder))
        if not os.path.isdir(folder):
            raise KeyframeError(f"the keyframes folder {folder} does not exist; export frames for painting "
                                "first, or point keyframes.dir at the painted frames")
        self.folder = folder
        self.paths: Dict[int, str] = {}
        for name in sorted(os.listdir(folder)):
            m = NAME.match(name)
            if m and os.path.isfile(os.path.join(folder, name)):
                self.paths[int(m.group(1))] = os.path.join(folder, name)
        if not self.paths:
            other = sorted(n for n in os.listdir(folder) if OTHER_FORMAT.match(n))
            hint = (f"; {', '.join(other[:3])}{' ...' if len(other) > 3 else ''} must be saved as PNG (same name, "
                    ".png)" if other else "")
            raise KeyframeError(f"no painted keyframes in {folder}: it needs at least one frame_NNNN.png "
                                f"(NNNN = the clip's frame number, e.g. frame_0001.png){hint}")
        self.numbers: List[int] = sorted(self.paths)

    def check(self, clip_total: int, width: int, height: int, used: Iterable[int]) -> List[int]:
        """Validate against the clip; returns the keyframe numbers the job will use (those in ``used``).

        Numbers outside 1..clip_total, sizes other than the clip's, or no keyframe among the frames
        being made raise ``KeyframeError``.
        """
        outside = [n for n in self.numbers if not 1 <= n <= clip_total]
        if outside:
            raise KeyframeError(f"painted keyframe(s) {', '.join(self._name(n) for n in outside[:5])} in "
                                f"{self.folder} lie outside the clip, which has frames 1-{clip_total}; rename "
                                "them to the clip's frame numbers or remove them")
        for n in self.numbers:
            h, w = self._size(n)
            if (w, h) != (width, height):
                raise KeyframeError(f"painted keyframe {self._name(n)} is {w}x{h} but the clip is {width}x{height}; "
                                    "paint over the exported frame at the clip's size (or scale it back to "
                                    f"{width}x{height})")
        used = set(used)
        chosen = [n for n in self.numbers if n in used]
        if not chosen:
            raise KeyframeError(f"none of the painted keyframes ({', '.join(map(str, self.numbers[:8]))}) lies "
                                f"within the frames being stylized ({min(used)}-{max(used)}); paint a frame "
                                "in that range or stylize the frames around your keyframes")
        return chosen

    def _name(self, n: int) -> str:
        return os.path.basename(self.paths[n])

    def _size(self, n: int):
        """(height, width) from the PNG header (the image itself only when the header is unusual)."""
        size = image_size(self.paths[n])
        return (size[1], size[0]) if size else _read(self.paths[n]).shape[:2]

    def image(self, number: int, source: Optional[np.ndarray] = None) -> np.ndarray:
        """The painted frame (uint8 RGB), exactly as saved; an RGBA frame is laid over ``source``."""
        img = _read(self.paths[number])
        if img.shape[2] == 4:
            rgb, alpha = img[..., :3], img[..., 3:]
            if source is None or int(alpha.min()) == 255:
                return np.ascontiguousarray(rgb)
            a = alpha.astype(np.float32) / 255.0
            out = rgb.astype(np.float32) * a + source.astype(np.float32) * (1.0 - a)
            return np.clip(out + 0.5, 0, 255).astype(np.uint8)
        return img
