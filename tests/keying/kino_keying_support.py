"""Helpers shared by the keying tests (a uniquely named module: conftest modules of different
folders shadow each other when all suites run in one pytest session)."""
import os

import cv2
import numpy as np

FOOTAGE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "footage"))


def read_frames(path: str, indices) -> list:
    """RGB frames of a video at the given 0-based indices."""
    cap = cv2.VideoCapture(path)
    out = []
    for i in indices:
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(i))
        ok, bgr = cap.read()
        assert ok, f"could not read frame {i} of {path}"
        out.append(np.ascontiguousarray(bgr[..., ::-1]))
    cap.release()
    return out
