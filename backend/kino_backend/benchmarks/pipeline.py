"""``python -m kino_backend bench pipeline --clip CLIP [--frames N] [--look toon] [--json]``: where the time
of a real stylize run goes, end to end through Blender (``scripts/kino stylize``), as a new user runs it.

Runs, one after the other on the same clip (so the machine's noise mostly cancels in the ratios):
``startup`` (the pass-through look on 1 frame: starting Blender, the add-on and the backend), ``none``
(the pass-through look: what Kino itself costs around a look), ``look_off`` (the look, temporal off),
``look_on`` (the look with the temporal stage, per-frame mode) and ``look_keyframes`` (temporal
keyframe mode, K=10). For each: wall seconds per frame including start-up, per frame without it
(``steady``), and the parts each side recorded in ``kino.json``: the add-on's ``timings`` (extracting
the frame in Blender, sending it, encoding + writing the result) and the backend's
``provenance.timings.parts_s_per_frame`` (waiting for input, each stage, the look, sending back).

Ratios (issue targets in docs/performance.md): ``temporal_on_over_off`` (<= 1.5 at 1080p),
``none_over_look_off`` (<= 0.3), ``keyframes_speedup`` (per-frame-on over keyframes, >= 4), each
with and without start-up. ``--memory`` adds the temporal run on twice the frames and compares the
peak memory of both processes (flat with clip length: growth ratio near 1). ``--rounds N`` runs the whole
plan N times in turn (start-up, none, off, on, keyframes, start-up, none, ...): each ratio is the median
of the rounds' own ratios (each still of two runs made back to back), each run's parts are those of its
median round, and every round's ratios are listed (``rounds``), so one noisy run does not decide.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

from .footage import add_footage_argument, resolve_clip

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kino bench pipeline", description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", required=True, help="a video file (or a name in --footage)")
    p.add_argument("--frames", type=int, default=24, help="frames from the clip's start (default 24)")
    p.add_argument("--look", default="toon", help="the look measured (default toon)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter of the measured look's runs, as scripts/kino stylize takes it "
                        "(repeatable; e.g. model=PATH steps=4 for --look diffusion)")
    p.add_argument("--keyframe-interval", type=int, default=10, help="K of the keyframe-mode run (default 10)")
    p.add_argument("--memory", action="store_true", help="also run the look with temporal on 2x the frames "
                   "and compare peak memory")
    p.add_argument("--blender", default=None, help="passed to scripts/kino (a release: 4.5|5.0|5.2|5.3, or a path)")
    p.add_argument("--rounds", type=int, default=1,
                   help="run the whole plan this many times in turn; each ratio is the median of the "
                        "rounds' own (default 1)")
    p.add_argument("--keep", default=None, help="keep the output folders here (default: a temporary folder)")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    add_footage_argument(p)
    return p


def run_one(clip: str, out: str, look: str, temporal: str, frames: int, params: List[str],
            blender: Optional[str]) -> dict:
    """One ``scripts/kino stylize`` run; its wall time and the timings its ``kino.json`` recorded."""
    cmd = [os.path.join(REPO, "scripts", "kino"), "stylize", clip, "--look", look, "--temporal", temporal,
           "--frames", f"1:{frames}", "--out", out]
    for p in params:
        cmd += ["--param", p]
    if blender:
        cmd += ["--blender", blender]
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=7200)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {tail}")
    with open(os.path.join(out, "kino.json")) as fh:
        side = json.load(fh)
    backend = (side.get("provenance") or {}).get("timings") or {}
    addon = side.get("timings") or {}
    return {"frames": frames, "wall_s": round(wall, 3), "wall_s_per_frame": round(wall / frames, 4),
            "addon_s_per_frame": addon.get("s_per_frame", {}), "addon_max_rss_mb": addon.get("max_rss_mb"),
            "backend_s_per_frame": backend.get("parts_s_per_frame", {}),
            "backend_max_rss_mb": backend.get("max_rss_mb"),
            "page_faults_per_frame": {"addon": addon.get("page_faults_per_frame"),
                                      "backend": backend.get("page_faults_per_frame")},
            "look_calls": ((side.get("provenance") or {}).get("stages") or {}).get("temporal", {}).get("frames_stylized")}


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return round(a / b, 3) if a is not None and b else None


def ratios(runs: dict, startup_s: float) -> dict:
    """The issue's ratios from the runs, with start-up included (as a user sees a short clip) and
    without it (steady: what each frame costs once everything is running; None for a run no longer
    than the start-up run, where the machine's noise is all there is to measure)."""
    def steady(name):
        r = runs[name]
        return (r["wall_s"] - startup_s) / r["frames"] if r["wall_s"] > startup_s else None

    def whole(name):
        return runs[name]["wall_s_per_frame"]

    out = {}
    for label, fn in (("with_startup", whole), ("steady", steady)):
        out[label] = {"temporal_on_over_off": _ratio(fn("look_on"), fn("look_off")),
                      "none_over_look_off": _ratio(fn("none"), fn("look_off")),
                      "keyframes_speedup": _ratio(fn("look_on"), fn("look_keyframes"))}
        for name in runs:
            value = fn(name)
            out[label].setdefault("s_per_frame", {})[name] = None if value is None else round(value, 4)
    return out


def plan_of(args, with_memory: bool) -> list:
    """(run name, look, temporal, frames, params) of each ``scripts/kino stylize`` run, in order."""
    look, n, lp = args.look, args.frames, list(args.param)
    plan = [("startup", "none", "off", 1, []), ("none", "none", "off", n, []),
            ("look_off", look, "off", n, lp), ("look_on", look, "on", n, lp),
            ("look_keyframes", look, "on", n, lp + [f"temporal.keyframe_interval={args.keyframe_interval}"])]
    if with_memory:
        plan.append(("look_on_2x", look, "on", 2 * n, lp))
    return plan


def lower_median(items: list, key=None):
    """The median item (the lower one of the middle two for an even count); None for no items."""
    items = sorted(items, key=key)
    return items[(len(items) - 1) // 2] if items else None


def median_run(runs: List[dict]) -> dict:
    """The run with the median wall time."""
    return lower_median(runs, key=lambda r: r["wall_s"])


def median_ratios(per_round: List[dict]) -> dict:
    """Each ratio (and each s/frame) as the median over the rounds of that round's own value: a ratio
    stays one of two runs made back to back, as the issue measures it."""
    def median(values):
        return lower_median([v for v in values if v is not None])

    return {label: {key: ({name: median([r[label][key][name] for r in per_round]) for name in value}
                         if isinstance(value, dict) else median([r[label][key] for r in per_round]))
                    for key, value in per_round[0][label].items()}
            for label in per_round[0]}


def run_bench(args, clip: str, work: str) -> dict:
    if args.rounds < 1:
        raise ValueError(f"--rounds must be 1 or more, got {args.rounds}")
    rounds: List[dict] = []
    for k in range(args.rounds):
        runs = {}
        for name, lk, temporal, frames, params in plan_of(args, args.memory and k == 0):
            print(f"bench pipeline: round {k + 1}/{args.rounds}: {name} ({lk}, temporal {temporal}, "
                  f"{frames} frames)", file=sys.stderr)
            runs[name] = run_one(clip, os.path.join(work, name), lk, temporal, frames, params, args.blender)
        rounds.append(runs)
    per_round = [ratios({k: v for k, v in one.items() if k not in ("startup", "look_on_2x")},
                        one["startup"]["wall_s"]) for one in rounds]
    runs = {name: median_run([r[name] for r in rounds if name in r]) for name in rounds[0]}
    startup = runs.pop("startup")["wall_s"]
    report = {"clip": clip, "frames": args.frames, "look": args.look, "params": list(args.param),
              "startup_s": startup, "runs": runs, "ratios": median_ratios(per_round), "machine": machine()}
    if args.rounds > 1:
        report["rounds"] = [{"wall_s": {name: r["wall_s"] for name, r in one.items()}, "ratios": own}
                            for one, own in zip(rounds, per_round)]
    if args.memory:
        one, two = rounds[0]["look_on"], rounds[0]["look_on_2x"]  # the same round
        report["memory_growth_2x"] = {side: _ratio(two[f"{side}_max_rss_mb"] or 0, one[f"{side}_max_rss_mb"] or 0)
                                      for side in ("addon", "backend")}
    return report


def machine() -> dict:
    import platform
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def main(argv: List[str]) -> int:
    args = build_parser().parse_args(argv)
    clip = resolve_clip(args.clip, args.footage)
    if not os.path.isfile(os.path.join(REPO, "scripts", "kino")):
        print(f"kino bench pipeline: {REPO}/scripts/kino not found; run the benchmark from a checkout of the "
              "repository (it drives Blender through scripts/kino)", file=sys.stderr)
        return 2
    work = args.keep or tempfile.mkdtemp(prefix="kino-bench-pipeline-")
    try:
        report = run_bench(args, clip, work)
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
        print(f"kino bench pipeline: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if not args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(json.dumps(report))
    return 0
