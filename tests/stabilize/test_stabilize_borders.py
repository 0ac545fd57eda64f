"""Reverse stabilization never shows stretched pixels at the frame borders: on real hand-held footage
(handheld_seattle) under the paint look, the restored frames and the stabilized frames have no bands of
repeated rows/columns at any border; the old replicate border does (so the measure can fail)."""
import os

import cv2
import numpy as np
import pytest

from kino_backend import stabilize_metrics as sm
from kino_backend.stages.base import Frame, JobContext
from kino_backend.workflow import Pipeline, validate_workflow

FOOTAGE = os.environ.get("KINO_FOOTAGE") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared",
                                                         "footage")


def stretched_band(image: np.ndarray, depth: int = 40) -> int:
    """Widest run of rows/columns at a border that repeat their neighbour (mean change < 0.5 level):
    what replicating edge pixels leaves. Real footage and looks change from line to line."""
    img = image.astype(np.float32)
    sides = [img[:, :depth].transpose(1, 0, 2), img[:, ::-1][:, :depth].transpose(1, 0, 2), img[:depth],
             img[::-1][:depth]]
    widest = 0
    for lines in sides:
        n = 0
        while n + 1 < depth and np.abs(lines[n + 1] - lines[n]).mean() < 0.5:
            n += 1
        widest = max(widest, n)
    return widest


def seattle(count=12, width=320):
    path = os.path.join(FOOTAGE, "handheld_seattle.avi")
    if not os.path.exists(path):
        pytest.skip(f"real footage not found at {path} (../shared/footage is absent)")
    frames = sm.read_frames(path, limit=count)
    h, w = frames[0].shape[:2]
    return [cv2.resize(f, (width, int(h * width / w) // 2 * 2), interpolation=cv2.INTER_AREA) for f in frames]


def run(frames, matrices, look="paint", **stab):
    flow = {"version": 1, "look": look, "stages": [{"name": "stabilize", "params": stab}, {"name": look}]}
    h, w = frames[0].shape[:2]
    ctx = JobContext(job_id="b", frames_total=len(frames), width=w, height=h,
                     options={"stabilize": {"matrices": np.asarray(matrices).tolist()}})
    with Pipeline(validate_workflow(flow), ctx) as pipe:
        return [f.image for f in pipe.run(Frame(i + 1, f, f.copy()) for i, f in enumerate(frames))]


def matrices_for(frames):
    """Stabilizing transforms of a hand-held shot: each frame moved back onto the first (a camera
    lock), from the shot's own measured motion (the tracker does the same in Blender)."""
    path = sm.trajectory(frames)  # where the content of frame 1 went, per frame (px)
    return np.array([[[1.0, 0.0, -dx], [0.0, 1.0, -dy]] for dx, dy in path])


def test_no_stretched_bands_on_handheld_footage():
    frames = seattle()
    mats = matrices_for(frames)
    shift = np.abs(mats[:, :, 2]).max()
    assert shift > 4, f"the shot should move several px (got {shift:.1f}); the test needs a real shake"
    old = [stretched_band(f) for f in run(frames, mats, border="replicate", canvas="source")]
    assert max(old) >= 4, old  # the measure sees the smear the old default made
    restored = [stretched_band(f) for f in run(frames, mats)]
    assert max(restored) <= 1, restored
    stabilized = [stretched_band(f) for f in run(frames, mats, look="none", restore=False)]
    assert max(stabilized) <= 1, stabilized


def test_fill_takes_real_pixels_from_the_neighbours():
    frames = seattle(8)
    mats = matrices_for(frames)
    filled = run(frames, mats, look="none", restore=False)
    mirrored = run(frames, mats, look="none", restore=False, border="reflect")
    from kino_backend.stages.stabilize_fill import coverage
    h, w = frames[0].shape[:2]
    k = int(np.argmax(np.abs(mats[:, 0, 2]) + np.abs(mats[:, 1, 2])))
    holes = ~coverage(mats[k], (w, h), (w, h))
    assert holes.sum() > 200
    ref = run(frames, mats, look="none", restore=False, border="black", canvas="source")
    # the other frames of the aligned shot saw that area: the fill agrees with them, a mirror does not
    total, count = np.zeros((h, w, 3), np.float32), np.zeros((h, w, 1), np.float32)
    for i, r in enumerate(ref):
        if i != k:
            real = coverage(mats[i], (w, h), (w, h))[..., None]
            total += r.astype(np.float32) * real
            count += real
    seen = holes & (count[..., 0] > 0)
    assert seen.sum() > 100
    others = total / np.maximum(count, 1)
    err_fill = np.abs(filled[k].astype(np.float32) - others)[seen].mean()
    err_mirror = np.abs(mirrored[k].astype(np.float32) - others)[seen].mean()
    assert err_fill < 0.5 * err_mirror, (err_fill, err_mirror)
