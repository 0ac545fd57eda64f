"""Jobs through a real backend subprocess: streaming, order, cancel, failures, disconnects."""
import threading
import time

import numpy as np
import pytest

from backend_harness import invert_workflow, job_events

pytestmark = pytest.mark.timeout(120)
H, W = 24, 32


def frames(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]


def image(event, index=0):
    spec, data = event.buffers[index]
    return np.frombuffer(data, np.uint8).reshape(spec["shape"])


def test_job_streams_frames_in_order_with_one_done(client):
    src = frames(6)
    wf = {"version": 1, "look": "test_invert", "stages": [
        {"name": "test_matte", "enabled": True, "params": {"value": 0.5}},
        {"name": "test_invert", "enabled": True, "params": {"delay": 0.02}}]}
    job = client.submit_job(wf, len(src), W, H, {"seed": 42})
    for i, f in enumerate(src, 1):
        client.send_frame(job, i, f)
    events = job_events(client, job)
    kinds = [e.type for e in events]
    assert kinds.count("job.done") == 1 and kinds[-1] == "job.done"
    outs = [e for e in events if e.type == "job.frame"]
    assert [e.body["frame"] for e in outs] == [1, 2, 3, 4, 5, 6]
    for e in outs:
        assert np.array_equal(image(e), 255 - src[e.body["frame"] - 1])
        assert e.buffers[1][0]["name"] == "matte" and e.buffers[1][0]["shape"] == [H, W, 1]
        assert np.all(image(e, 1) == 128)
    progress = [e.body["frame"] for e in events if e.type == "job.progress"]
    assert progress and progress == sorted(progress) and all(1 <= p <= 6 for p in progress)
    first_frame_at = kinds.index("job.frame")
    assert first_frame_at < len(kinds) - 2, "frames are streamed as they finish, not batched at the end"
    done = events[-1].body
    assert done["status"] == "completed" and done["frames_done"] == [1, 2, 3, 4, 5, 6] and "error" not in done
    prov = done["provenance"]
    assert prov["seed"] == 42 and prov["frames"] == {"count": 6, "first": 1, "width": W, "height": H, "done": 6}
    assert prov["workflow"]["stages"][1]["params"] == {"delay": 0.02, "fail_at": 0, "model_missing_at": 0}
    assert {"kino", "python", "numpy", "cv2"} <= set(prov["versions"])
    assert prov["stages"]["test_invert"] == {"delay": 0.02} and prov["timings"]["run_s"] > 0
    parts = prov["timings"]["parts_s_per_frame"]  # where the time went (docs/performance.md)
    assert {"input_wait", "test_matte", "test_invert", "send"} <= set(parts)
    assert parts["test_invert"] >= 0.02 * 0.9  # the look sleeps 0.02 s a frame: counted to the look
    assert parts["test_matte"] < parts["test_invert"]
    assert prov["timings"]["max_rss_mb"] > 10


def test_checkpoints_no_more_often_than_asked(client):
    src = frames(5, seed=4)
    wf = {"version": 1, "look": "toon", "stages": [{"name": "toon", "enabled": True, "params": {}},
                                                     {"name": "temporal", "enabled": True, "params": {}}]}

    def checkpointed(options):
        job = client.submit_job(wf, len(src), W, H, options, inputs=src)
        return [e.body["frame"] for e in job_events(client, job) if e.type == "job.frame" and "checkpoint" in e.body]

    assert checkpointed({"checkpoints": 1}) == [1, 2, 3, 4, 5]
    assert checkpointed({"checkpoints": 1, "checkpoint_every_s": 3600}) == [1]


def test_inputs_may_travel_with_the_submit(client):
    src = frames(3, seed=1)
    job = client.submit_job(invert_workflow(), 3, W, H, {}, inputs=src)
    outs = [e for e in job_events(client, job) if e.type == "job.frame"]
    assert [int(image(e)[0, 0, 0]) for e in outs] == [255 - int(f[0, 0, 0]) for f in src]


def test_png_inputs_are_decoded(client):
    import cv2
    src = frames(1, seed=2)[0]
    ok, png = cv2.imencode(".png", cv2.cvtColor(src, cv2.COLOR_RGB2BGR))
    job = client.submit_job(invert_workflow(), 1, W, H, {})
    client.send_frame(job, 1, png.tobytes(), (H, W, 3), encoding="png")
    out = [e for e in job_events(client, job) if e.type == "job.frame"][0]
    assert np.array_equal(image(out), 255 - src)


def test_more_frames_than_the_input_window(client):
    from kino_backend.jobs import INPUT_WINDOW
    n = INPUT_WINDOW + 8
    src = frames(n, seed=3)
    job = client.submit_job(invert_workflow(delay=0.005), n, W, H, {})
    sender = threading.Thread(target=lambda: [client.send_frame(job, i, f) for i, f in enumerate(src, 1)])
    sender.start()
    events = job_events(client, job)
    sender.join(30)
    assert not sender.is_alive() and events[-1].body["frames_done"] == list(range(1, n + 1))


def test_cancel_mid_job(client):
    src = frames(20, seed=4)
    job = client.submit_job(invert_workflow(delay=0.1), 20, W, H, {}, inputs=src)
    events = []
    while True:
        e = client.next_event(30)
        if e is not None and e.body.get("job_id") == job:
            events.append(e)
            if e.type == "job.frame":
                break
    assert client.cancel(job) == {"ok": True}
    events += job_events(client, job)
    done = events[-1].body
    assert done["status"] == "cancelled" and done["error"]["code"] == "CANCELLED"
    assert 1 <= len(done["frames_done"]) < 20
    assert done["frames_done"] == [e.body["frame"] for e in events if e.type == "job.frame"]
    assert client.next_event(0.5) is None  # nothing after the one job.done


def test_stage_exception_fails_the_job_with_where_and_partial_frames(client):
    job = client.submit_job(invert_workflow(fail_at=3), 5, W, H, {}, inputs=frames(5))
    events = job_events(client, job)
    done = events[-1].body
    assert done["status"] == "failed" and done["frames_done"] == [1, 2]
    err = done["error"]
    assert (err["code"], err["type"], err["frame"], err["stage"]) == ("INTERNAL", "ZeroDivisionError", 3, "test_invert")
    assert "test failure on purpose" in err["message"] and "ZeroDivisionError" in err["traceback"]
    assert done["provenance"]["status"] == "failed"


def test_stage_error_codes_reach_the_client(client):
    job = client.submit_job(invert_workflow(model_missing_at=2), 3, W, H, {}, inputs=frames(3))
    err = job_events(client, job)[-1].body["error"]
    assert (err["code"], err["frame"], err["stage"]) == ("MODEL_MISSING", 2, "test_invert")
    assert "models_dir" in err["message"]


def test_jobs_run_one_after_another(client):
    first = client.submit_job(invert_workflow(delay=0.02), 3, W, H, {}, inputs=frames(3))
    second = client.submit_job(invert_workflow(), 2, W, H, {}, inputs=frames(2))
    order = []
    while len([o for o in order if o[1] == "job.done"]) < 2:
        e = client.next_event(30)
        assert e is not None
        order.append((e.body["job_id"], e.type))
    first_done = order.index((first, "job.done"))
    assert all(job == first for job, _ in order[:first_done + 1])


def test_disconnect_cancels_the_clients_jobs(backend):
    leaver = backend.connect("leaver/1")
    job = leaver.submit_job(invert_workflow(delay=0.2), 50, W, H, {}, inputs=frames(50))
    while True:
        e = leaver.next_event(30)
        if e is not None and e.type == "job.frame":
            break
    leaver.close()
    with backend.connect("watcher/1") as watcher:
        deadline = time.monotonic() + 30
        while any(j["job_id"] == job for j in watcher.status()["jobs"]):
            assert time.monotonic() < deadline, "the job of a disconnected client kept running"
            time.sleep(0.1)
        follow = watcher.submit_job(invert_workflow(), 1, W, H, {}, inputs=frames(1))
        assert job_events(watcher, follow)[-1].body["status"] == "completed"
    log = backend.log_path.read_text()
    assert f"job {job} cancelled" in log


def test_none_look_passes_frames_through(client):
    if "none" not in [look["name"] for look in client.hello["looks"]]:
        pytest.skip("the none look (classic stages) is not installed in this checkout")
    src = frames(2, seed=5)
    wf = next(look["workflow"] for look in client.hello["looks"] if look["name"] == "none")
    job = client.submit_job(wf, 2, W, H, {}, inputs=src)
    outs = [e for e in job_events(client, job) if e.type == "job.frame"]
    assert all(np.array_equal(image(e), src[e.body["frame"] - 1]) for e in outs) and len(outs) == 2


def test_every_builtin_look_runs_through_the_server(client):
    """The shipped presets (with their schedule stage) through the real job path: small frames only."""
    looks = [look for look in client.hello["looks"]  # diffusion needs a model, keyframes painted frames
             if look["name"] not in ("diffusion", "keyframes")]
    if not looks:
        pytest.skip("no built-in looks in this checkout yet")
    src = frames(3, seed=6)
    for look in looks:
        job = client.submit_job(look["workflow"], 3, W, H, {"seed": 1}, inputs=src)
        events = job_events(client, job, timeout=120)
        done = events[-1].body
        assert done["status"] == "completed", (look["name"], done.get("error"))
        outs = [e for e in events if e.type == "job.frame"]
        assert [e.body["frame"] for e in outs] == [1, 2, 3]
        changed = any(not np.array_equal(image(e), src[e.body["frame"] - 1]) for e in outs)
        assert changed == (look["name"] != "none"), look["name"]
