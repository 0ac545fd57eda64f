"""What a Kino worker runs for one task of a job: the same stage code as the local backend, over a
part of the job's frames (plain Kino code: no Ray here, so tests run it in-process too).

A task is a dict ``{"kind", "job": {job_id, workflow, frames_total, width, height, seed, options},
"frames": [job frame numbers], "skip": [...], ...}`` plus its arrays in order (``args``). It yields
items:

- ``("frame", index, image, matte, meta)``: a frame it made (an output frame, a keyframe, a filled one);
- ``("cuts", [index, ...])``: frames that start a new shot (cut checks);
- ``("record", {...})``: what the driver merges into the job's provenance, last.

Kinds:

- ``pipeline``: the whole workflow (prepare -> schedule/look -> finish) over the frames, exactly as
  the local backend runs a job; frames in ``skip`` are computed but not sent again (a retry); with
  ``packed`` its one argument is the list of the frames' arrays.
- ``cuts``: the prepare stages, then the temporal stage's cut test for each consecutive pair.
- ``keys``: stylize keyframes (looks that ignore ``init``).
- ``span``: fill the frames between two keyframes (``spans.fill_between``), or a segment's tail.
- ``post``: the temporal stage's post pass (smoothing, deflicker, figure) over one keyframe and the
  frames after it, starting from the state the previous part left (``carry``).
"""
from __future__ import annotations

from typing import Iterator, List

import numpy as np

from ..stages.base import Frame, JobContext
from ..stages.temporal.post import pair_errors, post_state, set_post_state
from ..stages.temporal.spans import fill_between
from ..workflow import Pipeline, Workflow, validate_workflow

WORKFLOW_KEY = "kino.cluster.workflow"


def plain_meta(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if isinstance(v, (bool, int, float, str)) or v is None}


def workflow_of(task: dict, ctx: JobContext) -> Workflow:
    """The job's validated workflow, once per job on this worker (kept in the job's cache)."""
    workflow = ctx.cache.get(WORKFLOW_KEY)
    if workflow is None:
        data = dict(task["job"]["workflow"])  # the driver's validated workflow: unset values are None there
        data["stages"] = [dict(s, params={k: v for k, v in s["params"].items() if v is not None})
                          for s in data["stages"]]
        workflow = ctx.cache[WORKFLOW_KEY] = validate_workflow(data)
    return workflow


def run_task(task: dict, args: list, ctx: JobContext) -> Iterator[tuple]:
    """Run one task; yields its items (module docstring)."""
    handler = HANDLERS[task["kind"]]
    with Pipeline(workflow_of(task, ctx), ctx) as pipe:
        yield from handler(task, list(args), pipe, ctx)


def _frames(indices: List[int], arrays: list) -> List[Frame]:
    return [Frame(index=i, source=a, image=np.array(a)) for i, a in zip(indices, arrays)]


def _pipeline(task: dict, args: list, pipe: Pipeline, ctx: JobContext) -> Iterator[tuple]:
    skip = set(task.get("skip") or ())
    if task.get("packed"):  # the chunk's frames as one list
        args = list(args[0])
    stream = pipe.run(iter(_frames(task["frames"], args)))
    try:
        for out in stream:
            ctx.check_cancelled()
            if out.index not in skip:
                yield ("frame", out.index, out.image, out.matte, plain_meta(out.meta))
    finally:
        stream.close()
    sched = pipe.workflow.schedule_step
    run = pipe.runs.get(sched.name) if sched else None
    yield ("record", {"provenance": ctx.provenance, "pairs": pair_errors(run) if hasattr(run, "figure") else None})


def _temporal(pipe: Pipeline):
    return pipe.runs[pipe.workflow.schedule_step.name]


def _cuts(task: dict, args: list, pipe: Pipeline, ctx: JobContext) -> Iterator[tuple]:
    tr = _temporal(pipe)
    prepared = list(pipe.prepare(iter(_frames(task["frames"], args)), include_look=False))
    cuts = []
    for prev, cur in zip(prepared, prepared[1:]):
        ctx.check_cancelled()
        if tr.is_cut_between(np.asarray(prev.image), np.asarray(cur.image)):
            cuts.append(cur.index)
    yield ("cuts", cuts)


def _keys(task: dict, args: list, pipe: Pipeline, ctx: JobContext) -> Iterator[tuple]:
    tr, look = _temporal(pipe), pipe.look
    for f in _frames(task["frames"], args):
        yield ("frame", f.index, tr.stylize(look, f), None, {"keyframe": True})


def _span(task: dict, args: list, pipe: Pipeline, ctx: JobContext) -> Iterator[tuple]:
    tr = _temporal(pipe)
    n = len(task["frames"])
    key0, key1 = args[n], (None if task["tail"] else args[n + 1])
    for f in fill_between(tr, pipe.look, _frames(task["frames"], args[:n]), key0, key1):
        yield ("frame", f.index, f.image, None, {})
    yield ("record", {"fallback_frames": list(tr.prov["fallback_frames"])})


def _post(task: dict, args: list, pipe: Pipeline, ctx: JobContext) -> Iterator[tuple]:
    tr = _temporal(pipe)
    frames, skip = task["frames"], set(task.get("skip") or ())
    n = len(frames)
    srcs, images = args[:n], args[n:2 * n]  # the keyframe's output, then the filled frames
    set_post_state(tr, args[2 * n] if task["carry"] else None)
    tr.prov["cuts"] = list(task["cuts"])
    parts = [Frame(index=index, source=src, image=images[pos],
                   meta={**({"keyframe": True} if pos == 0 else {}), "temporal_source": src})
             for pos, (index, src) in enumerate(zip(frames, srcs))]
    for out in tr.post_pass(iter(parts)):
        ctx.check_cancelled()
        if out.index not in skip:
            yield ("frame", out.index, out.image, None, plain_meta(out.meta))
    yield ("record", {"carry": post_state(tr), "pairs": pair_errors(tr), "temporal": dict(tr.prov)})


HANDLERS = {"pipeline": _pipeline, "cuts": _cuts, "keys": _keys, "span": _span, "post": _post}
#: Kinds whose frames count as frames made for a worker's throughput (a keyframe-mode frame is made
#: once, as a keyframe or a filled frame; cut checks and the post pass are overhead).
COUNTED = {"pipeline", "keys", "span"}
