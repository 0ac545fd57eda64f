"""Helpers for the painted-keyframes, timing and in-between tests: footage, synthetic clips, a
deterministic "painting", running a workflow."""
from __future__ import annotations

import os
from typing import List

import cv2
import numpy as np
import pytest

from kino_backend.stages.base import Frame, JobContext
from kino_backend.workflow import Pipeline, validate_workflow

FOOTAGE = os.environ.get("KINO_FOOTAGE") or \
    os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "footage"))


def footage(name: str) -> str:
    path = os.path.join(FOOTAGE, name)
    if not os.path.exists(path):
        pytest.skip(f"shared footage not found at {path} (tests read ../shared/footage next to the repository)")
    return path


def real_clip(name: str, count: int, width: int, start: int = 0) -> List[np.ndarray]:
    from kino_backend.benchmarks._clips import excerpt

    return excerpt(footage(name), start, count, width)


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """A colourful random texture with fine detail (for flow to lock onto, and to see blur)."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, size=(h // 4 + 1, w // 4 + 1, 3)).astype(np.float32)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(img, 0, 255).astype(np.uint8)


def pan_clip(n: int, h: int = 72, w: int = 96, dx: float = 1.5, dy: float = 0.5, seed: int = 0) -> List[np.ndarray]:
    """A camera panning over a large texture by (dx, dy) px per frame."""
    big = texture(h + int(abs(dy) * n) + 16, w + int(abs(dx) * n) + 16, seed)
    out = []
    for i in range(n):
        m = np.float32([[1, 0, -dx * i - 4], [0, 1, -dy * i - 4]])
        out.append(cv2.warpAffine(big, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return out


def paint(image: np.ndarray) -> np.ndarray:
    """A deterministic 'painting' of a frame: colours remapped and posterized softly."""
    img = image.astype(np.float32)
    out = np.stack([255 - img[..., 2], 0.5 * img[..., 0] + 60, 0.8 * img[..., 1]], axis=2)
    return np.clip(np.round(out / 8) * 8, 0, 255).astype(np.uint8)


def write_keyframes(folder, frames, numbers, painter=paint) -> dict:
    """Write painted frames ``numbers`` (1-based clip numbers) as frame_NNNN.png; returns {n: image}."""
    os.makedirs(folder, exist_ok=True)
    out = {}
    for n in numbers:
        img = painter(frames[n - 1])
        cv2.imwrite(os.path.join(str(folder), f"frame_{n:04d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        out[n] = img
    return out


def run_workflow(workflow: dict, frames: List[np.ndarray], options=None):
    """Run a workflow over frames as a job does; returns (output Frames, provenance)."""
    wf = validate_workflow(workflow)
    h, w = frames[0].shape[:2]
    ctx = JobContext(job_id="t", frames_total=len(frames), width=w, height=h, options=dict(options or {}))
    with Pipeline(wf, ctx) as pipe:
        out = list(pipe.run(Frame(i + 1, f, f.copy()) for i, f in enumerate(frames)))
    return out, ctx.provenance


def keyframes_workflow(folder, **temporal) -> dict:
    from kino_backend.presets import workflow_for_look

    wf = workflow_for_look("keyframes")
    wf["stages"][0]["params"]["dir"] = str(folder)
    wf["stages"][1]["params"].update(temporal)
    return wf


def psnr(a, b) -> float:
    from kino_backend.benchmarks._clips import psnr as _psnr

    return _psnr(a, b)
