"""What the temporal stage carries from one frame to the next, as a checkpoint a resumed job starts from.

The recursive blend needs the previous frame's source and output; keyframe mode the last keyframe's
output and source (a checkpoint exists only right after a keyframe: the frames between two keyframes
depend on the next one); deflicker its smoothed colour offset; the clip's flicker figure its running
errors. With this state restored, a resumed job computes exactly what the uninterrupted one would have
(see ``StageRun.checkpoint``). Holds and in-betweens (``hold``, ``interpolate``) keep no checkpoint.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from kino_addon.protocol.errors import INVALID_PARAMS

from ..base import StageError

COUNTERS = ("frames_stylized", "frames")


def checkpoint(run) -> Optional[dict]:
    if run.timing.active:
        return None  # holds / in-betweens: a resume starts the clip again (exact, not faster)
    run.figure.flush()
    run.prov["figure"] = run.figure.summary()
    state = {"mode": run.mode, "carry_src": run.carry["src"], "carry_out": run.carry["out"]}
    if run.keyframes is not None:
        key = run.keyframes.checkpoint()
        if key is None:
            return None
        state.update(key)
    if run.deflicker is not None:
        df = run.deflicker
        state.update(deflicker_offset=df._state, deflicker_n=df._n, deflicker_src=run.deflicker_src)
    fig = run.figure
    prev = fig._prev or (None, None, None)
    state.update(figure_out=prev[0], figure_src=prev[1], figure_work=prev[2],
                 figure_out_errors=np.asarray(fig.out_errors, np.float64),
                 figure_src_errors=np.asarray(fig.src_errors, np.float64))
    state.update({f"prov_{k}": run.prov[k] for k in COUNTERS})
    return state


def _image(state: dict, key: str, shape: Optional[tuple]) -> Optional[np.ndarray]:
    """An image of the state, checked to be one at least ``shape`` large (the frames the stage sees may
    be larger than the job's: an expanded stabilize canvas). ``shape`` None: any size (the flicker
    figure's copies are scaled to its own size from that canvas, whose aspect ratio is not the job's)."""
    value = state.get(key)
    if value is None:
        return None
    image = isinstance(value, np.ndarray) and value.ndim in (2, 3) and min(value.shape[:2]) >= 1
    if not image or (shape is not None and (value.shape[0] < shape[0] or value.shape[1] < shape[1])):
        raise StageError(INVALID_PARAMS, f"the resume state's {key} is not an image of these frames",
                         stage="temporal")
    return value


def restore(run, state: dict) -> None:
    if state.get("mode") != run.mode:
        raise StageError(INVALID_PARAMS, f"the resume state was made in temporal mode {state.get('mode')!r}, "
                         f"this job runs {run.mode!r}", stage="temporal")
    shape = (run.ctx.height, run.ctx.width)
    run.carry = {"src": _image(state, "carry_src", shape), "out": _image(state, "carry_out", shape)}
    if run.mode != "per-frame":
        from .keyframes import KeyframeScheduler

        run.keyframes = KeyframeScheduler(run)
        if state.get("key_out") is not None:
            run.keyframes.restore({"key_out": _image(state, "key_out", shape),
                                   "key_src": _image(state, "key_src", shape)})
    if run.deflicker is not None and state.get("deflicker_offset") is not None:
        run.deflicker._state = np.asarray(state["deflicker_offset"], np.float32)
        run.deflicker._n = int(state.get("deflicker_n") or 0)
        run.deflicker_src = _image(state, "deflicker_src", shape)
    fig = run.figure  # keeps the working-size source and copies at its own size
    out, src, work = (_image(state, key, None) for key in ("figure_out", "figure_src", "figure_work"))
    if out is not None and src is not None and out.shape[:2] != src.shape[:2]:
        raise StageError(INVALID_PARAMS, "the resume state's figure_out and figure_src differ in size",
                         stage="temporal")
    fig._prev = None if out is None or src is None or work is None else (out, src, work)
    fig.out_errors = [float(v) for v in np.ravel(state.get("figure_out_errors", ()))]
    fig.src_errors = [float(v) for v in np.ravel(state.get("figure_src_errors", ()))]
    for k in COUNTERS:
        run.prov[k] = int(state.get(f"prov_{k}") or 0)
