"""The cluster's splitting, scheduling, retries and cancel, with workers in this process
(``LocalExecutor``: the driver and the worker code are the real ones, only Ray is left out), against the
local backend's own result for the same job. The real Ray cluster: test_cluster_ray.py."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from cluster_support import make_job, max_diff, run, stack, synthetic_clip, workflow
from kino_backend import jobs
from kino_backend.cluster import RAY_MISSING, connect, executors
from kino_backend.cluster.plan_base import choose_plan
from kino_backend.resources import Resources
from kino_backend.workflow import validate_workflow


@pytest.fixture
def workers(monkeypatch):
    """``options.cluster`` reaches in-process workers (count set by the test)."""
    made = {}

    def use(count: int) -> executors.LocalExecutor:
        made["ex"] = ex = executors.LocalExecutor(count)
        monkeypatch.setattr(connect, "executor", lambda address: ex)
        return ex
    return use


CASES = {
    "temporal_off": workflow("toon"),
    "keyframes": workflow("toon", {"keyframe_interval": 4, "deflicker": True}),
    "keyframes_k1": workflow("watercolor", {"keyframe_interval": 1}),
    "per_frame": workflow("toon", {"deflicker": True}),
    "motion": workflow("pencil", {"keyframes": "motion", "keyframe_interval": 5}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_cluster_equals_single_machine_for_any_worker_count(case, workers):
    frames = synthetic_clip()
    single = run(frames, CASES[case])
    expect = stack(single, len(frames))
    for count in (1, 3):
        workers(count)
        got = run(frames, CASES[case], {"cluster": "in-process"})
        assert got.done["status"] == "completed", got.done.get("error")
        assert max_diff(stack(got, len(frames)), expect) <= 1
        assert sorted(got.order) == list(range(1, len(frames) + 1)), "every frame exactly once"
        assert json.dumps(got.done["provenance"]["stages"], sort_keys=True) == \
            json.dumps(single.done["provenance"]["stages"], sort_keys=True)
        record = got.done["provenance"]["timings"]["cluster"]
        assert record["plan"] == choose_plan(validate_workflow(CASES[case]))
        assert sum(record["frames_by_worker"].values()) == len(frames)  # each frame made once


def test_plan_choice():
    def plan(wf):
        return choose_plan(validate_workflow(wf))
    assert plan(workflow("toon")) == "frames"
    assert plan(workflow("none", {"keyframe_interval": 4})) == "frames"  # the none look uses no schedule
    assert plan(workflow("toon", {"keyframe_interval": 8})) == "spans"
    assert plan(workflow("toon", {})) == "shots"
    assert plan(workflow("toon", {"strength": 0.0})) == "clip"  # no cut is looked for: one pass
    assert plan(workflow("toon", {"keyframes": "motion"})) == "shots"
    assert plan(workflow("toon", {"hold": 2})) == "clip"  # holds follow the clip's frame numbers
    assert plan(workflow("toon", {"interpolate": 3, "keyframe_interval": 4})) == "clip"
    stab = [{"name": "stabilize", "enabled": True, "params": {}}]
    assert plan(workflow("toon", {"keyframe_interval": 8}, stab)) == "shots"
    assert plan(workflow("toon", None, stab)) == "frames"
    key = [{"name": "key", "enabled": True, "params": {}}]
    assert plan(workflow("toon", {"keyframe_interval": 8}, key)) == "clip"  # matte smoothing carries state
    diffusion = {"name": "diffusion", "enabled": True, "params": {"model": "m.safetensors"}}
    base = {"version": 1, "look": "diffusion", "stages": [diffusion]}
    assert choose_plan(validate_workflow(base)) == "frames"
    xf = dict(diffusion, params={"model": "m.safetensors", "cross_frame_attention": True})
    assert choose_plan(validate_workflow(dict(base, stages=[xf]))) == "clip"
    temporal = {"name": "temporal", "enabled": True, "params": {"keyframe_interval": 8}}
    with_temporal = dict(base, stages=[diffusion, temporal])
    assert choose_plan(validate_workflow(with_temporal)) == "clip"  # noise=auto: warped along the whole clip
    fixed = dict(diffusion, params={"model": "m.safetensors", "noise": "fixed"})
    assert choose_plan(validate_workflow(dict(base, stages=[fixed, temporal]))) == "shots"  # keyframes take an init
    animated = dict(diffusion, params={"model": "m.safetensors", "motion_adapter": "mm"})
    assert choose_plan(validate_workflow(dict(base, stages=[animated]))) == "clip"  # context windows


def test_a_lost_worker_loses_nothing_and_sends_nothing_twice(workers):
    frames = synthetic_clip(14, 8)
    wf = workflow("toon", {"keyframe_interval": 3})
    single = run(frames, wf)
    ex = workers(2)
    ex.lost = {"local-1"}  # its first task dies after yielding one item
    got = run(frames, wf, {"cluster": "in-process"})
    assert got.done["status"] == "completed", got.done.get("error")
    assert sorted(got.order) == list(range(1, len(frames) + 1))
    assert max_diff(stack(got, len(frames)), stack(single, len(frames))) <= 1
    assert got.done["provenance"]["timings"]["cluster"]["tasks_retried"] == 1


def test_a_lost_streaming_task_does_not_resend_its_frames(workers):
    frames = synthetic_clip(6, 5)
    wf = workflow("toon", {})  # shots: each shot streams its frames
    single = run(frames, wf)
    ex = workers(1)
    ex.lost, ex.die_after = {"local-0"}, 3  # dies after sending three frames of a shot
    got = run(frames, wf, {"cluster": "in-process"})
    assert got.done["status"] == "completed", got.done.get("error")
    assert sorted(got.order) == list(range(1, len(frames) + 1)), "no frame sent twice"
    assert max_diff(stack(got, len(frames)), stack(single, len(frames))) <= 1


def test_cancel_stops_the_tasks_of_every_worker(workers):
    frames = synthetic_clip(20, 10, w=96, h=72)
    ex = workers(2)
    job = make_job(frames, workflow("paint", {"keyframe_interval": 2}), {"cluster": "in-process"})
    job.owner.on_frame = lambda n: job.cancel("cancelled by the test")
    jobs.run_job(job, Resources())
    assert job.owner.done["status"] == "cancelled"
    assert len(job.owner.frames) < len(frames)
    for core in ex.cores.values():
        assert core._flag(job.owner.done["provenance"]["timings"]["cluster"]["job_uid"]).is_set()
        assert core.current is None


def test_a_stage_error_on_a_worker_fails_the_job_with_its_message(workers):
    workers(2)
    frames = synthetic_clip(4, 3)
    stab = [{"name": "stabilize", "enabled": True, "params": {}}]
    got = run(frames, workflow("toon", None, stab), {"cluster": "in-process"})  # no stabilize matrices
    assert got.done["status"] == "failed"
    assert got.done["error"]["code"] == "INVALID_PARAMS"
    assert "needs the job option stabilize" in got.done["error"]["message"]
    assert "on cluster worker local-" in got.done["error"]["message"]
    assert got.done["error"]["stage"] == "stabilize"


def test_a_stateful_stage_keeps_the_strip_on_one_worker(workers):
    workers(2)
    frames = synthetic_clip(5, 4)
    wf = workflow("toon", {"keyframe_interval": 4}, [{"name": "key", "enabled": True, "params": {"key_color": "60,170,80"}}])
    single = run(frames, wf)
    got = run(frames, wf, {"cluster": "in-process"})
    assert got.done["status"] == "completed", got.done.get("error")
    record = got.done["provenance"]["timings"]["cluster"]
    assert record["plan"] == "clip" and record["tasks"] == 1
    assert max_diff(stack(got, len(frames)), stack(single, len(frames))) == 0


def test_cluster_option_without_ray_is_refused_with_how_to_install(monkeypatch):
    from kino_backend import session
    import kino_backend.cluster as cluster
    monkeypatch.setattr(cluster, "ray_available", lambda: False)
    with pytest.raises(session.RequestError) as err:
        session.Session._check_cluster("127.0.0.1:6379")
    assert err.value.message == RAY_MISSING
    session.Session._check_cluster("")  # "" runs the job on this backend
    with pytest.raises(session.RequestError):
        session.Session._check_cluster(42)


def test_progress_reports_workers_and_frames_per_second(workers):
    workers(2)
    frames = synthetic_clip(6, 4)
    got = run(frames, workflow("toon"), {"cluster": "in-process"})
    last = got.progress[-1]
    assert last["workers"] == 2 and last["frames_per_s"] > 0


def test_an_unreachable_cluster_is_a_clear_error():
    frames = synthetic_clip(3, 2)
    got = run(frames, workflow("toon"), {"cluster": "127.0.0.1:1"})
    if got.done["error"]["message"] == RAY_MISSING:
        pytest.skip("Ray is not installed here")
    assert got.done["status"] == "failed"
    assert "no Ray cluster answers at 127.0.0.1:1" in got.done["error"]["message"]
    assert "scripts/kino cluster start" in got.done["error"]["message"]


def test_input_arriving_slowly_is_scheduled_as_it_comes(workers):
    """Frames trickle in (as from Blender): tasks start before the last frame is there."""
    workers(2)
    frames = synthetic_clip(10, 6)
    wf = workflow("toon", {"keyframe_interval": 4})
    single = run(frames, wf)
    h, w = frames[0].shape[:2]
    from kino_addon.protocol.envelope import buffer_spec
    job = make_job(frames[:1], wf, {"cluster": "in-process"})
    job.frames_total = len(frames)
    first_out = []
    job.owner.on_frame = lambda n: first_out.append(len(job._received)) if not first_out else None

    def feed():
        for i, f in enumerate(frames[1:], start=2):
            data = np.ascontiguousarray(f).tobytes()
            job.add_input(i, buffer_spec("image", len(data), [h, w, 3]), data, lambda e: None)
            threading.Event().wait(0.05)
    t = threading.Thread(target=feed)
    t.start()
    jobs.run_job(job, Resources())
    t.join()
    assert job.owner.done["status"] == "completed", job.owner.done.get("error")
    assert max_diff(stack(job.owner, len(frames)), stack(single, len(frames))) <= 1
    assert first_out and first_out[0] < len(frames), "the first frame came back before every input had arrived"


def test_a_worker_reads_the_drivers_workflow_back_unchanged():
    """The driver sends the validated workflow (unset parameters are None there); the worker's
    validation of it gives the same workflow (the diffusion look has such parameters)."""
    from kino_backend.cluster.tasks import workflow_of
    from kino_backend.stages.base import JobContext
    wf = {"version": 1, "look": "diffusion", "stages": [
        {"name": "diffusion", "enabled": True, "params": {"model": "m.safetensors", "steps": 4}},
        {"name": "temporal", "enabled": False, "params": {}}]}
    sent = validate_workflow(wf).to_json()
    assert any(v is None for s in sent["stages"] for v in s["params"].values())
    ctx = JobContext(job_id="j", frames_total=1, width=8, height=8)
    assert workflow_of({"job": {"workflow": sent}}, ctx).to_json() == sent


def test_a_cluster_job_runs_beside_a_job_still_waiting_for_frames(workers):
    """Cluster jobs only drive workers, so the backend runs them side by side (several strips at once)."""
    import time
    workers(2)
    worker = jobs.Worker(Resources())
    frames = synthetic_clip(4, 3)
    waiting = make_job(frames[:2], workflow("toon"), job_id="job-wait")
    waiting.frames_total = len(frames)  # its last frames never come
    on_cluster = make_job(frames, workflow("toon"), {"cluster": "in-process"}, job_id="job-cluster")
    worker.submit(waiting)
    worker.submit(on_cluster)
    deadline = time.monotonic() + 60
    while on_cluster.owner.done is None and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert on_cluster.owner.done is not None and on_cluster.owner.done["status"] == "completed"
        assert waiting.state == "running" and waiting.owner.done is None
    finally:
        worker.stop()
        worker.join(10)
    assert waiting.owner.done["status"] == "cancelled"
