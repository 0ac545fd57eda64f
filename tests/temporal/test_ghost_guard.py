"""ghost_guard: where things move fast and the previous source, carried along the flow, does not match
the current one, the temporal stage blends less of the previous output (no doubled outlines)."""
from __future__ import annotations

import cv2
import numpy as np

from kino_backend.stages.temporal.warp import agreement, residual

from .conftest import IdentityLook, texture
from .test_work_resolution import run_stage


def fast_square_clip(n=6, h=96, w=128, step=14):
    """A textured square crossing a textured background fast (``step`` px a frame)."""
    bg = texture(h, w, 1)
    sq = texture(28, 28, 5, (1.0, 0.4, 0.2))
    frames = []
    for i in range(n):
        f = bg.copy()
        x = 8 + step * i
        f[30:58, x:x + 28] = sq
        frames.append(f)
    return frames


def test_agreement_drops_only_where_fast_motion_leaves_a_residual():
    res = np.zeros((40, 40), np.float32)
    res[10:30, 10:30] = 0.5
    still = np.zeros((40, 40, 2), np.float32)
    fast = np.full((40, 40, 2), 8.0, np.float32)
    assert agreement(res, still).min() == 1.0  # no motion: never distrusted for a residual
    guarded = agreement(res, fast)
    assert guarded[20, 20] < 0.05 and guarded[0, 0] > 0.99
    assert agreement(res, fast, 0.5)[20, 20] == np.float32(1.0 - 0.5 * (1.0 - guarded[20, 20]))
    a = texture(40, 40, 2)
    assert residual(a, a, still).max() < 1e-6


def test_ghost_guard_keeps_the_previous_square_off_the_current_frame():
    clip = fast_square_clip()
    plain = clip  # the pass-through look: any difference to the frame itself is carried-over content
    off, _ = run_stage(clip, {"ghost_guard": 0.0}, IdentityLook())
    on, ctx = run_stage(clip, {"ghost_guard": 1.0}, IdentityLook())
    def worst(out, rows):  # the strongest carried-over content per frame (99th percentile), mean over frames
        diffs = [np.abs(o.astype(np.float32) - p).max(axis=2)[rows] for o, p in zip(out[1:], plain[1:])]
        return float(np.mean([np.percentile(d, 99) for d in diffs]))

    path, still = slice(26, 62), slice(0, 20)  # the square's path; a band of still background
    assert worst(on, path) < 0.8 * worst(off, path)
    assert abs(worst(on, still) - worst(off, still)) < 0.5  # the still background is blended as before
    assert ctx.provenance["temporal"]["frames"] == len(clip)
