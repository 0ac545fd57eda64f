"""``python -m kino_backend bench stabilize [--json]``: residual jitter of Kino's stabilization against
Blender's own, and the stabilize-then-restore round trip.

For each real static-camera clip (default: the green-screen actor, a fixed camera with a man moving
through the shot) the frames are shaken by a known random shift (up to ``--shift`` px) and rotation
(up to ``--degrees``) per frame and saved as a lossless PNG folder. Then:

* ``kino``: ``scripts/kino stabilize`` on the shaken folder (Blender's tracker + Kino's robust solver);
* ``blender``: Blender's 2D stabilization set up the ordinary way (detect features, track, all
  full-length tracks as location and rotation tracks, Movie Clip -> Stabilize 2D), rendered;
* residual jitter (docs/metrics.md) of the original, shaken, Kino and Blender frames;
* round trip: the backend stage ``stabilize`` warps the shaken frames by Kino's matrices and back
  (the ``none`` look in between), mean absolute difference to the input away from the borders.

Targets (issue 6): kino jitter <= 0.5 px (or at most the unshaken clip's own jitter where the metric
measures more than that on the original, e.g. a talking head whose moving face dominates the KLT
features) and clearly below Blender's; round-trip MAD <= 2/255. ``--face-clip`` also runs
``--track-region face`` on an unshaken clip and reports how much the face moves in the frame.
Both Blender runs use ``.venv-blender`` (or ``KINO_BLENDER_PYTHON``) as a subprocess.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import List

import cv2
import numpy as np

from .. import stabilize_metrics as sm
from .footage import add_footage_argument, resolve_clip
from ..stages import get_stage
from ..stages.base import Frame, JobContext

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
DEFAULT_CLIPS = ("greenscreen_actor.mp4",)


def blender_python() -> str:
    path = os.environ.get("KINO_BLENDER_PYTHON") or os.path.join(REPO, ".venv-blender", "bin", "python")
    if not os.path.exists(path):
        raise RuntimeError(f"Blender's Python {path} is missing; run scripts/setup_env.sh blender")
    return path


def _run_blender(args: List[str]) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO, "backend"), REPO]))
    proc = subprocess.run([blender_python()] + args, capture_output=True, text=True, env=env, cwd=REPO)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"Blender step failed: {tail}")
    return proc.stdout


def write_pngs(frames, folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    for i, f in enumerate(frames, start=1):
        cv2.imwrite(os.path.join(folder, f"frame_{i:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))


def round_trip(frames, matrices) -> dict:
    """Stage ``stabilize`` prepare -> (none look) -> finish; MAD (0..255) to the input, 10% borders cut."""
    stage = get_stage("stabilize")
    h, w = frames[0].shape[:2]
    ctx = JobContext(job_id="bench", frames_total=len(frames), width=w, height=h,
                     options={"stabilize": {"matrices": np.asarray(matrices).tolist()}})
    run = stage.open(stage.validate({}), ctx)
    items = (Frame(i + 1, f, f.copy()) for i, f in enumerate(frames))
    out = list(run.finish(run.prepare(items)))
    mads = [sm.border_cut_mad(o.image, f) for o, f in zip(out, frames)]
    return {"mean": float(np.mean(mads)), "max": float(np.max(mads))}


def bench_clip(path: str, count: int, shift: float, degrees: float, seed: int, work: str) -> dict:
    original = sm.read_frames(path, limit=count)
    if len(original) < 9:
        raise RuntimeError(f"{path}: need at least 9 frames, got {len(original)}")
    h, w = original[0].shape[:2]
    shake = sm.shake_matrices(len(original), w, h, shift_px=shift, degrees=degrees, seed=seed)
    shaken = sm.shake(original, shake)
    name = os.path.splitext(os.path.basename(path))[0]
    shaken_dir, kino_dir, blender_dir = (os.path.join(work, name, d) for d in ("shaken", "kino", "blender"))
    write_pngs(shaken, shaken_dir)
    t0 = time.time()
    summary = json.loads(_run_blender(["-m", "kino_addon.blender.stabilize.command", shaken_dir,
                                       "--out", kino_dir, "--json"]).strip().splitlines()[-1])
    kino_s = time.time() - t0
    t0 = time.time()
    code = ("import json,sys; from kino_addon.blender.stabilize.trees import blender_default_stabilize as b; "
            "print(json.dumps(b(sys.argv[1], sys.argv[2])))")
    blender = json.loads(_run_blender(["-c", code, shaken_dir, blender_dir]).strip().splitlines()[-1])
    blender_s = time.time() - t0
    with open(os.path.join(kino_dir, "transforms.json"), encoding="utf-8") as fh:
        matrices = [f["matrix"] for f in sorted(json.load(fh)["frames"], key=lambda f: f["frame"])]
    jit = {"original": sm.residual_jitter(original), "shaken": sm.residual_jitter(shaken),
           "kino": sm.residual_jitter(sm.read_frames(kino_dir)),
           "blender": sm.residual_jitter(sm.read_frames(blender_dir))}
    return {"clip": os.path.basename(path), "frames": len(original), "size": [w, h],
            "shake": {"shift_px": shift, "degrees": degrees, "seed": seed},
            "jitter_px": {k: round(v, 4) for k, v in jit.items()},
            "round_trip_mad": {k: round(v, 4) for k, v in round_trip(shaken, matrices).items()},
            "kino": {"tracks_used": summary["tracks_used"], "tracks_total": summary["tracks_total"],
                     "smoothing": summary["smoothing"], "seconds": round(kino_s, 1)},
            "blender": dict(blender, seconds=round(blender_s, 1))}


def bench_face(path: str, count: int, work: str) -> dict:
    """``--track-region face`` on the unshaken clip: how much the face moves in the frame (RMS of the
    median KLT displacement of features on it) before and after."""
    name = os.path.splitext(os.path.basename(path))[0]
    src_dir, out_dir = os.path.join(work, name + "_face", "source"), os.path.join(work, name + "_face", "kino")
    frames = sm.read_frames(path, limit=count)
    write_pngs(frames, src_dir)
    summary = json.loads(_run_blender(["-m", "kino_addon.blender.stabilize.command", src_dir, "--out", out_dir,
                                       "--track-region", "face", "--json"]).strip().splitlines()[-1])
    region = summary["region"]
    x, y, w, h = region
    inner = (x + 0.2 * w, y + 0.15 * h, 0.6 * w, 0.5 * h)       # eyes, nose: not the moving jaw
    rms = {}
    for key, clip_frames in (("source", frames), ("face_locked", sm.read_frames(out_dir))):
        d = sm.region_motion(clip_frames, inner)
        rms[key] = round(float(np.sqrt(np.nanmean(np.sum(d ** 2, axis=1)))), 3)
    return {"clip": os.path.basename(path), "frames": len(frames), "region": region,
            "face_motion_rms_px": rms, "tracks_used": summary["tracks_used"]}


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="kino_backend bench stabilize", description=__doc__.splitlines()[0])
    ap.add_argument("--clips", nargs="*", default=list(DEFAULT_CLIPS), help="clip paths, or names under --footage")
    add_footage_argument(ap)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--shift", type=float, default=4.0, help="max shake shift, px")
    ap.add_argument("--degrees", type=float, default=1.0, help="max shake rotation, degrees")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", default=None, help="keep the frames in this folder")
    ap.add_argument("--face-clip", default="talking_head.mp4", help="clip for the face-lock check ('' to skip)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    work = args.keep or tempfile.mkdtemp(prefix="kino-bench-stab-")
    cases = []
    for clip in args.clips:
        try:
            path = resolve_clip(clip, args.footage)
        except FileNotFoundError as exc:
            print(f"bench stabilize: {exc}", file=sys.stderr)
            return 2
        cases.append(bench_clip(path, args.frames, args.shift, args.degrees, args.seed, work))
    face = None
    if args.face_clip:
        try:
            face = bench_face(resolve_clip(args.face_clip, args.footage), args.frames, work)
        except FileNotFoundError as exc:
            face = {"skipped": str(exc)}
    for c in cases:   # the metric's floor is the unshaken clip's own jitter (a moving head dominates it)
        j = c["jitter_px"]
        c["pass"] = bool(j["kino"] <= max(0.5, j["original"]) and j["kino"] < j["blender"]
                         and c["round_trip_mad"]["max"] <= 2.0)
    ok = all(c["pass"] for c in cases)
    result = {"cases": cases, "face": face, "targets": {"kino_jitter_px_max": 0.5, "round_trip_mad_max": 2.0},
              "pass": ok, "work": work}
    if args.json:
        print(json.dumps(result))
    else:
        for c in cases:
            print(f"{c['clip']}: jitter px {c['jitter_px']}  round trip MAD {c['round_trip_mad']}")
        if face:
            print(f"face lock {face['clip']}: face motion RMS px {face['face_motion_rms_px']}")
        print("PASS" if ok else "FAIL")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
