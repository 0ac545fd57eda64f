"""Middlebury ``.flo`` optical-flow files (the format of MPI-Sintel's ground truth)."""
from __future__ import annotations

import os

import numpy as np

FLO_MAGIC = 202021.25


def read_flo(path: str | os.PathLike) -> np.ndarray:
    """Return the flow in ``path`` as float32 (H, W, 2): (dx, dy) in pixels."""
    with open(path, "rb") as fh:
        magic = np.fromfile(fh, np.float32, count=1)
        if magic.size != 1 or abs(float(magic[0]) - FLO_MAGIC) > 1e-3:
            raise ValueError(f"{path}: not a Middlebury .flo file (bad magic number)")
        w, h = (int(v) for v in np.fromfile(fh, np.int32, count=2))
        if not (0 < w < 100_000 and 0 < h < 100_000):
            raise ValueError(f"{path}: implausible .flo size {w}x{h}")
        data = np.fromfile(fh, np.float32, count=2 * w * h)
    if data.size != 2 * w * h:
        raise ValueError(f"{path}: truncated .flo file ({data.size} of {2 * w * h} values)")
    return data.reshape(h, w, 2)


def write_flo(path: str | os.PathLike, flow: np.ndarray) -> None:
    """Write a float (H, W, 2) flow as a Middlebury ``.flo`` file."""
    flow = np.asarray(flow, np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got {flow.shape}")
    h, w = flow.shape[:2]
    with open(path, "wb") as fh:
        np.array([FLO_MAGIC], np.float32).tofile(fh)
        np.array([w, h], np.int32).tofile(fh)
        flow.tofile(fh)
