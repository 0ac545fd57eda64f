"""``python -m kino_backend bench temporal [--json]``: how much the temporal stage removes flicker.

For each real clip (30-frame excerpts of the shared footage, downscaled for CPU time) a look is run
frame by frame, through the temporal stage in per-frame mode, and in keyframe mode; then, with the flow
from the source (docs/metrics.md), the warping error of each, of the source itself, and the mean absolute
difference (0-255) of the temporal outputs to the per-frame look. Targets (issue 5): temporal_we <=
0.4 x per_frame_we and <= 1.5 x source_we, mad_to_per_frame <= 6; keyframe mode within the same
bounds with about K times fewer stylized frames.

Ghosting (``ghost``, 0-255, per mode): the mean difference of the output to the per-frame look over
the pixels where the flow fails — where the previous source frame, carried along the full-size DIS flow,
still differs from the current one by more than 0.1 (residual blurred over 2 px) — i.e. how much of the
previous frames the temporal stage leaves where it should not (doubled outlines). ``--ghost-guard``
sets ``temporal.ghost_guard`` (default: the stage's 0.5).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Dict, List

import cv2
import numpy as np

from ..flow import DISFlow, FlowCache
from ..metrics.frames import load_clip
from ..metrics.warp_error import warping_error
from .footage import add_footage_argument, resolve_clip
from ..stages.base import Frame, JobContext, StageRun

DEFAULT_CLIPS = ("handheld_park.mp4", "runner_tracking_shot.mp4", "talking_head.mp4", "handheld_seattle.avi")


class StandInToon(StageRun):
    """A deliberately flickery toon (hard colour quantization + Canny ink) for when no look is given."""

    def __init__(self):
        pass

    def stylize(self, frame, init=None, init_strength=None):
        img = cv2.bilateralFilter(frame.image, 7, 40, 7)
        q = (img // 48) * 48 + 24
        edges = cv2.Canny(cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY), 80, 160)
        q[edges > 0] = 20
        return q.astype(np.uint8)


class CountingLook(StageRun):
    """Wraps a look: counts stylize calls and memoizes by frame content (classic looks are
    deterministic and ignore ``init``, so the per-frame and temporal runs share their stylizations)."""

    def __init__(self, inner: StageRun):
        self.inner = inner
        self.calls = 0
        self._memo: Dict[bytes, np.ndarray] = {}

    def stylize(self, frame, init=None, init_strength=None):
        self.calls += 1
        key = frame.image.tobytes()
        if key not in self._memo:
            self._memo[key] = np.asarray(self.inner.stylize(frame), np.uint8)
        return self._memo[key]


def open_look(name: str, ctx: JobContext):
    if name == "standin":
        return StandInToon(), "standin"
    from ..stages import get_stage

    try:
        stage = get_stage(name)
    except KeyError:
        print(f"bench temporal: look {name!r} is not registered; using the stand-in toon", file=sys.stderr)
        return StandInToon(), "standin"
    return stage.open(stage.validate({}), ctx), name


def preset_temporal_params(look: str) -> dict:
    """The ``temporal`` stage params of the look's built-in preset ({} when it has none)."""
    from ..presets import builtin_presets

    preset = builtin_presets()[0].get(look) or {"stages": []}
    for entry in preset["stages"]:
        if entry["name"] == "temporal":
            return dict(entry.get("params") or {})
    return {}


def temporal_settings(args) -> None:
    """Fill ``--strength`` and ``--kf-smoothing`` left unset from the look's preset, else the stage's
    defaults (0.9 and 0.7), so the bench measures what a user of the look gets."""
    from ..stages import get_stage

    defaults = get_stage("temporal").validate({})
    preset = preset_temporal_params(args.look)
    args.temporal_params = preset
    if args.strength is None:
        args.strength = float(preset.get("strength", defaults["strength"]))
    if args.kf_smoothing is None:
        args.kf_smoothing = float(preset.get("keyframe_smoothing", defaults["keyframe_smoothing"]))


def run_temporal(frames: List[np.ndarray], look: StageRun, params: dict, cache: dict) -> tuple:
    from ..stages import get_stage

    stage = get_stage("temporal")
    h, w = frames[0].shape[:2]
    ctx = JobContext(job_id="bench", frames_total=len(frames), width=w, height=h, cache=cache)
    run = stage.open(stage.validate(params), ctx)
    src = (Frame(i + 1, f, f.copy()) for i, f in enumerate(frames))
    out = [f.image for f in run.schedule(src, look)]
    return out, ctx.provenance["temporal"]


def flow_failures(frames: List[np.ndarray], flows: FlowCache) -> List[np.ndarray]:
    """For each frame after the first, where the previous frame carried along the flow still differs
    (blurred residual > 0.1): the pixels whose content the flow cannot account for."""
    from ..stages.temporal.warp import residual

    masks = []
    for prev, cur in zip(frames[:-1], frames[1:]):
        res = residual(prev, cur, flows.flow(cur, prev))
        masks.append(cv2.GaussianBlur(res, (0, 0), 2.0) > 0.1)
    return masks


def ghost(out: List[np.ndarray], per_frame: List[np.ndarray], failures: List[np.ndarray]) -> float:
    """Mean difference (0-255) of ``out`` to the per-frame look over the flow's failures (0 when none)."""
    values = [np.abs(o.astype(np.float32) - p).mean(axis=2)[m].mean()
              for o, p, m in zip(out[1:], per_frame[1:], failures) if m.any()]
    return float(np.mean(values)) if values else 0.0


def bench_clip(frames: List[np.ndarray], look_run: StageRun, args) -> dict:
    look = CountingLook(look_run)
    per_frame = [look.stylize(Frame(i + 1, f, f)) for i, f in enumerate(frames)]
    flows = FlowCache(DISFlow())
    cache = {"kino.flow_cache": {flows.backend.key: flows}}  # stage and metric share the clip's flows
    source_we, _ = warping_error(frames, flow_cache=flows)
    pf_we, _ = warping_error(per_frame, frames, flow_cache=flows)
    failures = flow_failures(frames, flows)
    result = {"source_we": source_we, "per_frame_we": pf_we, "frames": len(frames),
              "flow_failure_area": float(np.mean([m.mean() for m in failures]))}
    base = dict(getattr(args, "temporal_params", {}))  # the preset's other temporal settings
    if getattr(args, "ghost_guard", None) is not None:
        base["ghost_guard"] = args.ghost_guard
    modes = {"": {**base, "strength": args.strength, "keyframe_interval": 0},
             "kf_": {**base, "strength": args.strength, "keyframe_interval": args.k,
                     "keyframe_smoothing": args.kf_smoothing}}
    for prefix, params in modes.items():
        look.calls = 0
        out, prov = run_temporal(frames, look, params, cache)
        we, _ = warping_error(out, frames, flow_cache=flows)
        mad = float(np.mean([np.abs(a.astype(np.int16) - b).mean() for a, b in zip(out, per_frame)]))
        result.update({f"{prefix}temporal_we": we, f"{prefix}mad_to_per_frame": mad,
                       f"{prefix}frames_stylized": look.calls, f"{prefix}ratio_to_per_frame": we / pf_we,
                       f"{prefix}ratio_to_source": we / source_we, f"{prefix}ghost": ghost(out, per_frame, failures)})
        if prefix:
            result["kf_keyframes"] = prov["keyframes"]
            result["kf_fallback_frames"] = prov["fallback_frames"]
    result["meets_targets"] = all(result[f"{p}ratio_to_per_frame"] <= 0.4 and result[f"{p}ratio_to_source"] <= 1.5
                                  and result[f"{p}mad_to_per_frame"] <= 6 for p in modes)
    return result


def _args(argv):
    p = argparse.ArgumentParser(prog="kino bench temporal", description=__doc__.splitlines()[0])
    p.add_argument("--look", default="toon", help="a registered look stage, or 'standin' (default toon)")
    p.add_argument("--clips", nargs="*", default=list(DEFAULT_CLIPS),
                   help="clip paths, or names under --footage (default: the four clips the README's figures name)")
    add_footage_argument(p)
    p.add_argument("--frames", type=int, default=30, help="frames per excerpt (default 30)")
    p.add_argument("--start", type=int, default=0, help="first frame (0-based) of each excerpt")
    p.add_argument("--width", type=int, default=0, help="downscale to this width (default 0 = source size)")
    p.add_argument("--strength", type=float, default=None,
                   help="temporal.strength (default: the look preset's value, else 0.9)")
    p.add_argument("--k", type=int, default=10, help="keyframe_interval for keyframe mode (default 10)")
    p.add_argument("--kf-smoothing", dest="kf_smoothing", type=float, default=None,
                   help="temporal.keyframe_smoothing for keyframe mode (default: the look preset's value, "
                        "else 0.7)")
    p.add_argument("--ghost-guard", dest="ghost_guard", type=float, default=None,
                   help="temporal.ghost_guard (default: the stage's, 0.5; 0 = off)")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    return p.parse_args(argv)


def main(argv: List[str]) -> int:
    args = _args(argv)
    temporal_settings(args)
    try:
        paths = [resolve_clip(name, args.footage) for name in args.clips]
    except FileNotFoundError as exc:
        print(f"bench temporal: {exc}", file=sys.stderr)
        return 2
    results, t0 = {}, time.time()
    look_name = None
    for name, path in zip(args.clips, paths):
        frames = load_clip(path, start=args.start, count=args.frames)
        if args.width and frames and frames[0].shape[1] != args.width:
            h, w = frames[0].shape[:2]
            size = (args.width, max(2, int(round(h * args.width / w / 2)) * 2))
            frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
        h, w = frames[0].shape[:2]
        look_run, look_name = open_look(args.look, JobContext("bench", len(frames), w, h))
        results[name] = bench_clip(frames, look_run, args)
        if not args.json:
            r = results[name]
            print(f"{name}: source {r['source_we']:.5f} per-frame {r['per_frame_we']:.5f} temporal "
                  f"{r['temporal_we']:.5f} ({r['ratio_to_per_frame']:.2f}x, {r['ratio_to_source']:.2f}x src, "
                  f"mad {r['mad_to_per_frame']:.2f}) keyframes {r['kf_temporal_we']:.5f} "
                  f"({r['kf_ratio_to_per_frame']:.2f}x, {r['kf_ratio_to_source']:.2f}x src, mad "
                  f"{r['kf_mad_to_per_frame']:.2f}, {r['kf_frames_stylized']}/{r['frames']} stylized)")
    summary = {"look": look_name, "clips": results, "all_meet_targets": all(r["meets_targets"] for r in results.values()),
               "settings": {"frames": args.frames, "start": args.start, "width": args.width,
                            "strength": args.strength, "keyframe_interval": args.k,
                            "keyframe_smoothing": args.kf_smoothing, "flow": "dis",
                            "ghost_guard": args.ghost_guard},
               "seconds": round(time.time() - t0, 1)}
    print(json.dumps(summary) if args.json else f"all meet targets: {summary['all_meet_targets']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
