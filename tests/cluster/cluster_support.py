"""Helpers of the cluster tests: a job fed with frames as the server would, run on the local backend
path or over workers (in-process ``LocalExecutor``, or a real Ray cluster), and its events."""
from __future__ import annotations

import os
import subprocess
import threading
from typing import Dict, List, Optional

import cv2
import numpy as np
import pytest

from kino_addon.protocol import messages
from kino_addon.protocol.envelope import buffer_spec
from kino_backend import jobs
from kino_backend.resources import Resources
from kino_backend.workflow import validate_workflow

REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _footage_dir() -> str:
    """``../shared/footage`` next to the repository; in a git worktree, next to its main checkout."""
    candidates = [os.path.join(os.path.dirname(REPO), "shared", "footage")]
    try:
        common = subprocess.run(["git", "rev-parse", "--git-common-dir"], cwd=REPO, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        if common:
            main = os.path.dirname(os.path.abspath(os.path.join(REPO, common)))
            candidates.append(os.path.join(os.path.dirname(main), "shared", "footage"))
    except (OSError, subprocess.SubprocessError):
        pass
    return next((c for c in candidates if os.path.isdir(c)), candidates[0])


FOOTAGE = _footage_dir()


def footage(name: str) -> str:
    path = os.path.join(FOOTAGE, name)
    if not os.path.exists(path):
        pytest.skip(f"shared footage not found at {path} (tests read ../shared/footage next to the repository)")
    return path


def read_clip(path: str, count: int, width: int = 96, start: int = 0, size: Optional[tuple] = None) -> List[np.ndarray]:
    """``count`` RGB frames of a video, scaled to ``width`` (or exactly ``size`` = (w, h))."""
    cap = cv2.VideoCapture(path)
    out, i = [], 0
    while len(out) < count:
        ok, frame = cap.read()
        if not ok:
            break
        if i >= start:
            w, h = size or (width, int(round(frame.shape[0] * width / frame.shape[1])))
            out.append(cv2.cvtColor(cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
        i += 1
    cap.release()
    return out


def clip_with_cut(count_a: int = 14, count_b: int = 11, width: int = 96) -> List[np.ndarray]:
    """Two real shots one after the other: a hard cut at frame ``count_a + 1``."""
    a = read_clip(footage("runner_tracking_shot.mp4"), count_a, width)
    b = read_clip(footage("handheld_park.mp4"), count_b, size=a[0].shape[1::-1])
    return a + b


def synthetic_clip(n_a: int = 11, n_b: int = 9, w: int = 72, h: int = 56):
    """Two textured shots, each a slow pan: a hard cut at frame ``n_a + 1``."""
    def shot(n, seed, dx):
        rng = np.random.default_rng(seed)
        big = cv2.resize(rng.uniform(0, 255, size=(h // 6, (w + 4 * n) // 6, 3)).astype(np.float32),
                         (w + 4 * n, h), interpolation=cv2.INTER_CUBIC)
        big = np.clip(cv2.GaussianBlur(big, (0, 0), 1.2), 0, 255).astype(np.uint8)
        return [np.ascontiguousarray(big[:, int(round(dx * i)):int(round(dx * i)) + w]) for i in range(n)]
    return shot(n_a, 1, 1.5) + shot(n_b, 2, 2.5)


def real_or_synthetic(count_a: int, count_b: int, width: int) -> List[np.ndarray]:
    """``clip_with_cut`` from the real footage when it is there, else ``synthetic_clip`` of that size."""
    if os.path.isdir(FOOTAGE):
        return clip_with_cut(count_a, count_b, width)
    return synthetic_clip(count_a, count_b, width, int(width * 3 / 4) // 2 * 2)


def workflow(look: str = "toon", temporal: Optional[dict] = None, extra: Optional[list] = None) -> dict:
    stages = [{"name": look, "enabled": True, "params": {}}]
    if temporal is not None:
        stages.append({"name": "temporal", "enabled": True, "params": temporal})
    return {"version": 1, "look": look, "stages": stages + list(extra or [])}


class Owner:
    """The Session stand-in: records the job's events (frames by number, the job.done body)."""

    def __init__(self):
        self.frames: Dict[int, np.ndarray] = {}
        self.order: List[int] = []
        self.progress: List[dict] = []
        self.done: Optional[dict] = None
        self.lock = threading.Lock()
        self.on_frame = None  # tests: called with the frame number after each frame

    def send_event(self, type, re, body, buffers=()):
        with self.lock:
            if type == messages.JOB_FRAME:
                spec, data = buffers[0]
                self.frames[body["frame"]] = np.array(data).reshape(spec["shape"])
                self.order.append(body["frame"])
            elif type == messages.JOB_PROGRESS:
                self.progress.append(dict(body))
            elif type == messages.JOB_DONE:
                self.done = body
        if type == messages.JOB_FRAME and self.on_frame is not None:
            self.on_frame(body["frame"])
        return True


def make_job(frames: List[np.ndarray], wf: dict, options: Optional[dict] = None, job_id: str = "job-t") -> jobs.Job:
    h, w = frames[0].shape[:2]
    job = jobs.Job(job_id, Owner(), "r-1", validate_workflow(wf), len(frames), w, h, dict(options or {}), 0)
    for i, f in enumerate(frames, start=1):
        data = np.ascontiguousarray(f).tobytes()
        job.add_input(i, buffer_spec("image", len(data), [h, w, 3]), data, lambda error: None)
    job.released.set()
    return job


def run(frames: List[np.ndarray], wf: dict, options: Optional[dict] = None) -> Owner:
    """Run a job to its end the way the backend's worker thread does; returns its recorded events."""
    job = make_job(frames, wf, options)
    jobs.run_job(job, Resources())
    return job.owner


def stack(owner: Owner, n: int) -> np.ndarray:
    assert sorted(owner.frames) == list(range(1, n + 1)), f"frames received: {sorted(owner.frames)}"
    return np.stack([owner.frames[i] for i in range(1, n + 1)])


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())
