import json
import os

import numpy as np

from fake_backend import FakeClient
from kino_addon.core.plan import existing_frames, frame_path, missing_frames
from kino_addon.core.png import read_png
from kino_addon.core.job_session import JobSession, JobSpec
from kino_addon.protocol import messages
from kino_addon.protocol.envelope import Message
from kino_addon.protocol.errors import DISCONNECTED, INVALID_PARAMS, BackendError

W, H = 12, 8


def source(number):
    img = np.zeros((H, W, 3), np.uint8)
    img[...] = number * 10
    return img


def make(tmp_path, client, count=6, **kw):
    spec = JobSpec(folder=str(tmp_path / "out"), count=count, width=W, height=H,
                   workflow={"version": 1, "look": "toon", "stages": []}, source={"file": "x"},
                   command="scripts/kino stylize x --look toon --out y", versions={"kino": "0.1.0"})
    return JobSession(client, spec, source, poll=0.0, **kw)


def test_full_run_writes_every_frame_and_sidecar(tmp_path):
    client = FakeClient()
    s = make(tmp_path, client)
    assert s.run() == "completed"
    for n in range(1, 7):
        assert np.array_equal(read_png(frame_path(s.spec.folder, n)), 255 - source(n))
    side = json.loads((tmp_path / "out" / "kino.json").read_text())
    assert side["status"] == "completed" and side["provenance"]["backend"] == "fake"
    assert side["frames"]["done"] == 6 and side["command"].startswith("scripts/kino stylize")
    assert sorted(os.listdir(s.spec.folder)) == ["frame_%04d.png" % n for n in range(1, 7)] + ["kino.json"]
    timings = side["timings"]  # where the add-on's time went (docs/performance.md)
    assert timings["frames"] == 6 and set(timings["s_per_frame"]) == {"extract", "send", "write"}
    assert all(v >= 0 for v in timings["s_per_frame"].values()) and timings["s_per_frame"]["write"] > 0
    assert timings["wall_s"] >= 0 and timings["max_rss_mb"] > 10


def test_kino_json_follows_the_frames_while_the_job_runs(tmp_path, monkeypatch):
    """A run killed outright (no chance to write its last kino.json) leaves one that says how far it got."""
    import kino_addon.core.job_session as js
    client = FakeClient()
    s = make(tmp_path, client, max_in_flight=1)
    monkeypatch.setattr(js, "SIDECAR_EVERY_S", 3600.0)
    while s.frames_on_disk < 2:
        s.step()
    side = json.loads((tmp_path / "out" / "kino.json").read_text())
    assert side["status"] == "running" and side["frames"]["done"] == 0  # not yet: at most every SIDECAR_EVERY_S
    monkeypatch.setattr(js, "SIDECAR_EVERY_S", 0.0)
    while s.frames_on_disk < 4:
        s.step()
    side = json.loads((tmp_path / "out" / "kino.json").read_text())
    assert side["status"] == "running" and side["frames"]["done"] == s.frames_on_disk >= 4


def test_extraction_time_is_counted_per_frame(tmp_path):
    import time

    def slow_source(number):
        time.sleep(0.01)
        return source(number)

    spec = JobSpec(folder=str(tmp_path / "out"), count=3, width=W, height=H,
                   workflow={"version": 1, "look": "toon", "stages": []})
    s = JobSession(FakeClient(), spec, slow_source, poll=0.0)
    assert s.run() == "completed"
    assert s.timings()["s_per_frame"]["extract"] >= 0.009  # at least the source's own sleep


def test_cancel_keeps_frames_and_resume_sends_only_missing(tmp_path):
    client = FakeClient()
    s = make(tmp_path, client, max_in_flight=1)
    while s.frames_on_disk < 3:
        s.step()
    s.cancel()
    s.run()
    assert s.state == "cancelled"
    assert missing_frames(s.spec.folder, 6, W, H) == [4, 5, 6]
    os.remove(frame_path(s.spec.folder, 2))
    client2 = FakeClient()
    s2 = make(tmp_path, client2)
    assert s2.run() == "completed"
    assert s2.reused == 2
    # job frames 1..4 carry outputs 2, 4, 5, 6 -> their source pixels prove the mapping
    assert [(f, px) for _, f, px in client2.received] == [(1, 20), (2, 40), (3, 50), (4, 60)]
    for n in range(1, 7):
        assert np.array_equal(read_png(frame_path(s.spec.folder, n)), 255 - source(n))


def test_nothing_missing_completes_without_backend(tmp_path):
    make(tmp_path, FakeClient()).run()
    client = FakeClient(fail_submit=BackendError(DISCONNECTED, "must not be called"))
    s = make(tmp_path, client)
    assert s.run() == "completed" and s.reused == 6


def test_backend_death_keeps_finished_frames(tmp_path):
    client = FakeClient(die_after=2)
    s = make(tmp_path, client, max_in_flight=1)
    assert s.run() == "failed"
    assert "backend stopped" in s.error and "2 of 6 frames" in s.error and "resume" in s.error
    assert missing_frames(s.spec.folder, 6, W, H) == [3, 4, 5, 6]
    assert json.loads((tmp_path / "out" / "kino.json").read_text())["status"] == "failed"


def test_dead_process_detected_by_alive_check(tmp_path):
    client = FakeClient()
    client.send_frame = lambda *a, **k: {}  # frames vanish, no events: the process is gone
    s = make(tmp_path, client, alive=lambda: False)
    assert s.run() == "failed" and "exited" in s.error


def test_submit_error_is_reported_in_words(tmp_path):
    err = BackendError(INVALID_PARAMS, "toon.edges: 9 is above the maximum 1", stage="toon")
    s = make(tmp_path, FakeClient(fail_submit=err))
    assert s.run() == "failed"
    assert s.error == "toon.edges: 9 is above the maximum 1 (stage toon) [INVALID_PARAMS]"


def test_bad_source_frame_aborts_with_reason(tmp_path):
    client = FakeClient()
    s = make(tmp_path, client)
    s.read_frame = lambda n: np.zeros((3, 3, 3), np.uint8)
    assert s.run() == "failed" and "expected 12x8" in s.error


def test_resume_sends_the_matching_stabilize_matrices(tmp_path):
    from kino_addon.core.job_session import options_for_frames
    mats = [[[1, 0, n], [0, 1, 0]] for n in range(1, 7)]
    opts = {"seed": 3, "stabilize": {"matrices": mats, "width": W}}
    cut = options_for_frames(opts, [2, 5], 6)
    assert cut["stabilize"]["matrices"] == [mats[1], mats[4]] and cut["seed"] == 3 and cut["stabilize"]["width"] == W
    assert opts["stabilize"]["matrices"] == mats  # the job's own options are untouched
    assert options_for_frames(opts, list(range(1, 7)), 6) is opts


def test_write_error_ends_the_job_with_a_reason(tmp_path):
    s = make(tmp_path, FakeClient())
    os.makedirs(os.path.join(s.spec.folder, "frame_0002.png"))  # a folder where frame 2 must go
    assert s.run() == "failed"
    assert s.error.startswith("could not write frame 2 to ") and "run again to resume" in s.error
    assert "frame_0001.png" in os.listdir(s.spec.folder)


def test_the_last_frame_that_cannot_be_written_fails_the_job(tmp_path):
    """The backend's job.done came with the last frames still being written: their error was dropped
    and the job, and kino.json, said "completed" with a frame missing."""
    s = make(tmp_path, FakeClient())
    last = s.spec.count
    os.makedirs(os.path.join(s.spec.folder, f"frame_{last:04d}.png"))  # a folder where the last frame goes
    assert s.run() == "failed"
    assert s.error.startswith(f"could not write frame {last} to "), s.error
    with open(os.path.join(s.spec.folder, "kino.json")) as fh:
        assert json.load(fh)["status"] == "failed"


def test_frames_without_a_kino_json_are_not_reused(tmp_path):
    """A folder of frames with no (or an unreadable) kino.json was reused for any settings, and the new
    kino.json then described a look its frames were not made with."""
    from kino_addon.core.frame_files import atomic_write_png
    reference = make(tmp_path / "ref", FakeClient())
    assert reference.run() == "completed"
    spec = JobSpec(folder=str(tmp_path / "out"), count=6, width=W, height=H, settings_hash="toon-settings",
                   workflow={"version": 1, "look": "toon", "stages": []}, source={"file": "x"})
    s = JobSession(FakeClient(), spec, source, poll=0.0)
    for n in range(1, 4):  # another look's frames, kino.json lost
        atomic_write_png(frame_path(s.spec.folder, n), np.full((H, W, 3), 7, np.uint8))
    assert s.run() == "completed" and s.reused == 0
    for n in range(1, s.spec.count + 1):
        assert np.array_equal(read_png(frame_path(s.spec.folder, n)), read_png(frame_path(reference.spec.folder, n)))


def test_frames_removed_while_the_job_ran_fail_it(tmp_path):
    """The output folder emptied mid-job (a clean-up script, the artist): the job said "completed" with
    the first frames missing."""
    s = make(tmp_path, FakeClient(), max_in_flight=1)
    while s.frames_on_disk < 2:
        s.step()
    os.remove(os.path.join(s.spec.folder, "frame_0001.png"))
    assert s.run() == "failed"
    assert "1 of 6 frames are not in" in s.error and "frame 1 first" in s.error and "resume" in s.error


def test_a_checkpoint_write_error_is_not_called_a_frame_error(tmp_path):
    """The frame was written, the resume checkpoint after it was not (disk full): say which."""
    s = make(tmp_path, FakeClient(stateful=True))
    os.makedirs(os.path.join(s.spec.folder, ".kino-resume", "checkpoint.npz"))  # where the checkpoint must go
    assert s.run() == "failed"
    assert s.error.startswith("could not write the resume checkpoint after frame 1 to "), s.error
    assert "frame_0001.png" in os.listdir(s.spec.folder)


def _stateful_reference(tmp_path, count=8):
    ref = make(tmp_path / "ref", FakeClient(stateful=True), count=count)
    assert ref.run() == "completed"
    return [read_png(frame_path(ref.spec.folder, n)) for n in range(1, count + 1)]


def _cancel_after(tmp_path, client, frames, count=8):
    s = make(tmp_path, client, count=count, max_in_flight=1)
    while s.frames_on_disk < frames:
        s.step()
    s.cancel()
    s.run()
    return s


def test_stateful_resume_continues_from_the_checkpoint_and_equals_the_full_run(tmp_path):
    want = _stateful_reference(tmp_path)
    s = _cancel_after(tmp_path, FakeClient(stateful=True), 3)
    assert os.path.isfile(os.path.join(s.spec.folder, ".kino-resume", "checkpoint.npz"))
    kept = len(existing_frames(s.spec.folder))
    client = FakeClient(stateful=True)
    s2 = make(tmp_path, client, count=8)
    assert s2.run() == "completed" and s2.reused == kept
    count, options, state = client.submits[0]
    assert options["resume_state"]["arrays"] and state and count == 8 - kept  # continues after the last kept
    for n in range(1, 9):
        assert np.array_equal(read_png(frame_path(s2.spec.folder, n)), want[n - 1]), n
    side = json.loads((tmp_path / "out" / "kino.json").read_text())
    assert side["frames_independent"] is False
    assert not os.path.exists(os.path.join(s2.spec.folder, ".kino-resume"))  # served its purpose


def test_stateful_hole_before_the_checkpoint_restarts_and_writes_only_missing(tmp_path):
    want = _stateful_reference(tmp_path)
    s = _cancel_after(tmp_path, FakeClient(stateful=True), 5)
    os.remove(frame_path(s.spec.folder, 2))
    stamp = os.stat(frame_path(s.spec.folder, 4)).st_mtime_ns
    client = FakeClient(stateful=True)
    s2 = make(tmp_path, client, count=8)
    assert s2.run() == "completed"
    assert client.submits[0][0] == 8 and "resume_state" not in client.submits[0][1]
    assert os.stat(frame_path(s.spec.folder, 4)).st_mtime_ns == stamp  # recomputed for the state, not rewritten
    for n in range(1, 9):
        assert np.array_equal(read_png(frame_path(s2.spec.folder, n)), want[n - 1]), n


def test_resuming_without_a_checkpoint_would_differ(tmp_path):
    """What the checkpoint prevents: the stateful fake started at frame 4 gives another frame 4."""
    want = _stateful_reference(tmp_path)
    client = FakeClient(stateful=True)
    client.submit_job({}, 5, W, H, {})
    client.send_frame("job1", 1, source(4).tobytes(), shape=(H, W, 3))
    frame = [e for e in client.events if e.type == messages.JOB_FRAME][0]
    got = np.frombuffer(frame.buffers[0][1], np.uint8).reshape(H, W, 3)
    assert not np.array_equal(got, want[3])
def test_whole_resume_makes_every_frame_again(tmp_path):
    """Option resume="whole" (holds, in-betweens, painted keyframes: each frame depends on its
    neighbours): a re-run after a cancel sends the whole range, so the result equals an uninterrupted run."""
    client = FakeClient()
    s = make(tmp_path, client, max_in_flight=1)
    s.spec.options = {"resume": "whole"}
    while s.frames_on_disk < 3:
        s.step()
    s.cancel()
    s.run()
    client2 = FakeClient()
    s2 = make(tmp_path, client2)
    s2.spec.options = {"resume": "whole"}
    assert s2.run() == "completed" and s2.reused == 0
    assert [f for _, f, _ in client2.received] == [1, 2, 3, 4, 5, 6]


def test_a_job_that_ends_as_it_opens_reports_its_own_reason(tmp_path):
    """The backend refuses the job's parameters after accepting the submit: the frame sent next finds
    no job (NOT_FOUND), and the session reports the job's own failure instead."""

    class Refusing(FakeClient):
        def send_frame(self, job_id, frame, data, shape=(), encoding="raw", timeout=None):
            self.events.append(Message(kind="event", type=messages.JOB_DONE, body={
                "job_id": job_id, "status": "failed", "frames_done": [], "provenance": {},
                "error": {"code": "INVALID_PARAMS", "message": "frame_0001.png is 9x9 but the clip is 12x8",
                          "stage": "keyframes"}}))
            raise BackendError("NOT_FOUND", f"no queued or running job {job_id!r}")

    s = make(tmp_path, Refusing())
    assert s.run() == "failed"
    assert "frame_0001.png is 9x9 but the clip is 12x8 (stage keyframes) [INVALID_PARAMS]" in s.error
    assert "no queued or running job" not in s.error


def test_a_transparent_source_sends_its_colour_and_the_result_keeps_its_alpha(tmp_path):
    """RGBA source frames (a transparent strip): the backend gets the colour only, each result is
    written RGBA with that frame's alpha, and kino.json counts them; RGB frames stay RGB."""
    def rgba_source(number):
        img = np.zeros((H, W, 4), np.uint8)
        img[..., :3] = number * 10
        img[..., 3] = np.arange(W, dtype=np.uint8) * 20 + number  # differs per frame
        return img if number != 3 else img[..., :3]

    client = FakeClient()
    spec = JobSpec(folder=str(tmp_path / "out"), count=4, width=W, height=H,
                   workflow={"version": 1, "look": "toon", "stages": []})
    s = JobSession(client, spec, rgba_source, poll=0.0)
    assert s.run() == "completed"
    assert [px for _, _, px in client.received] == [10, 20, 30, 40]  # the colour went, 3 channels
    for n in (1, 2, 4):
        out = read_png(frame_path(s.spec.folder, n))
        want = rgba_source(n)
        assert out.shape == (H, W, 4) and np.array_equal(out[..., :3], 255 - want[..., :3])
        assert np.array_equal(out[..., 3], want[..., 3])
    assert read_png(frame_path(s.spec.folder, 3)).shape == (H, W, 3)
    side = json.loads((tmp_path / "out" / "kino.json").read_text())
    assert side["frames"]["alpha_from_source"] == 3 and not s._alphas  # nothing left behind


def _hashed(tmp_path, client, digest, count=4):
    spec = JobSpec(folder=str(tmp_path / "out"), count=count, width=W, height=H,
                   workflow={"version": 1, "look": "toon", "stages": []}, source={"file": "x"}, settings_hash=digest)
    return JobSession(client, spec, source, poll=0.0)


def test_a_run_with_other_settings_that_fails_at_once_keeps_the_earlier_result(tmp_path):
    """Before, the frames made with the old settings were deleted when the new run started, so a run that
    then failed (a wrong model file, a dead backend) left an empty folder where a finished result was."""
    assert _hashed(tmp_path, FakeClient(), "aaa").run() == "completed"
    folder = tmp_path / "out"
    before = {n: (folder / n).read_bytes() for n in os.listdir(folder) if not n.startswith(".")}
    failing = _hashed(tmp_path, FakeClient(fail_submit=BackendError(INVALID_PARAMS, "bad model file")), "bbb")
    assert failing.run() == "failed"
    assert {n: (folder / n).read_bytes() for n in os.listdir(folder) if not n.startswith(".")} == before
    assert json.loads((folder / "kino.json").read_text())["settings_hash"] == "aaa"
    assert not (folder / ".kino-previous").exists()
    again = _hashed(tmp_path, FakeClient(), "aaa")  # the old settings find their frames again
    assert again.run() == "completed" and again.reused == 4
    new = _hashed(tmp_path, FakeClient(), "bbb")  # a run that makes frames replaces them
    assert new.run() == "completed" and new.reused == 0 and not (folder / ".kino-previous").exists()
    assert json.loads((folder / "kino.json").read_text())["settings_hash"] == "bbb"


def test_a_killed_replacing_run_is_settled_by_the_next(tmp_path):
    from kino_addon.core import previous_result
    assert _hashed(tmp_path, FakeClient(), "aaa").run() == "completed"
    folder = str(tmp_path / "out")
    previous_result.set_aside(folder)  # what a run with other settings does before it is killed
    assert existing_frames(folder) == []
    s = _hashed(tmp_path, FakeClient(), "aaa")
    assert s.run() == "completed" and s.reused == 4  # its predecessor came back
    previous_result.set_aside(folder)
    frame = frame_path(folder, 1)
    with open(frame, "wb") as fh:  # the killed run had made a frame: the old result is gone for good
        fh.write(open(os.path.join(folder, ".kino-previous", "frame_0001.png"), "rb").read())
    previous_result.settle(folder)
    assert not os.path.exists(os.path.join(folder, ".kino-previous")) and existing_frames(folder) == [1]


def test_the_recorded_command_runs_from_any_folder():
    """kino.json's line starts with the checkout's launcher by its absolute path (it began with the
    relative scripts/kino, which ran only from the checkout's root)."""
    from kino_addon.core.kino_command import LAUNCHER
    from kino_addon.core.sidecar import reproduce_command
    line = reproduce_command("/clips/a b.mp4", {"look": "toon", "stages": [{"name": "toon", "enabled": True,
                                                                            "params": {"levels": 4}}]},
                             (1, 5), "/out/x")
    assert os.path.isabs(LAUNCHER) and os.path.isfile(LAUNCHER)
    assert line.startswith(f"{LAUNCHER} stylize '/clips/a b.mp4' --look toon --param levels=4 --frames 1:5")
