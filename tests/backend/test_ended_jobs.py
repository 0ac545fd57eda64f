"""Issue 12 item 1: a job that fails before its first frame surfaces its stage's own message, also to a
client whose input crossed the job's end (the job is remembered after its job.done)."""
import numpy as np
import pytest

from kino_addon.protocol.errors import BackendError

from backend_harness import invert_workflow, job_events

pytestmark = pytest.mark.timeout(120)
STAGE_MESSAGE = "the test look needs a checkpoint: set model=PATH"


def needs_model_workflow():
    return {"version": 1, "look": "test_needs_model", "stages": [{"name": "test_needs_model", "params": {}}]}


def frame():
    return np.zeros((2, 4, 3), np.uint8)


def test_input_after_an_early_failure_gets_the_stages_message(client):
    job = client.submit_job(needs_model_workflow(), 3, 4, 2, {})
    client.send_frame(job, 1, frame())  # the job starts once its first frame is there, then fails
    done = job_events(client, job)[-1]
    assert done.body["status"] == "failed" and STAGE_MESSAGE in done.body["error"]["message"]
    assert done.body["error"]["code"] == "MODEL_MISSING" and done.body["error"]["stage"] == "test_needs_model"
    with pytest.raises(BackendError) as info:  # the client's next frame crossed the job.done
        client.send_frame(job, 2, frame())
    err = info.value
    assert err.code == "MODEL_MISSING" and STAGE_MESSAGE in err.message and "has failed" in err.message
    assert err.stage == "test_needs_model" and "no queued or running job" not in err.message
    assert client.cancel(job) == {"ok": True, "state": "failed"}  # cancelling an ended job is harmless


def test_a_finished_job_says_it_needs_no_more_input_and_unknown_jobs_stay_not_found(client):
    job = client.submit_job(invert_workflow(), 1, 4, 2, {}, inputs=[frame()])
    assert job_events(client, job)[-1].body["status"] == "completed"
    with pytest.raises(BackendError) as info:
        client.send_frame(job, 2, frame())
    assert info.value.code == "NOT_FOUND" and "has already completed" in info.value.message
    with pytest.raises(BackendError) as info:
        client.cancel("job-999999")
    assert info.value.code == "NOT_FOUND"


def test_another_connection_cannot_see_why_my_job_ended(backend, client):
    job = client.submit_job(needs_model_workflow(), 1, 4, 2, {}, inputs=[frame()])
    job_events(client, job)
    with backend.connect() as other:
        with pytest.raises(BackendError) as info:
            other.send_frame(job, 1, frame(), shape=(2, 4, 3))
        assert info.value.code == "NOT_FOUND" and STAGE_MESSAGE not in info.value.message


def test_a_client_cannot_cancel_another_clients_job(backend, client):
    job = client.submit_job(invert_workflow(delay=0.05), 2, 4, 2, {}, inputs=[frame(), frame()])
    with backend.connect() as other:
        with pytest.raises(BackendError) as info:
            other.cancel(job)
        assert info.value.code == "NOT_FOUND"
    assert job_events(client, job)[-1].body["status"] == "completed"
