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

from ...flow.scaled import work_size
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


def _image(state: dict, key: str, shape: tuple) -> Optional[np.ndarray]:
    """An image of the state (the frames the stage sees may be larger than the job's: an expanded
    stabilize canvas), checked to be an image at least that large."""
    value = state.get(key)
    if value is None:
        return None
    if not isinstance(value, np.ndarray) or value.ndim not in (2, 3) or value.shape[0] < shape[0] \
            or value.shape[1] < shape[1]:
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
    fig = run.figure
    w, h = work_size(shape[1], shape[0], run.flows.max_side)  # the figure keeps the working-size source
    fw, fh = work_size(w, h, fig.max_side)  # and copies at its own size
    out, src = _image(state, "figure_out", (fh, fw)), _image(state, "figure_src", (fh, fw))
    work = _image(state, "figure_work", (h, w))
    fig._prev = None if out is None or src is None or work is None else (out, src, work)
    fig.out_errors = [float(v) for v in np.ravel(state.get("figure_out_errors", ()))]
    fig.src_errors = [float(v) for v in np.ravel(state.get("figure_src_errors", ()))]
    for k in COUNTERS:
        run.prov[k] = int(state.get(f"prov_{k}") or 0)
