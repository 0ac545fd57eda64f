"""Reading a clip as RGB uint8 frames: a folder of images (its numbered sequence) or a video file."""
from __future__ import annotations

import os
from typing import Iterator, List, Optional, Tuple

import cv2
import numpy as np

from kino_addon.core.media import IMAGE_EXTS, MediaError, image_files, read_outside_blender


def list_images(folder: str) -> List[str]:
    """The folder's image sequence in frame order, as everywhere in Kino (``kino_addon.core.media``:
    a slate or thumbnail beside the numbered frames is left out); [] when it holds no images."""
    try:
        return [os.path.join(folder, n) for n in image_files(folder)]
    except MediaError:
        return []


def read_image(path: str) -> np.ndarray:
    unreadable = read_outside_blender(path)
    if unreadable:
        raise ValueError(unreadable)
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_frames(path: str, *, start: int = 0, count: Optional[int] = None,
                size: Optional[Tuple[int, int]] = None) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames of ``path`` from 0-based ``start``, at most ``count``, resized to
    ``size`` = (width, height) when given (INTER_AREA)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist; give a folder of images or a video file")
    frames = _read_folder(path) if os.path.isdir(path) else _read_video(path)
    n = 0
    for i, frame in enumerate(frames):
        if i < start:
            continue
        if count is not None and n >= count:
            break
        if size is not None and (frame.shape[1], frame.shape[0]) != tuple(size):
            frame = cv2.resize(frame, tuple(size), interpolation=cv2.INTER_AREA)
        n += 1
        yield frame


def _read_folder(folder: str) -> Iterator[np.ndarray]:
    paths = list_images(folder)
    if not paths:
        raise ValueError(f"{folder} holds no images ({', '.join(IMAGE_EXTS)})")
    for p in paths:
        yield read_image(p)


def _read_video(path: str) -> Iterator[np.ndarray]:
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise ValueError(f"cannot open video {path} (OpenCV could not decode it)")
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def load_clip(path: str, **kw) -> List[np.ndarray]:
    return list(read_frames(path, **kw))
