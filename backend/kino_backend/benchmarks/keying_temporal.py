"""The temporal part of ``bench keying``: how much the matte's edges chatter from frame to frame on a
real green-screen clip, keyed frame by frame versus with ``matte_smoothing``, and what it costs.

Edge flicker = mean |matte(t) - matte(t-1) warped to t| over the matte's soft edges (0.02 < alpha <
0.98, dilated 2 px) where the DIS flow of the plates passes its forward-backward check: what moves with
the picture is not flicker, what changes on its own is.
"""
from __future__ import annotations

import time
from typing import List, Sequence

import cv2
import numpy as np


def edge_flicker(frames: Sequence[np.ndarray], mattes: Sequence[np.ndarray]) -> float:
    from ..flow.dis import DISFlow
    from ..stages.temporal.warp import reliability, warp
    flow = DISFlow()
    errs = []
    for t in range(1, len(frames)):
        back, fwd = flow.calc(frames[t], frames[t - 1]), flow.calc(frames[t - 1], frames[t])
        soft = ((mattes[t] > 0.02) & (mattes[t] < 0.98)).astype(np.uint8)
        mask = (reliability(back, fwd) > 0.5) & (cv2.dilate(soft, np.ones((5, 5), np.uint8)) > 0)
        if mask.any():
            errs.append(float(np.abs(mattes[t] - warp(mattes[t - 1], back))[mask].mean()))
    return float(np.mean(errs)) if errs else 0.0


def keyed(frames: Sequence[np.ndarray], key, strength: float) -> tuple:
    """(mattes, CPU ms per frame) keying ``frames`` in order with ``matte_smoothing=strength``."""
    from ..keying import KeyParams, pull_key
    from ..keying.temporal import MatteSmoother
    smoother = MatteSmoother(strength)
    t0 = time.process_time()
    mattes = [smoother(f, pull_key(f, key, KeyParams()).matte) for f in frames]
    return mattes, 1000.0 * (time.process_time() - t0) / max(1, len(frames))


def bench_temporal(frames: List[np.ndarray], key, strength: float = 0.5) -> dict:
    raw, raw_ms = keyed(frames, key, 0.0)
    smooth, smooth_ms = keyed(frames, key, strength)
    a, b = edge_flicker(frames, raw), edge_flicker(frames, smooth)
    return {"frames": len(frames), "size": list(frames[0].shape[1::-1]), "matte_smoothing": strength,
            "edge_flicker_per_frame_key": round(a, 5), "edge_flicker_smoothed": round(b, 5),
            "ratio": round(b / a, 3) if a else None, "ms_per_frame_key": round(raw_ms, 1),
            "ms_per_frame_smoothed": round(smooth_ms, 1)}
