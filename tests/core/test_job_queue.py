"""The one job protocol: a QueuedJob's parts run in order, cancel stops them (later parts never run),
a failing part ends the job with its reason, and the queue reports it; a FrameLoop fails cleanly."""
import numpy as np

from fake_backend import FakeClient
from kino_addon.core.job_queue import FrameLoop, JobQueue, QueuedJob, StepFailed
from kino_addon.core.job_session import JobSession, JobSpec
from kino_addon.core.plan import existing_frames

W, H = 8, 6


def session(tmp_path, name, client, count=4):
    spec = JobSpec(folder=str(tmp_path / name), count=count, width=W, height=H,
                   workflow={"version": 1, "look": "toon", "stages": []})
    return JobSession(client, spec, lambda n: np.full((H, W, 3), n, np.uint8), poll=0.0)


class Recording(QueuedJob):
    """A job that records its hooks."""

    def __init__(self, parts):
        super().__init__("rec", parts)
        self.calls = []

    def on_completed(self):
        self.calls.append("completed")

    def close(self):
        self.calls.append("close")


def test_parts_run_in_order_then_on_completed_and_close_once(tmp_path):
    done = []
    client = FakeClient()
    job = Recording([session(tmp_path, "a", client), session(tmp_path, "b", client),
                     FrameLoop(3, done.append, "compositing frame")])
    queue = JobQueue("test")
    queue.add([job])
    fractions = []
    while not queue.step():
        fractions.append(job.fraction)
    assert job.state == "completed" and job.calls == ["completed", "close"] and done == [1, 2, 3]
    assert fractions == sorted(fractions) and fractions[0] < 1 / 3 < 2 / 3 < fractions[-1] < 1
    assert existing_frames(str(tmp_path / "a")) == existing_frames(str(tmp_path / "b")) == [1, 2, 3, 4]
    assert queue.finished == [job] and queue.last_error == ""


def test_cancel_stops_the_running_part_and_later_parts_never_run(tmp_path):
    done = []
    client = FakeClient()
    first, second = session(tmp_path, "a", client, count=6), session(tmp_path, "b", client)
    job = Recording([first, second, FrameLoop(2, done.append)])
    queue = JobQueue("test")
    queue.add([job])
    while first.frames_on_disk < 2:
        queue.step()
    queue.cancel()
    queue.run()
    assert job.state == "cancelled" and first.state == "cancelled" and second.state == "new"
    assert job.calls == ["close"] and done == [] and not (tmp_path / "b").exists()
    assert 2 <= len(existing_frames(str(tmp_path / "a"))) < 6  # finished frames are kept


def test_cancel_between_parts_does_not_complete_the_job(tmp_path):
    job = Recording([FrameLoop(1, lambda n: None), FrameLoop(1, lambda n: None)])
    assert not job.step()  # the first part completed; the second is next
    job.cancel()
    assert job.step() and job.state == "cancelled" and job.calls == ["close"]


def test_a_failing_part_ends_the_job_and_the_queue_reports_it(tmp_path):
    def work(n):
        if n == 2:
            raise StepFailed("frame 2 has no matte")

    job = Recording([FrameLoop(3, work, "compositing frame")])
    queue = JobQueue("test")
    queue.add([job])
    queue.run()
    assert job.state == "failed" and job.error == "frame 2 has no matte" and job.calls == ["close"]
    assert queue.last_error == "rec: frame 2 has no matte"
    disk = Recording([FrameLoop(1, lambda n: (_ for _ in ()).throw(OSError(28, "No space left on device")))])
    disk.step()
    assert disk.state == "failed" and "No space left" in disk.error


def test_backend_death_fails_the_job_with_the_kept_frames_note(tmp_path):
    client = FakeClient(die_after=2)
    part = session(tmp_path, "a", client, count=5)
    job = Recording([part, FrameLoop(1, lambda n: None)])
    queue = JobQueue("test")
    queue.add([job])
    queue.run()
    assert job.state == "failed" and "the backend stopped" in job.error and "kept" in job.error
    assert job.calls == ["close"]


def test_a_job_dropped_before_it_ran_is_closed(tmp_path):
    queue = JobQueue("test")
    a, b = Recording([FrameLoop(2, lambda n: None)]), Recording([FrameLoop(2, lambda n: None)])
    queue.add([a, b])
    queue.step()
    queue.cancel()
    assert b.calls == ["close"] and queue.jobs == [a]
    queue.run()
    assert a.state == "cancelled" and a.calls == ["close"]


def test_a_job_that_raises_fails_with_the_reason_and_the_queue_goes_on(tmp_path):
    """Placing the result raised (no free channel above the source): the exception stopped Blender's
    timer for good; the job stayed in the queue "completed", the panel showed Cancel forever."""
    class PlaceFails(Recording):
        def on_completed(self):
            raise RuntimeError("no free channel above 'clip'")

    class StepFails(Recording):
        def step(self):
            raise KeyError("strip")

    first, second = PlaceFails([FrameLoop(2, lambda n: None, "x")]), StepFails([])
    third = Recording([FrameLoop(1, lambda n: None, "y")])
    queue = JobQueue("test")
    queue.add([first, second, third])
    queue.run()
    assert not queue.jobs and queue.finished == [first, second, third]
    assert first.state == "failed" and first.error == "RuntimeError: no free channel above 'clip'"
    assert first.calls == ["close"]
    assert second.state == "failed" and "KeyError" in second.error and second.calls == ["close"]
    assert third.state == "completed" and third.calls == ["completed", "close"]


def test_a_cancel_names_the_jobs_it_dropped():
    """Cancel with two strips selected: the panel said only "clip cancelled"; the second never ran."""
    running, waiting = Recording([FrameLoop(5, lambda n: None, "x")]), Recording([FrameLoop(1, lambda n: None, "y")])
    waiting.label = "clip2"
    queue = JobQueue("test")
    queue.add([running, waiting])
    queue.step()
    queue.cancel()
    queue.run()
    assert queue.dropped == ["clip2"] and waiting.calls == ["close"]
    queue.add([Recording([])])
    assert queue.dropped == []
