"""Shared helpers for the temporal tests: footage location, small test looks, running the stage."""
from __future__ import annotations

import os
from typing import List

import cv2
import numpy as np
import pytest

from kino_backend.stages import get_stage
from kino_backend.stages.base import Frame, JobContext, StageRun

FOOTAGE = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "footage"))


def footage(*parts: str) -> str:
    path = os.path.join(FOOTAGE, *parts)
    if not os.path.exists(path):
        pytest.skip(f"shared footage not found at {path} (tests read ../shared/footage next to the repository)")
    return path


class IdentityLook(StageRun):
    """Returns the frame as it is; records the init it was given."""

    def __init__(self):
        self.calls: List[int] = []
        self.inits: List[bool] = []

    def stylize(self, frame, init=None, init_strength=None):
        self.calls.append(frame.index)
        self.inits.append(init is not None)
        return frame.image.copy()


class FlickerLook(IdentityLook):
    """A flickery 'look': colour quantization whose thresholds and brightness jump per frame."""

    def stylize(self, frame, init=None, init_strength=None):
        super().stylize(frame, init, init_strength)
        rng = np.random.default_rng(frame.index)
        offset = rng.uniform(-30, 30, size=3)
        img = frame.image.astype(np.float32) + offset
        q = np.floor(img / 40.0) * 40.0 + 20.0
        return np.clip(q, 0, 255).astype(np.uint8)


def run_stage(frames: List[np.ndarray], look: StageRun, **params):
    """Run the temporal stage over RGB frames; returns (output frames, provenance, the Frame objects)."""
    stage = get_stage("temporal")
    h, w = frames[0].shape[:2]
    ctx = JobContext(job_id="t", frames_total=len(frames), width=w, height=h)
    run = stage.open(stage.validate(params), ctx)
    src = [Frame(i + 1, f, f.copy()) for i, f in enumerate(frames)]
    out = list(run.schedule(iter(src), look))
    return [f.image for f in out], ctx.provenance["temporal"], out


def texture(h: int, w: int, seed: int, colour=(1.0, 1.0, 1.0)) -> np.ndarray:
    """A smooth random texture (for flow to lock onto), tinted by ``colour``."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.uniform(0, 255, size=(h // 8, w // 8)).astype(np.float32), (w, h),
                      interpolation=cv2.INTER_CUBIC)
    base = cv2.GaussianBlur(base, (0, 0), 1.5)
    img = np.clip(base, 0, 255)[..., None] * np.asarray(colour, np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def panning_clip(n: int, h: int = 96, w: int = 128, dx: float = 2.0, seed: int = 0, colour=(1.0, 1.0, 1.0)):
    """``n`` frames of a camera panning right by ``dx`` px per frame over a large texture."""
    big = texture(h, w + int(np.ceil(dx * n)) + 8, seed, colour)
    frames = []
    for i in range(n):
        m = np.float32([[1, 0, -dx * i], [0, 1, 0]])
        frames.append(cv2.warpAffine(big, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return frames


def small_clip(name: str, count: int = 8, width: int = 128) -> List[np.ndarray]:
    from kino_backend.metrics.frames import load_clip

    frames = load_clip(footage(name), count=count)
    h, w = frames[0].shape[:2]
    size = (width, int(round(h * width / w / 2)) * 2)
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
