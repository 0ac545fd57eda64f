"""Fixtures for the classic-look tests: a few real frames from ../shared/footage (skipped when absent)."""
from __future__ import annotations

import os

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOOTAGE = os.path.join(os.path.dirname(REPO), "shared", "footage")


def read_frames(name: str, count: int, size: tuple, step: int = 7) -> list:
    """``count`` RGB frames of a clip, every ``step``-th, resized to ``size`` (width, height)."""
    path = os.path.join(FOOTAGE, name)
    if not os.path.exists(path):
        pytest.skip(f"real footage {path} is absent: these tests need ../shared/footage next to the repository")
    cap = cv2.VideoCapture(path)
    frames = []
    try:
        while len(frames) < count:
            for _ in range(step):
                ok, bgr = cap.read()
                if not ok:
                    break
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            frames.append(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
    finally:
        cap.release()
    assert len(frames) == count, f"could read only {len(frames)} frames of {path}"
    return frames


@pytest.fixture(scope="session")
def clip() -> list:
    """Six 256x256 RGB frames of the talking-head clip, 7 frames apart so they really differ."""
    return read_frames("talking_head.mp4", 6, (256, 256))


@pytest.fixture(scope="session")
def consecutive() -> list:
    """Four consecutive 256x256 frames of the handheld park clip (camera shake, foliage)."""
    return read_frames("handheld_park.mp4", 4, (256, 256), step=1)


@pytest.fixture(scope="session")
def odd_frame() -> np.ndarray:
    """One 171x97 frame of the park clip (odd width and height)."""
    return read_frames("handheld_park.mp4", 1, (171, 97))[0]


@pytest.fixture(scope="session")
def talking_consecutive() -> list:
    """Five consecutive 256x256 frames of the talking-head clip (static camera, moving head and hair)."""
    return read_frames("talking_head.mp4", 5, (256, 256), step=1)
