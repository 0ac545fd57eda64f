"""``python -m kino_backend bench resume --clip CLIP [--kills 20] [--frames 24] [--width 128] --json``:
crash and resume against the real backend process.

For each workflow (temporal per-frame, with deflicker, keyframe interval, motion keyframes) the add-on's
``JobSession`` stylizes the clip's first frames once uninterrupted, then again into another folder
while the backend is killed (SIGKILL, no goodbye) after a random number of finished frames, resumed by
a fresh backend each time, until the kills are spent; the resumed frames are compared with the
uninterrupted ones. Prints kills and the max difference (levels of 255).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
from typing import List

import cv2
import numpy as np

from .footage import add_footage_argument, resolve_clip

WORKFLOWS = {
    "toon": [{"name": "toon"}, {"name": "temporal"}],
    "watercolor+deflicker": [{"name": "watercolor"}, {"name": "temporal", "params": {"deflicker": True}}],
    "toon keyframes K=5": [{"name": "toon"}, {"name": "temporal", "params": {"keyframe_interval": 5}}],
    "paint motion keyframes": [{"name": "paint"},
                               {"name": "temporal", "params": {"keyframes": "motion", "keyframe_interval": 6}}],
}
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def _session(work: str, folder: str, frames, stages, kill_after=None):
    from kino_addon.core.job_session import JobSession, JobSpec
    from kino_addon.protocol.launcher import start_backend
    backend = start_backend(sys.executable, run_dir=tempfile.mkdtemp(dir=work), code_root=REPO)
    client = backend.connect("kino-bench-resume")
    h, w = frames[0].shape[:2]
    spec = JobSpec(folder=folder, count=len(frames), width=w, height=h, settings_hash="bench",
                   workflow={"version": 1, "look": stages[0]["name"], "stages": stages},
                   versions={"backend": "kino/bench"})
    try:
        s = JobSession(client, spec, lambda n: frames[n - 1], alive=backend.alive, max_in_flight=2)
        while not s.step():
            if kill_after is not None and s.frames_on_disk >= kill_after and backend.alive():
                backend.proc.kill()
        return s.state
    finally:
        client.close()
        backend.stop()


def _max_diff(a: str, b: str, count: int) -> int:
    from kino_addon.core.plan import frame_path
    from kino_addon.core.png import read_png
    return max(int(np.abs(read_png(frame_path(a, n)).astype(int) - read_png(frame_path(b, n))).max())
               for n in range(1, count + 1))


def run_workflow(work: str, frames, stages, kills: int, rng: random.Random) -> dict:
    stages = [dict({"enabled": True, "params": {}}, **s) for s in stages]
    full, resumed = os.path.join(work, "full"), os.path.join(work, "resumed")
    for path in (full, resumed):
        shutil.rmtree(path, ignore_errors=True)
    _session(work, full, frames, stages)
    done, points = 0, []
    while done < kills:
        at = rng.randint(1, len(frames) - 2)
        state = _session(work, resumed, frames, stages, kill_after=at)
        if state == "failed":
            done, points = done + 1, points + [at]
        elif state == "completed":
            shutil.rmtree(resumed)  # finished before the kill landed: start over for the next kill
    _session(work, resumed, frames, stages)
    return {"kills": done, "kill_points": points, "max_difference": _max_diff(resumed, full, len(frames))}


def main(argv: List[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m kino_backend bench resume", description=__doc__.splitlines()[0])
    p.add_argument("--clip", required=True, help="a video file, or a name under --footage (its first --frames "
                   "frames are used)")
    p.add_argument("--kills", type=int, default=20, help="kills in all, spread over the workflows")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--width", type=int, default=128, help="frames are scaled to this width")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--json", action="store_true")
    add_footage_argument(p)
    args = p.parse_args(argv)
    from ..metrics.frames import load_clip
    try:
        args.clip = resolve_clip(args.clip, args.footage)
    except FileNotFoundError as exc:
        print(f"bench resume: {exc}", file=sys.stderr)
        return 2
    frames = load_clip(args.clip, count=args.frames)
    h, w = frames[0].shape[:2]
    size = (args.width, int(round(h * args.width / w / 2)) * 2)
    frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    rng = random.Random(args.seed)
    per = max(1, args.kills // len(WORKFLOWS))
    work = tempfile.mkdtemp(prefix="kino-bench-resume-")
    try:
        rows = {name: run_workflow(work, frames, stages, per, rng) for name, stages in WORKFLOWS.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"clip": os.path.abspath(args.clip), "frames": len(frames), "size": list(size),
              "kills": sum(r["kills"] for r in rows.values()),
              "max_difference": max(r["max_difference"] for r in rows.values()), "workflows": rows}
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0
