"""The temporal stage's post pass as the cluster carries it between parts of a clip.

After the keyframes and spans, keyframe mode runs every frame in order through the smoothing blend,
deflicker and the clip's flicker figure (``TemporalRun.post_pass``). Each keeps state from one frame to
the next on the opened stage (``carry``, ``deflicker`` and ``deflicker_src``, ``figure``; the same state
a resumed job restores, state.py). ``post_state`` reads it after one part, ``set_post_state`` puts it
back before the next part on any worker, so the parts give the frames one pass over the whole clip
gives. Hard cuts reset all three, so a part that starts a shot starts from no state.
"""
from __future__ import annotations

from typing import List, Optional

from .figure import ClipFigure


def post_state(run) -> dict:
    """The post pass's state after the last frame it handled (plain arrays and numbers)."""
    run.figure.flush()
    df = run.deflicker
    return {"carry": dict(run.carry), "deflicker": (df._state, df._n) if df is not None else None,
            "deflicker_src": run.deflicker_src, "figure_prev": run.figure._prev}


def set_post_state(run, state: Optional[dict]) -> None:
    """Continue from ``state`` (None: the start of a shot). The figure's errors start empty: each part
    reports its own pairs (``pair_errors``), joined in order by ``merged_figure``."""
    state = state or {}
    run.carry = dict(state.get("carry") or {"src": None, "out": None})
    if run.deflicker is not None:
        run.deflicker._state, run.deflicker._n = state.get("deflicker") or (None, 0)
        run.deflicker_src = state.get("deflicker_src")
    run.figure._prev = state.get("figure_prev")


def pair_errors(run) -> tuple:
    """The figure's per-pair errors (output, source) of this part, in frame order."""
    run.figure.flush()
    return list(run.figure.out_errors), list(run.figure.src_errors)


def merged_figure(flow_name: str, parts: List[tuple]) -> dict:
    """The clip's figure from the per-pair errors of passes over consecutive parts of it, in order."""
    figure = ClipFigure(None, flow_name)
    for out_errors, src_errors in parts:
        figure.out_errors.extend(out_errors)
        figure.src_errors.extend(src_errors)
    return figure.summary()
