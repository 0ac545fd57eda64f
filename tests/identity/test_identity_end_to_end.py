"""Through the real backend process and wire protocol (real: launcher, server, job runner, client): a
``face_score`` job and a ``train_lora`` job, as the add-on would submit them. Test models: the tiny face
pack (a bright square is a "face") and Kino's tiny random SD 1.5 checkpoint."""
import os
import pathlib
import sys
import time

import numpy as np
import pytest

from kino_addon.protocol.client import BackendClient
from kino_addon.protocol.launcher import start_backend

from kino_identity_support import square_image

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    backend = start_backend(sys.executable, run_dir=str(tmp_path_factory.mktemp("run")), code_root=str(REPO),
                            extra_env={"OMP_NUM_THREADS": "1"})
    c = BackendClient.connect(backend.host, backend.port, backend.authkey, "kino-identity-test/1")
    yield c
    c.close()
    backend.stop()


def events_of(client, job_id, timeout=240.0):
    out, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = client.next_event(timeout=1.0)
        if ev is None or ev.body.get("job_id") != job_id:
            continue
        out.append(ev)
        if ev.type == "job.done":
            return out
    raise AssertionError(f"job {job_id} did not finish: {[e.type for e in out]}")


def submit(client, workflow, frames, options):
    h, w = frames[0].shape[:2]
    job = client.submit_job(workflow, len(frames), w, h, options)
    for i, f in enumerate(frames):
        client.send_frame(job, i + 1, np.ascontiguousarray(f).tobytes(), shape=(h, w, 3))
    return events_of(client, job)


def test_face_score_job(client, face_pack):
    _dir, root = face_pack
    frames = [square_image(boxes=((30 + 6 * i, 40, 64),), texture_seed=5) for i in range(2)]
    wf = {"version": 1, "look": "none", "stages": [
        {"name": "face_score", "params": {"pack": "face-tiny", "det_size": 256}}, {"name": "none"}]}
    events = submit(client, wf, frames, {"models_dir": root})
    done = events[-1].body
    assert done["status"] == "completed", done
    ident = done["provenance"]["stages"]["face_score"]
    assert ident["mean"] == pytest.approx(1.0, abs=1e-5) and ident["frames_scored"] == 2
    metas = [e.body["meta"] for e in events if e.type == "job.frame"]
    assert [m["face_score"] for m in metas] == pytest.approx([1.0, 1.0], abs=1e-5)


def test_train_lora_job(client, tmp_path):
    from kino_backend.models.tiny import make_tiny
    tiny = make_tiny(str(tmp_path / "models"))
    out = tmp_path / "lora" / "clip.safetensors"
    frames = [np.full((48, 64, 3), (200, 60 + 30 * i, 40), np.uint8) for i in range(3)]
    wf = {"version": 1, "look": "none", "stages": [
        {"name": "train_lora", "params": {"model": tiny["sd15-tiny.safetensors"], "out": str(out), "steps": 6,
                                          "resolution": 64, "rank": 4, "lr": 0.01}}, {"name": "none"}]}
    events = submit(client, wf, frames, {})
    done = events[-1].body
    assert done["status"] == "completed", done
    prov = done["provenance"]["stages"]["train_lora"]
    assert prov["steps"] == 6 and prov["images"] == 3 and out.is_file()
    progress = [e.body for e in events if e.type == "job.progress" and e.body.get("stage") == "train_lora"]
    assert progress and progress[-1]["step"] == 6 and progress[-1]["steps_total"] == 6
    assert isinstance(progress[-1]["loss"], float)  # the training loss travels with the progress
    last = [e.body for e in events if e.type == "job.frame"][-1]
    assert last["frame"] == 3 and last["meta"]["lora_out"] == str(out)
