"""The workflow runner in-process, with recording test stages (no real stage files touched)."""
import numpy as np
import pytest

from kino_backend.stages.base import Cancelled, Frame, JobContext, ParamSpec, Stage, StageRun
from kino_backend.workflow import Pipeline, WorkflowError, validate_workflow

LOG = []


def make_stage(name, role, run_methods, params=()):
    run_class = type(f"{name}Run", (StageRun,), dict(run_methods, close=lambda self: LOG.append(("close", name))))
    return type(f"{name}Stage", (Stage,), {"name": name, "role": role, "params": tuple(params),
                                           "run_class": run_class})()


def tagging(name):
    def prepare(self, frames):
        for f in frames:
            LOG.append(("prepare", name, f.index))
            yield f.replace(image=f.image + 1)

    def finish(self, frames):
        for f in frames:
            LOG.append(("finish", name, f.index))
            yield f.replace(image=f.image * 2)
    return {"prepare": prepare, "finish": finish}


def look_stylize(self, frame, init=None, init_strength=None):
    LOG.append(("look", frame.index))
    if frame.index == self.params["fail_at"]:
        raise KeyError("boom")
    return frame.image + 10


def schedule(self, frames, look):
    for f in frames:
        LOG.append(("schedule", f.index))
        yield f.replace(image=look.stylize(f), meta={"scheduled": True})


REGISTRY = {
    "a": make_stage("a", "prepare", tagging("a"), [ParamSpec("k", "int", 1, "k", min=0, max=5)]),
    "b": make_stage("b", "prepare", tagging("b")),
    "look": make_stage("look", "look", {"stylize": look_stylize}, [ParamSpec("fail_at", "int", 0, "f", min=0)]),
    "none": make_stage("none", "look", {"stylize": lambda self, f, *a: f.image.copy()}),
    "sched": make_stage("sched", "schedule", {"schedule": schedule}),
    "sched2": make_stage("sched2", "schedule", {"schedule": schedule}),
}


def wf(*stages, look="look"):
    return {"version": 1, "look": look, "stages": [s if isinstance(s, dict) else {"name": s} for s in stages]}


def run(workflow, n=2, cancel_after=None):
    LOG.clear()
    w = validate_workflow(workflow, known_looks=[], registry=REGISTRY)
    state = {"n": 0}
    ctx = JobContext(job_id="j", frames_total=n, width=2, height=1,
                     is_cancelled=lambda: cancel_after is not None and state["n"] >= cancel_after)
    src = (Frame(i, np.zeros((1, 2, 3), np.uint8), np.zeros((1, 2, 3), np.uint8)) for i in range(1, n + 1))
    out = []
    with Pipeline(w, ctx) as pipe:
        for f in pipe.run(src):
            state["n"] += 1
            out.append(f)
    return out


def test_prepare_in_order_schedule_then_finish_in_reverse():
    out = run(wf("a", "b", "look", "sched"), n=1)
    steps = [e[:2] for e in LOG]
    assert steps == [("prepare", "a"), ("prepare", "b"), ("schedule", 1), ("look", 1), ("finish", "b"),
                     ("finish", "a"), ("close", "sched"), ("close", "look"), ("close", "b"), ("close", "a")]
    assert int(out[0].image[0, 0, 0]) == (0 + 1 + 1 + 10) * 2 * 2 and out[0].meta == {"scheduled": True}


def test_plain_schedule_and_disabled_stages():
    out = run(wf("a", {"name": "b", "enabled": False}, "look", {"name": "sched", "enabled": False}), n=2)
    assert ("schedule", 1) not in LOG and not any(e[1] == "b" for e in LOG if e[0] != "close")
    assert [f.index for f in out] == [1, 2] and int(out[0].image[0, 0, 0]) == (1 + 10) * 2


def test_none_look_ignores_the_schedule_stage():
    out = run(wf("none", "sched", look="none"), n=2)
    assert not any(e[0] == "schedule" for e in LOG) and int(out[1].image.max()) == 0


def test_close_is_called_when_a_stage_fails_and_the_failure_says_where():
    with pytest.raises(KeyError) as info:
        run(wf("a", {"name": "look", "params": {"fail_at": 2}}, "sched"), n=3)
    assert info.value.kino_where == ("look", 2)
    assert {e[1] for e in LOG if e[0] == "close"} == {"a", "look", "sched"}


def test_close_is_called_on_cancel():
    with pytest.raises(Cancelled):
        run(wf("a", "look"), n=5, cancel_after=1)
    assert [e for e in LOG if e[0] == "look"] == [("look", 1)]
    assert {e[1] for e in LOG if e[0] == "close"} == {"a", "look"}


def test_params_are_filled_and_validated():
    w = validate_workflow(wf({"name": "a", "params": {"k": "3"}}, "look"), known_looks=[], registry=REGISTRY)
    assert w.to_json()["stages"] == [{"name": "a", "enabled": True, "params": {"k": 3}},
                                     {"name": "look", "enabled": True, "params": {"fail_at": 0}}]


@pytest.mark.parametrize("workflow, key", [
    (wf("a", "look", "look"), "look"),
    (wf("a"), "workflow.stages"),
    (wf("look", "none"), "workflow.stages"),
    (wf("look", "sched", "sched2"), "workflow.stages"),
    (wf({"name": "a", "params": {"k": 9}}, "look"), "a.k"),
    (wf({"name": "a", "params": {"zz": 1}}, "look"), "a.zz"),
    (wf({"name": "a", "enabled": "yes"}, "look"), "a.enabled"),
    (wf({"name": "a", "params": [1]}, "look"), "a.params"),
    ({"version": 1, "look": "look", "stages": "a"}, "workflow.stages"),
    ({"version": 3, "look": "look", "stages": [{"name": "look"}]}, "workflow.version"),
    ({"version": 1, "look": "other", "stages": [{"name": "look"}]}, "workflow.look"),
    ("nope", "workflow"),
])
def test_invalid_workflows(workflow, key):
    with pytest.raises(WorkflowError) as info:
        validate_workflow(workflow, known_looks=[], registry=REGISTRY)
    assert key in info.value.fields, info.value.fields


def test_all_bad_fields_are_reported_at_once():
    with pytest.raises(WorkflowError) as info:
        validate_workflow(wf({"name": "a", "params": {"k": 9, "zz": 1}}, {"name": "look", "params": {"fail_at": -1}}),
                          known_looks=[], registry=REGISTRY)
    assert set(info.value.fields) == {"a.k", "a.zz", "look.fail_at"}


def test_oversized_provenance_is_trimmed_to_fit_the_envelope():
    from kino_backend.jobs import _fit
    small = {"job_id": "j", "stages": {"a": 1}}
    assert _fit(small) is small
    big = {"job_id": "j", "stages": {"a": "x" * 600_000}, "seed": 3}
    fitted = _fit(big)
    assert fitted["seed"] == 3 and "over the" in fitted["stages"]["problem"]
