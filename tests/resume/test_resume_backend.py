"""Crash and resume against the real backend process: the add-on's JobSession stylizes real footage,
the backend is killed (SIGKILL) after a few frames, a fresh backend resumes the same folder, and the
result equals the uninterrupted run (max difference 1 level) with the temporal stage on."""
from __future__ import annotations

import os
import sys

import cv2
import numpy as np
import pytest

from kino_addon.core.plan import existing_frames, frame_path
from kino_addon.core.png import read_png
from kino_addon.core.job_session import JobSession, JobSpec
from kino_addon.protocol.launcher import start_backend

pytestmark = pytest.mark.slow  # real backend processes, killed and restarted

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FOOTAGE = os.environ.get("KINO_FOOTAGE") or os.path.join(os.path.dirname(REPO), "shared", "footage")
COUNT = 14


def clip(name: str, width: int = 128) -> list:
    path = os.path.join(FOOTAGE, name)
    if not os.path.exists(path):
        pytest.skip(f"real footage not found at {path} (../shared/footage is absent)")
    from kino_backend.metrics.frames import load_clip
    frames = load_clip(path, count=COUNT)
    h, w = frames[0].shape[:2]
    size = (width, int(round(h * width / w / 2)) * 2)
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]


def spec(folder, frames, stages) -> JobSpec:
    h, w = frames[0].shape[:2]
    look = next(s["name"] for s in stages if s["name"] in ("toon", "watercolor", "paint", "pencil"))
    return JobSpec(folder=str(folder), count=len(frames), width=w, height=h,
                   workflow={"version": 1, "look": look, "stages": stages}, settings_hash="h1",
                   versions={"backend": "kino/test"})


def run_session(tmp_path, folder, frames, stages, kill_after=None) -> JobSession:
    backend = start_backend(sys.executable, run_dir=str(tmp_path / f"run{len(os.listdir(tmp_path))}"),
                            code_root=REPO)
    client = backend.connect("kino-resume-test")
    try:
        s = JobSession(client, spec(folder, frames, stages), lambda n: frames[n - 1], alive=backend.alive,
                       max_in_flight=2)
        while not s.step():
            if kill_after is not None and s.frames_on_disk >= kill_after and backend.alive():
                backend.proc.kill()  # a crash: no goodbye, no job.done
        return s
    finally:
        client.close()
        backend.stop()


CASES = {
    "toon": [{"name": "toon"}, {"name": "temporal"}],
    "watercolor-deflicker": [{"name": "watercolor"}, {"name": "temporal", "params": {"deflicker": True}}],
    "toon-keyframes": [{"name": "toon"}, {"name": "temporal", "params": {"keyframe_interval": 4}}],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_killed_backend_resume_equals_uninterrupted(tmp_path, case):
    frames = clip("handheld_park.mp4")
    stages = [dict({"enabled": True, "params": {}}, **s) for s in CASES[case]]
    full = run_session(tmp_path, tmp_path / "full", frames, stages)
    assert full.state == "completed"
    folder = tmp_path / "resumed"
    kills = 0
    for kill_after in (3, 7, 11):
        s = run_session(tmp_path, folder, frames, stages, kill_after=kill_after)
        if s.state == "failed":
            kills += 1
            assert "backend" in s.error and "resume" in s.error
    assert kills >= 2, "the backend was not killed mid-way"
    last = run_session(tmp_path, folder, frames, stages)
    assert last.state == "completed" and existing_frames(str(folder)) == list(range(1, COUNT + 1))
    worst = max(int(np.abs(read_png(frame_path(str(folder), n)).astype(int)
                           - read_png(frame_path(str(tmp_path / "full"), n))).max()) for n in range(1, COUNT + 1))
    assert worst <= 1, f"{case}: resumed frames differ by up to {worst} levels"
