"""The add-on's LoRA-training logic without Blender: workflow, frame choice, the lora list edit, and
the progress a TrainSession shows from job.progress events."""
import types

from kino_addon.core.lora_training import (TrainSession, append_lora, default_lora_path, every_nth,
                                           train_workflow)
from kino_addon.core.job_session import JobSpec


def test_workflow_frames_and_default_path():
    wf = train_workflow({"model": "m.safetensors", "out": "/x/a.safetensors"})
    assert wf == {"version": 1, "look": "none", "stages": [
        {"name": "train_lora", "params": {"model": "m.safetensors", "out": "/x/a.safetensors"}}, {"name": "none"}]}
    assert every_nth(10, 17, 3) == [10, 13, 16] and every_nth(1, 4, 1) == [1, 2, 3]
    assert default_lora_path("/p/kino", "My Actor") == "/p/kino/lora/My_Actor.safetensors"


def test_append_lora_adds_once_and_keeps_weights():
    assert append_lora("", "/l/a.safetensors") == "/l/a.safetensors"
    assert append_lora("/l/a.safetensors:0.5", "/l/a.safetensors") == "/l/a.safetensors:0.5"
    assert append_lora("/l/a.safetensors:0.5; /l/b.safetensors", "/l/c.safetensors") == \
        "/l/a.safetensors:0.5; /l/b.safetensors; /l/c.safetensors"
    assert append_lora("C:\\l\\a.safetensors", "C:\\l\\a.safetensors") == "C:\\l\\a.safetensors"


def test_train_session_progress_and_failure(tmp_path):
    spec = JobSpec(folder=str(tmp_path / "scratch"), count=2, width=8, height=8, workflow=train_workflow({}))
    s = TrainSession(None, spec, lambda n: None)
    s.state, s.job_id, s.todo = "running", "j1", [1, 2]
    s.sent = 2
    s._on_progress(types.SimpleNamespace(body={"job_id": "j1", "stage": "train_lora", "step": 3,
                                               "steps_total": 12, "loss": 0.25}))
    assert s.progress_text() == "training step 3 of 12, loss 0.2500" and s.fraction == 0.25
    s._fail("MODEL_MISSING: model not found")
    assert s.state == "failed" and s.error == "MODEL_MISSING: model not found"  # no "resume" note
