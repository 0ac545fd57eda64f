"""``bench cluster --clip CLIP --workers 1,2 [--json]``: frames/s of a job over a local Ray cluster with
1, 2, ... Kino workers against the same job on the backend alone, for a classic look in keyframe mode
and with the temporal stage off, and where the time goes.

The bench starts a local cluster with the largest worker count (``kino cluster start``; or uses
``--address``), is itself the driver, and runs each job through the backend's own job path: locally
(``jobs._stream``) and on the cluster (``cluster.driver.stream_on_cluster``) with the first N workers.
It reports per mode: seconds and frames/s for the backend alone and for each N, the ratio N workers
vs 1, the cluster path's overhead with 1 worker vs the backend alone, the workers' busy time (the
look and the temporal work they did), and the transfer cost (frames into Ray's object store and
back). Results of the cluster runs are checked against the backend alone (max difference).
Run it inside a network namespace on a machine without a cluster (docs/cluster.md).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import List, Optional

import numpy as np

from kino_addon.protocol import messages
from kino_addon.protocol.envelope import buffer_spec

from .. import jobs
from ..resources import Resources
from ..workflow import validate_workflow
from .footage import add_footage_argument, resolve_clip

MODES = {"keyframes": {"keyframe_interval": 10}, "temporal_off": None}


class _Owner:
    """Collects a job's output frames (the bench's stand-in for a client connection)."""

    def __init__(self):
        self.frames = {}

    def send_event(self, type, re, body, buffers=()):
        if type == messages.JOB_FRAME:
            spec, data = buffers[0]
            self.frames[body["frame"]] = np.asarray(data).reshape(spec["shape"]).copy()
        return True


def _job(frames: List[np.ndarray], wf: dict, n: int) -> jobs.Job:
    h, w = frames[0].shape[:2]
    job = jobs.Job(f"bench-{n}", _Owner(), "bench", validate_workflow(wf), len(frames), w, h, {}, 0)
    for i, f in enumerate(frames, start=1):
        data = np.ascontiguousarray(f).tobytes()
        job.add_input(i, buffer_spec("image", len(data), [h, w, 3]), data, lambda error: None)
    job.released.set()
    return job


_runs = iter(range(1, 10 ** 9))
_RESOURCES = Resources()


def run_once(frames, wf: dict, executor=None) -> tuple:
    """Seconds for the whole job and its frames, locally (``executor`` None) or on the cluster."""
    from ..cluster.driver import stream_on_cluster
    job = _job(frames, wf, next(_runs))
    resources = _RESOURCES  # one backend's resources for every local run: its models stay warm, as in a server
    progress = jobs._Progress(job)
    ctx = jobs._context(job, resources, progress)
    timings: dict = {}
    t0 = time.perf_counter()
    if executor is None:
        jobs._stream(job, ctx, progress, timings)
    else:
        job.options = {"cluster": "bench"}
        stream_on_cluster(job, ctx, progress, timings, executor=executor)
    seconds = time.perf_counter() - t0
    out = np.stack([job.owner.frames[i] for i in range(1, len(frames) + 1)])
    return seconds, out, timings.get("cluster")


def transfer_costs(frames, executor) -> dict:
    """Milliseconds per frame to put a frame into the object store and read it back from a worker's task
    (a task that returns its input: the round trip a frame and its result make)."""
    ray = executor._ray
    handle = next(iter(executor.handles.values()))
    t0 = time.perf_counter()
    for f in frames:
        ray.get(handle.ping.remote())  # a call without data: the scheduling part
    calls = time.perf_counter() - t0
    t0 = time.perf_counter()
    for f in frames:
        ray.get(ray.put(f))
    puts = time.perf_counter() - t0
    return {"call_ms": round(1000 * calls / len(frames), 3), "put_get_ms": round(1000 * puts / len(frames), 3)}


def look_ms(frames, look: str) -> float:
    from ..stages import get_stage
    stage = get_stage(look)
    params = stage.validate({})
    t0 = time.perf_counter()
    for f in frames:
        stage.render(f, params)
    return 1000 * (time.perf_counter() - t0) / len(frames)


def _workflow(look: str, temporal: Optional[dict], params: Optional[dict] = None) -> dict:
    stages = [{"name": look, "enabled": True, "params": dict(params or {})}]
    if temporal is not None:
        stages.append({"name": "temporal", "enabled": True, "params": temporal})
    return {"version": 1, "look": look, "stages": stages}


def measure_mode(frames, wf: dict, counts: List[int], handles: dict, repeat: int) -> dict:
    from ..cluster.executors import RayExecutor, worker_stats
    from kino_addon.core.processes import page_faults
    names = sorted(handles)
    runs = {"local": []}
    out_local = None
    diffs = []
    busy = {}
    local_faults = []
    for _ in range(repeat):
        f0 = page_faults()
        s, out_local, _ = run_once(frames, wf)
        local_faults.append(round((page_faults() - f0) / len(frames), 1))
        runs["local"].append(s)
        for n in counts:
            sub = {k: handles[k] for k in names[:n]}
            before = {w["name"]: w for w in worker_stats(sub)}
            s, out, record = run_once(frames, wf, RayExecutor(sub))
            after = {w["name"]: w for w in worker_stats(sub)}
            runs.setdefault(str(n), []).append(s)
            busy.setdefault(str(n), []).append(_worker_deltas(before, after, len(frames)))
            diffs.append(int(np.abs(out.astype(np.int16) - out_local.astype(np.int16)).max()))
            runs.setdefault(f"{n}_records", []).append(record)
    nframes = len(frames)
    best = {k: min(v) for k, v in runs.items() if not k.endswith("_records")}
    result = {"workflow_temporal": wf["stages"][1]["params"] if len(wf["stages"]) > 1 else "off",
              "local": {"s": round(best["local"], 3), "frames_per_s": round(nframes / best["local"], 3),
                        "page_faults_per_frame": local_faults[runs["local"].index(best["local"])]},
              "runs_s": {k: [round(x, 3) for x in v] for k, v in runs.items() if not k.endswith("_records")},
              "max_diff_vs_local": max(diffs) if diffs else None}
    for n in counts:
        k = str(n)
        i = runs[k].index(best[k])
        record = runs[f"{n}_records"][i]
        result[f"workers_{n}"] = {"s": round(best[k], 3), "frames_per_s": round(nframes / best[k], 3),
                                  **busy[k][i], "plan": record["plan"], "tasks": record["tasks"],
                                  "task_seconds_by_kind": record["task_seconds_by_kind"]}
    if "1" in best:
        result["overhead_1_worker_vs_local"] = round(best["1"] / best["local"] - 1.0, 3)
        # the runs alternate (backend alone, 1 worker, 2 ...): on a noisy machine the medians' ratio is
        # the steadier figure, the best runs' ratio the one least touched by other processes
        med = {k: float(np.median(runs[k])) for k in ("local", "1")}
        result["overhead_1_worker_vs_local_median"] = round(med["1"] / med["local"] - 1.0, 3)
        for n in counts[1:]:
            result[f"ratio_{n}_vs_1"] = round(best["1"] / best[str(n)], 3)
    return result


def _worker_deltas(before: dict, after: dict, nframes: int) -> dict:
    """Each worker's busy seconds in one run, and the page faults its process took per frame of the job
    (a worker whose malloc hands memory back to the kernel after every frame shows hundreds)."""
    return {"worker_busy_s": {k: round(after[k].get("busy_s", 0.0) - before[k].get("busy_s", 0.0), 3) for k in after},
            "worker_page_faults_per_frame": {
                k: round((after[k].get("page_faults", 0) - before[k].get("page_faults", 0)) / max(1, nframes), 1)
                for k in after}}


def synthetic_frames(count: int, width: int) -> List[np.ndarray]:
    """A smooth random texture panning right, ``count`` frames of ``width`` x 3/4 width."""
    import cv2
    h = max(16, int(width * 3 / 4) // 2 * 2)
    rng = np.random.default_rng(0)
    big = rng.uniform(0, 255, size=(max(2, h // 8), max(2, (width + 3 * count) // 8), 3)).astype(np.float32)
    big = np.clip(cv2.resize(big, (width + 3 * count, h), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)
    return [np.ascontiguousarray(big[:, 3 * i:3 * i + width]) for i in range(count)]


def parse_params(items: List[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kino bench cluster", description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--clip", help="a video or image folder (a path, or a name in --footage)")
    src.add_argument("--synthetic", action="store_true", help="a generated textured pan (no footage needed)")
    add_footage_argument(p)
    p.add_argument("--workers", default="1,2", help="worker counts to measure (default 1,2)")
    p.add_argument("--frames", type=int, default=40, help="frames of the clip (default 40)")
    p.add_argument("--width", type=int, default=320, help="downscale to this width (default 320)")
    p.add_argument("--look", default="toon", help="a classic look (default toon)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a look parameter")
    p.add_argument("--modes", default="keyframes,temporal_off", help="which of keyframes, temporal_off")
    p.add_argument("--k", type=int, default=10, help="keyframe_interval of keyframe mode (default 10)")
    p.add_argument("--repeat", type=int, default=2, help="runs of each; the best counts (default 2)")
    p.add_argument("--address", default=None, help="use this cluster instead of starting a local one")
    p.add_argument("--object-store-mb", type=int, default=300)
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    return p


def main(argv: List[str]) -> int:
    args = build_parser().parse_args(argv)
    from kino_addon.core.malloc_tuning import keep_freed_memory

    from ..cluster import RAY_MISSING, ray_available

    keep_freed_memory()  # "the backend alone" is measured as ``kino serve`` runs it
    if not ray_available():
        print(f"kino bench cluster: {RAY_MISSING}", file=sys.stderr)
        return 2
    if args.synthetic:
        clip, frames = "synthetic pan (generated)", synthetic_frames(args.frames, args.width)
    else:
        from ..metrics.frames import read_frames
        clip = resolve_clip(args.clip, args.footage)
        frames = list(read_frames(clip, count=args.frames))
    if args.width and frames and frames[0].shape[1] != args.width:
        import cv2
        h = int(round(frames[0].shape[0] * args.width / frames[0].shape[1])) // 2 * 2
        frames = [cv2.resize(f, (args.width, h), interpolation=cv2.INTER_AREA) for f in frames]
    counts = sorted({int(x) for x in args.workers.split(",") if x.strip()})
    report = run_bench(frames, args, counts, clip)
    if args.json:
        print(json.dumps(report))
    else:
        print(json.dumps(report, indent=2))
    return 0


def run_bench(frames, args, counts: List[int], clip: str) -> dict:
    from ..cluster import connect, local
    from ..cluster.executors import RayExecutor, worker_stats
    from ..stages import get_stage
    address_file = None
    if args.address:
        address = args.address
    else:
        import tempfile
        address_file = os.path.join(tempfile.mkdtemp(prefix="kino-bench-"), "cluster.json")
        address = local.start_local(max(counts), address_file, object_store_mb=args.object_store_mb)["address"]
    try:
        connect.connect(address)
        handles = connect.find_workers()
        if len(handles) < max(counts):
            raise SystemExit(f"the cluster at {address} has {len(handles)} Kino workers; --workers asks for {max(counts)}")
        params = parse_params(args.param)
        modes = [m for m in args.modes.split(",") if m in MODES]
        warm = _workflow(args.look, {"keyframe_interval": 4} if "keyframes" in modes else None, params)
        run_once(frames[:6], warm)
        for n in counts:  # imports and first opens on every worker, outside the timed runs
            run_once(frames[:6], warm, RayExecutor({k: handles[k] for k in sorted(handles)[:n]}))
        report = {"bench": "cluster", "clip": clip, "frames": len(frames), "size": list(frames[0].shape[1::-1]),
                  "look": args.look, "cpus": os.cpu_count(), "load_avg": list(os.getloadavg()),
                  "workers": counts, "repeat": args.repeat,
                  "params": params, "transfer_per_frame": transfer_costs(frames[:20], RayExecutor(handles)),
                  "worker_devices": [w.get("device") for w in worker_stats(handles)]}
        if hasattr(get_stage(args.look), "render"):
            report["look_ms_per_frame"] = round(look_ms(frames[:10], args.look), 2)
        for name in modes:
            temporal = {"keyframe_interval": args.k} if MODES[name] is not None else None
            report[name] = measure_mode(frames, _workflow(args.look, temporal, params), counts, handles, args.repeat)
        report["load_avg_after"] = list(os.getloadavg())
        return report
    finally:
        connect.disconnect()
        if address_file:
            local.stop_local(address_file)
