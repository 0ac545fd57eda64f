"""Issue 12 item 14: one client's stalled job does not hold the single worker; clients take turns.

The backend here stops a job that has waited 1 s for input while another job is ready
(``--input-stall-timeout 1``; the default is 30 s)."""
import threading
import time

import numpy as np
import pytest

from backend_harness import Backend, invert_workflow, job_events

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def quick_backend(tmp_path_factory):
    b = Backend(tmp_path_factory.mktemp("fair"), args=["--input-stall-timeout", "1"])
    yield b
    b.stop()


def frame(value=0):
    return np.full((2, 4, 3), value, np.uint8)


def test_a_job_without_input_does_not_block_another_client(quick_backend):
    with quick_backend.connect("staller") as a, quick_backend.connect("other") as b:
        idle = a.submit_job(invert_workflow(), 3, 4, 2, {})  # submitted, no frame sent (yet)
        job = b.submit_job(invert_workflow(), 1, 4, 2, {}, inputs=[frame(5)])
        events = job_events(b, job, timeout=30)
        assert events[-1].body["status"] == "completed"
        image = next(e for e in events if e.type == "job.frame").buffers[0][1]
        assert np.frombuffer(image, np.uint8)[0] == 250
        for n in (1, 2, 3):  # the idle job still runs once its frames come
            a.send_frame(idle, n, frame(n))
        assert job_events(a, idle, timeout=30)[-1].body["status"] == "completed"


def test_a_job_stalled_mid_way_makes_way_and_says_so(quick_backend):
    with quick_backend.connect("staller") as a, quick_backend.connect("other") as b:
        stalled = a.submit_job(invert_workflow(), 3, 4, 2, {})
        a.send_frame(stalled, 1, frame())  # then nothing: the job waits for frame 2 on the worker
        first = a.next_event(timeout=30)
        while first.type != "job.frame":
            first = a.next_event(timeout=30)
        job = b.submit_job(invert_workflow(), 1, 4, 2, {}, inputs=[frame()])
        assert job_events(b, job, timeout=30)[-1].body["status"] == "completed"
        done = job_events(a, stalled, timeout=30)[-1]
        assert done.body["status"] == "cancelled" and done.body["frames_done"] == [1]
        message = done.body["error"]["message"]
        assert "waited" in message and "input frame 2 of 3" in message and "run it again to resume" in message


def test_a_stalled_job_with_no_one_waiting_keeps_waiting(quick_backend):
    with quick_backend.connect() as a:
        job = a.submit_job(invert_workflow(), 2, 4, 2, {})
        a.send_frame(job, 1, frame())
        time.sleep(2.5)  # longer than the stall timeout, but no other job is ready
        a.send_frame(job, 2, frame())
        assert job_events(a, job, timeout=30)[-1].body["status"] == "completed"


def test_clients_take_turns(quick_backend):
    """Client A queues three slow jobs, then B queues one: B's runs second, not fourth."""
    done_order = []
    lock = threading.Lock()

    def collect(client, jobs):
        for job in jobs:
            job_events(client, job, timeout=60)
            with lock:
                done_order.append(job)

    with quick_backend.connect("busy") as a, quick_backend.connect("polite") as b:
        a_jobs = [a.submit_job(invert_workflow(delay=0.4), 1, 4, 2, {}, inputs=[frame()]) for _ in range(3)]
        b_job = b.submit_job(invert_workflow(delay=0.4), 1, 4, 2, {}, inputs=[frame()])
        threads = [threading.Thread(target=collect, args=(a, a_jobs)), threading.Thread(target=collect, args=(b, [b_job]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
    assert done_order.index(b_job) == 1, done_order
