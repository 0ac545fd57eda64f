"""A queue that runs several jobs side by side (stylize jobs on a cluster): each job takes only its own
events, they end in any order, cancel stops every running job and drops the waiting ones."""
from fake_backend import FakeClient
from kino_addon.core.job_queue import JobQueue, QueuedJob

from test_job_queue import session


def test_parallel_jobs_all_advance_and_finish(tmp_path):
    client = FakeClient()
    jobs = [QueuedJob(f"s{i}", [session(tmp_path, f"s{i}", client, count=3 + i)]) for i in range(3)]
    queue = JobQueue("stylize")
    queue.parallel = 2
    queue.add(jobs)
    queue.step()
    assert jobs[0].state == "running" and jobs[1].state == "running" and jobs[2].state == "new"
    assert "(+1 running)" in queue.progress_text() and "(+1 more)" in queue.progress_text()
    queue.run()
    assert all(j.state == "completed" for j in jobs)
    assert sorted(j.label for j in queue.finished) == ["s0", "s1", "s2"]
    for i, job in enumerate(jobs):
        assert job.part.written == 3 + i, "each job got exactly its own frames"


def test_cancel_stops_every_running_job_and_drops_the_rest(tmp_path):
    client = FakeClient()
    jobs = [QueuedJob(f"s{i}", [session(tmp_path, f"s{i}", client, count=6)]) for i in range(3)]
    queue = JobQueue("stylize")
    queue.parallel = 2
    queue.add(jobs)
    queue.step()
    queue.cancel()
    queue.run()
    assert [j.state for j in jobs[:2]] == ["cancelled", "cancelled"]
    assert jobs[2] not in queue.finished and not queue.jobs
