"""The real-cluster checks, run as one script inside a private network namespace (only loopback):
``python cluster_scenario.py OUTDIR [STEP ...]``. ``test_cluster_ray.py`` runs it under ``unshare -n`` and
asserts on ``OUTDIR/results.json``, which is rewritten after every step (a timeout keeps what was done).

Steps: start a local cluster of 2 CPU workers (``kino cluster start``); check every listening socket is
on 127.0.0.1; start a real backend (the driver) and compare cluster jobs with the same jobs run by the
backend alone (keyframe mode, temporal off); kill a worker in the middle of a job; cancel a job; run
``scripts/kino stylize CLIP --cluster ADDRESS`` end to end (``e2e``); stop the cluster and check that
none of its processes is left. Everything is bounded in time; the cluster is stopped whatever happens.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cluster_support import FOOTAGE, REPO, max_diff, real_or_synthetic, workflow  # noqa: E402

PY = sys.executable
RESULTS: dict = {}
OUT = ""


def save() -> None:
    with open(os.path.join(OUT, "results.json.tmp"), "w") as fh:
        json.dump(RESULTS, fh, indent=2, default=str)
    os.replace(os.path.join(OUT, "results.json.tmp"), os.path.join(OUT, "results.json"))


def step(name: str):
    def wrap(fn):
        def run(*args, **kwargs):
            t0 = time.monotonic()
            try:
                RESULTS[name] = dict(fn(*args, **kwargs) or {}, ok=True)
            except Exception as exc:  # recorded for the test to show
                RESULTS[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
            RESULTS[name]["seconds"] = round(time.monotonic() - t0, 1)
            save()
            return RESULTS[name]
        return run
    return wrap


def kino(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "kino_backend", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


# -- the cluster -----------------------------------------------------------------------------------
@step("start")
def start_cluster(address_file: str) -> dict:
    t0 = time.monotonic()
    r = kino("cluster", "start", "--workers", "2", "--address-file", address_file, "--object-store-mb", "200",
             timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"cluster start failed ({r.returncode}): {r.stderr[-2000:]}")
    info = json.load(open(address_file))
    status = kino("cluster", "status", "--address-file", address_file, "--json", timeout=120)
    return {"address": r.stdout.strip().splitlines()[-1], "info": info, "start_s": round(time.monotonic() - t0, 1),
            "status": json.loads(status.stdout) if status.returncode == 0 else status.stderr[-1000:],
            "proctitles": proctitles(info["cluster_id"])}


def proctitles(cluster_id: str) -> list:
    from kino_backend.cluster import procs
    out = []
    for pid in procs.marked(cluster_id):
        try:
            out.append(open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode(errors="replace"))
        except OSError:
            pass
    return out


@step("listeners")
def listeners() -> dict:
    text = subprocess.run(["ss", "-tlnH"], capture_output=True, text=True, timeout=30).stdout
    local = [line.split()[3] for line in text.splitlines() if line.strip()]
    outside = [a for a in local if not re.match(r"^(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]|\[::1\]):\d+$", a)]
    return {"listening": local, "outside_loopback": outside}


@step("stop")
def stop_cluster(address_file: str, info: dict) -> dict:
    from kino_backend.cluster import procs
    r = kino("cluster", "stop", "--address-file", address_file, timeout=120)
    time.sleep(1.0)
    left = procs.marked(info.get("cluster_id", ""))
    temp_left = [l for l in subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout.splitlines()
                 if info.get("temp_dir", "@@") in l]
    return {"rc": r.returncode, "stderr": r.stderr[-1000:], "marked_left": left, "temp_dir_procs": temp_left,
            "address_file_removed": not os.path.exists(address_file),
            "temp_dir_removed": not os.path.exists(info.get("temp_dir", ""))}


# -- jobs through a real backend ----------------------------------------------------------------------
class Driver:
    """A real backend process (the cluster's driver) and a client connected to it."""

    def __init__(self, run_dir: str):
        from kino_addon.protocol.client import BackendClient
        from kino_addon.protocol.launcher import start_backend
        self.proc = start_backend(PY, run_dir=run_dir, code_root=REPO, timeout=120)
        self.client = BackendClient.connect(self.proc.host, self.proc.port, self.proc.authkey, "kino-cluster-test/1",
                                            timeout=30)

    def close(self) -> None:
        try:
            self.client.shutdown()
        except Exception:  # the test reports what matters; a backend already gone is fine here
            pass
        self.proc.stop()


def run_job(client, frames, wf, options=None, on_frame=None, timeout=400.0) -> dict:
    h, w = frames[0].shape[:2]
    job_id = client.submit_job(wf, len(frames), w, h, options or {})
    send_error = []

    def send():
        try:
            for i, f in enumerate(frames, start=1):
                client.send_frame(job_id, i, memoryview(np.ascontiguousarray(f)).cast("B"), shape=(h, w, 3))
        except Exception as exc:  # a cancelled job refuses further input: expected in the cancel step
            send_error.append(f"{type(exc).__name__}: {exc}")

    threading.Thread(target=send, daemon=True).start()
    got, order, progress, done = {}, [], [], None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and done is None:
        ev = client.next_event(timeout=1.0)
        if ev is None or ev.body.get("job_id") != job_id:
            continue
        if ev.type == "job.frame":
            spec, data = ev.buffers[0]
            got[ev.body["frame"]] = np.frombuffer(bytes(data), np.uint8).reshape(spec["shape"])
            order.append(ev.body["frame"])
            if on_frame:
                on_frame(job_id, ev.body["frame"])
        elif ev.type == "job.progress":
            progress.append(ev.body)
        elif ev.type == "job.done":
            done = ev.body
    if done is None:
        raise TimeoutError(f"job {job_id} did not end in {timeout:.0f} s ({len(got)} frames)")
    return {"job_id": job_id, "frames": got, "order": order, "progress": progress, "done": done, "send_error": send_error}


def compare(local: dict, cluster: dict, n: int) -> dict:
    a = np.stack([local["frames"][i] for i in range(1, n + 1)])
    complete = sorted(cluster["frames"]) == list(range(1, n + 1))
    b = np.stack([cluster["frames"][i] for i in range(1, n + 1)]) if complete else None
    pa, pb = local["done"]["provenance"], cluster["done"]["provenance"]
    return {"status": cluster["done"]["status"], "error": cluster["done"].get("error"), "complete": complete,
            "duplicates": len(cluster["order"]) - len(set(cluster["order"])),
            "max_diff": max_diff(a, b) if b is not None else None,
            "stages_equal": json.dumps(pa["stages"], sort_keys=True) == json.dumps(pb["stages"], sort_keys=True),
            "cluster": pb.get("timings", {}).get("cluster"),
            "in_order": cluster["order"] == sorted(cluster["order"]),
            "progress_workers": max((p.get("workers") or 0) for p in cluster["progress"]) if cluster["progress"] else 0,
            "progress_fps": [p.get("frames_per_s") for p in cluster["progress"] if p.get("frames_per_s")][-1:]}


@step("equal")
def equal(driver: Driver, address: str, frames) -> dict:
    out = {}
    for name, wf in (("keyframes", workflow("toon", {"keyframe_interval": 4, "deflicker": True})),
                     ("temporal_off", workflow("toon")),
                     ("per_frame", workflow("toon", {"strength": 0.9}))):
        local = run_job(driver.client, frames, wf)
        cluster = run_job(driver.client, frames, wf, {"cluster": address})
        out[name] = compare(local, cluster, len(frames))
    return out


def worker_stats(address: str) -> list:
    from kino_backend.cluster.connect import connect, find_workers
    from kino_backend.cluster.executors import worker_stats as stats
    connect(address)
    return stats(find_workers())


@step("kill")
def kill_worker(driver: Driver, address: str, frames) -> dict:
    """A worker is killed while it runs one of the job's tasks. A kill can land just after a task ended
    (then nothing is lost to retry), or the job can end before the killer saw a busy worker (a slow stats
    call on a loaded machine): the job is run again, at most 3 times, until a task was lost."""
    wf = workflow("toon", {"keyframe_interval": 6})
    local = run_job(driver.client, frames, wf)
    for attempt in range(1, 4):
        killed, done = {}, threading.Event()
        t = threading.Thread(target=lambda: killed.update(kill_a_busy_worker(address, ("span", "keys", "post"), 120,
                                                                             stop=done)), daemon=True)
        t.start()
        cluster = run_job(driver.client, frames, wf, {"cluster": address})
        done.set()  # no kill after the job: it could not be lost to retry any more
        t.join(30)
        result = compare(local, cluster, len(frames))
        if killed and (result["cluster"] or {}).get("tasks_retried"):
            break
        time.sleep(5)  # Ray restarts a killed worker before the next try
    after = worker_stats(address)
    return dict(result, killed=killed, attempts=attempt,
                workers_after=[{k: w.get(k) for k in ("name", "pid", "tasks")} for w in after])


@step("cancel")
def cancel_job(driver: Driver, address: str, frames) -> dict:
    wf = workflow("paint", {"keyframe_interval": 2})
    cancelled_at = {}

    def on_frame(job_id, frame):
        if not cancelled_at:
            cancelled_at["t"] = time.monotonic()
            driver.client.cancel(job_id)

    res = run_job(driver.client, frames, wf, {"cluster": address}, on_frame=on_frame)
    busy, t_idle = None, None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = [w for w in worker_stats(address) if w.get("working_on")]
        if not busy:
            t_idle = time.monotonic()
            break
        time.sleep(0.2)
    tasks_a = {w["name"]: w.get("tasks") for w in worker_stats(address)}
    time.sleep(3.0)
    tasks_b = {w["name"]: w.get("tasks") for w in worker_stats(address)}
    return {"status": res["done"]["status"], "frames_sent": len(res["frames"]), "frames_total": len(frames),
            "idle_after_s": round(t_idle - cancelled_at["t"], 2) if t_idle and cancelled_at else None,
            "busy_left": [w.get("working_on") for w in busy or []], "tasks_still_running": tasks_a != tasks_b}


def kill_a_busy_worker(address: str, kinds=("span", "keys", "post", "pipeline"), timeout: float = 300.0,
                       stop: threading.Event = None) -> dict:
    """SIGKILL the first worker seen running a task of one of ``kinds``; returns what was killed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        for w in worker_stats(address):
            task = w.get("working_on") or ""
            if ":" in task and task.split(":")[1] in kinds:
                os.kill(w["pid"], signal.SIGKILL)
                return {"pid": w["pid"], "name": w["name"], "task": task}
        time.sleep(0.05)
    return {}


@step("e2e")
def e2e(address: str, clip: str) -> dict:
    """``scripts/kino stylize CLIP --cluster ADDRESS`` against the same command without a cluster; a
    worker is killed while the cluster run works."""
    from kino_backend.metrics.frames import read_frames
    outs, killed = {}, {}
    for name, extra in (("local", []), ("cluster", ["--cluster", address])):
        out = os.path.join(OUT, f"e2e_{name}")
        cmd = [os.path.join(REPO, "scripts", "kino"), "stylize", clip, "--look", "toon", "--frames", "1:24",
               "--param", "temporal.keyframe_interval=6", "--out", out, *extra]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        if extra:
            done = threading.Event()
            t = threading.Thread(target=lambda: killed.update(kill_a_busy_worker(address, stop=done)), daemon=True)
            t.start()
        stdout, stderr = proc.communicate(timeout=600)
        if extra:
            done.set()
            t.join(10)
        if proc.returncode != 0:
            raise RuntimeError(f"stylize ({name}) failed: {stderr[-2000:]}")
        outs[name] = out
    a, b = list(read_frames(outs["local"])), list(read_frames(outs["cluster"]))
    sidecar = json.load(open(os.path.join(outs["cluster"], "kino.json")))
    return {"frames": [len(a), len(b)], "max_diff": max_diff(np.stack(a), np.stack(b)) if len(a) == len(b) else None,
            "killed": killed, "status": sidecar.get("status"),
            "cluster_record": sidecar.get("provenance", {}).get("timings", {}).get("cluster")}


def main(argv) -> int:
    global OUT
    OUT = os.path.abspath(argv[0])
    steps = set(argv[1:]) or {"equal", "kill", "cancel", "e2e"}
    os.makedirs(OUT, exist_ok=True)
    token = os.path.join(OUT, "ray_token")
    with open(token, "w") as fh:
        fh.write(secrets.token_hex(32))
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=token)
    address_file = os.path.join(OUT, "cluster.json")
    started = start_cluster(address_file)
    info = started.get("info") or (json.load(open(address_file)) if os.path.exists(address_file) else {})
    try:
        if started["ok"]:
            listeners()
            address = started["address"]
            frames = real_or_synthetic(14, 11, 96)
            driver = Driver(os.path.join(OUT, "backend"))
            try:
                if "equal" in steps:
                    equal(driver, address, frames)
                if "kill" in steps:
                    kill_worker(driver, address, real_or_synthetic(30, 14, 160))
                if "cancel" in steps:
                    cancel_job(driver, address, real_or_synthetic(30, 14, 128))
            finally:
                driver.close()
            clip = os.path.join(FOOTAGE, "runner_tracking_shot.mp4")
            if "e2e" in steps and os.path.exists(clip):
                e2e(address, clip)
            elif "e2e" in steps:
                RESULTS["e2e"] = {"ok": False, "skipped": f"footage {clip} is absent"}
    finally:
        try:
            from kino_backend.cluster.connect import disconnect
            disconnect()
        finally:
            stop_cluster(address_file, info)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
