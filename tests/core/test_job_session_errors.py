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

    def send_frame(self, job_id, frame, data, shape=(), encoding="raw"):
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
        def send_frame(self, job_id, frame, data, shape=(), encoding="raw"):
            self.events.append(Message(kind="event", type=messages.JOB_DONE, body={
                "job_id": job_id, "status": "cancelled", "frames_done": [], "provenance": {},
                "error": {"code": "CANCELLED", "message": "the backend is shutting down"}}))
            return {}
    s = make(tmp_path, Stopped())
    assert s.run() == "failed" and s.error.startswith("the backend is shutting down [CANCELLED]")
