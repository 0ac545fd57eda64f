"""Issue 12 items 1 and 10 on the add-on side: a job that fails before its first frame shows the stage's
message (not the error of a frame sent after the failure); messages lead with what is wrong."""
from fake_backend import FakeClient
from kino_addon.protocol import messages
from kino_addon.protocol.envelope import Message
from kino_addon.protocol.errors import BackendError
from test_job_session import make

REASON = "the diffusion look needs a checkpoint: set model=PATH to an SD 1.5 or SDXL .safetensors file"


class FailsAtOpen(FakeClient):
    """The job fails when it opens: its job.done (with the stage's error) is queued, and a frame sent
    afterwards is refused, as a backend that forgot the job would."""

    def send_frame(self, job_id, frame, data, shape=(), encoding="raw", timeout=None):
        if frame == 1:
            self.events.append(Message(kind="event", type=messages.JOB_DONE, body={
                "job_id": job_id, "status": "failed", "frames_done": [], "provenance": {},
                "error": {"code": "MODEL_MISSING", "message": REASON, "stage": "diffusion", "frame": None}}))
            return {}
        raise BackendError("NOT_FOUND", f"no queued or running job {job_id!r} (finished jobs are forgotten)")


def test_the_stage_message_wins_over_the_refused_frame(tmp_path):
    s = make(tmp_path, FailsAtOpen(), max_in_flight=4)
    assert s.run() == "failed"
    assert s.error.startswith(REASON + " (stage diffusion) [MODEL_MISSING]"), s.error
    assert "no queued or running job" not in s.error


def test_a_job_the_backend_stopped_says_why(tmp_path):
    class Stopped(FakeClient):
        def send_frame(self, job_id, frame, data, shape=(), encoding="raw", timeout=None):
            self.events.append(Message(kind="event", type=messages.JOB_DONE, body={
                "job_id": job_id, "status": "cancelled", "frames_done": [], "provenance": {},
                "error": {"code": "CANCELLED", "message": "the backend is shutting down"}}))
            return {}
    s = make(tmp_path, Stopped())
    assert s.run() == "failed" and s.error.startswith("the backend is shutting down [CANCELLED]")


def test_a_stuck_backend_ends_the_job_instead_of_freezing_blender(tmp_path):
    """A stopped backend (SIGSTOP, a frozen machine) never answers: send_frame waited without end on
    Blender's main thread. Now the frame's answer and a status request each wait send_timeout, then
    the job fails saying what to do, with the frames kept."""
    from kino_addon.protocol.errors import TIMEOUT
    waits = []

    class Stuck(FakeClient):
        def send_frame(self, job_id, frame, data, shape=(), encoding="raw", timeout=None):
            waits.append(timeout)
            raise BackendError(TIMEOUT, f"no answer to job.input within {timeout:g} s")

        def request(self, type, body=None, buffers=(), timeout=-1):
            waits.append(timeout)
            raise BackendError(TIMEOUT, f"no answer to {type} within {timeout:g} s")
    s = make(tmp_path, Stuck())
    s.send_timeout = 0.2
    assert s.run() == "failed"
    assert "the backend has not answered for 0.4 s: it is stuck" in s.error and "Stop Backend" in s.error
    assert waits == [0.2, 0.2]  # bounded: nothing waits forever


def test_a_busy_backend_that_holds_a_frames_answer_back_keeps_the_job(tmp_path):
    """The answer to a frame is held back while the job waits behind another client's job; the backend
    still answers a status request, so the frame counts as queued and the job goes on."""
    from kino_addon.protocol.errors import TIMEOUT
    held = []

    class Busy(FakeClient):
        def send_frame(self, job_id, frame, data, shape=(), encoding="raw", timeout=None):
            out = super().send_frame(job_id, frame, data, shape, encoding, timeout)
            if frame == 2:
                held.append(frame)
                raise BackendError(TIMEOUT, f"no answer to job.input within {timeout:g} s")
            return out

        def request(self, type, body=None, buffers=(), timeout=-1):
            assert type == messages.BACKEND_STATUS
            return {"jobs": []}, []
    s = make(tmp_path, Busy())
    s.send_timeout = 0.2
    assert s.run() == "completed" and held == [2]
