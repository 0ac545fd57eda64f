"""Helpers for the noise tests (a uniquely named module: several test folders have a conftest)."""
from __future__ import annotations

import os

import numpy as np

# ../shared/footage next to the repository (KINO_FOOTAGE may point elsewhere, e.g. from a git worktree)
FOOTAGE = os.environ.get("KINO_FOOTAGE") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "footage")


def footage(name: str) -> str:
    import pytest
    path = os.path.join(FOOTAGE, name)
    if not os.path.exists(path):
        pytest.skip(f"real footage {name} not found in ../shared/footage")
    return path


def swirl_flow(h: int, w: int, t: int) -> np.ndarray:
    """A smooth made-up flow (pixels): a slow rotation and zoom about the centre plus a drift, varying with t."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w / 2.0, h / 2.0
    ang, zoom = 0.01 * (1 + t % 3), 0.004 * (1 if t % 2 else -1)
    fx = -ang * (yy - cy) + zoom * (xx - cx) + 1.3
    fy = ang * (xx - cx) + zoom * (yy - cy) - 0.6
    return np.stack([fx, fy], axis=2).astype(np.float32)


def translation(h: int, w: int, dx: float, dy: float = 0.0) -> np.ndarray:
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow
