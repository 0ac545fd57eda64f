"""A real local Ray cluster of 2 CPU Kino workers, with a real backend as its driver, inside a private
network namespace (only loopback: Ray registers under the machine's own address otherwise). The
checks run as one bounded script (cluster_scenario.py) so the cluster starts once; each test asserts
one part of its results. Skipped with the reason where Ray or network namespaces are not available."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from kino_backend.cluster import ray_available

pytestmark = pytest.mark.slow
SCENARIO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cluster_scenario.py")
TIMEOUT = 1200


def netns_problem() -> str:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return "unshare and ip (util-linux, iproute2) are needed to run the cluster in a private network namespace"
    try:
        r = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True, text=True,
                           timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot make a network namespace: {exc}"
    if r.returncode != 0:
        return (f"cannot make a network namespace here ({r.stderr.strip() or r.returncode}); the cluster tests "
                "need root (or user namespaces) so Ray only sees loopback")
    return ""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    if not ray_available():
        pytest.skip("Ray is not installed (scripts/setup_env.sh backend installs it)")
    problem = netns_problem()
    if problem:
        pytest.skip(problem)
    out = tmp_path_factory.mktemp("cluster")
    log = open(out / "scenario.log", "wb")
    cmd = ["unshare", "-n", "sh", "-c", f"ip link set lo up && exec '{sys.executable}' '{SCENARIO}' '{out}'"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    finally:
        log.close()
        _stop_leftovers(out)
    path = out / "results.json"
    if not path.exists():
        pytest.fail(f"the cluster scenario wrote no results; its log:\n{(out / 'scenario.log').read_text()[-4000:]}")
    return json.loads(path.read_text())


def _stop_leftovers(out) -> None:
    """If the scenario was cut short, stop whatever its cluster left (by the cluster's marker)."""
    from kino_backend.cluster import procs
    info_path = out / "cluster.json"
    if info_path.exists():
        procs.stop(procs.marked(json.loads(info_path.read_text()).get("cluster_id", "")), 5.0)


def part(results, name: str) -> dict:
    got = results.get(name)
    assert got is not None, f"the scenario did not reach step {name!r}: {sorted(results)}"
    if got.get("skipped"):
        pytest.skip(got["skipped"])
    assert got["ok"], got.get("trace") or got.get("error")
    return got


def test_cluster_start_makes_two_named_workers(results):
    start = part(results, "start")
    assert start["address"].startswith("127.0.0.1:")
    assert [w["name"] for w in start["status"]["workers"]] == ["kino-worker-0", "kino-worker-1"]
    assert all(w["device"] == "cpu" for w in start["status"]["workers"])
    # at the local backend's priority, not Ray's default niceness 15 (behind the driver and Ray's daemons)
    assert [w["nice"] for w in start["status"]["workers"]] == [os.getpriority(os.PRIO_PROCESS, 0)] * 2
    # started with glibc's malloc tuned, so their task threads reuse a frame's memory (malloc_tuning)
    assert all(w["malloc_tuned"] for w in start["status"]["workers"])
    assert start["proctitles"].count("ray::KinoWorker") == 2, start["proctitles"]


def test_everything_listens_on_loopback_only(results):
    got = part(results, "listeners")
    assert got["listening"], "the cluster listens somewhere"
    assert got["outside_loopback"] == []


@pytest.mark.parametrize("case, plan", [("keyframes", "spans"), ("temporal_off", "frames"), ("per_frame", "shots")])
def test_cluster_result_equals_single_machine(results, case, plan):
    got = part(results, "equal")[case]
    assert got["status"] == "completed", got["error"]
    assert got["complete"] and got["duplicates"] == 0
    assert got["max_diff"] <= 1
    assert got["stages_equal"], "the provenance (keyframes, cuts, figure...) is the single machine's"
    assert got["cluster"]["plan"] == plan
    assert sum(got["cluster"]["frames_by_worker"].values()) == 25
    assert got["progress_workers"] == 2 and got["progress_fps"][0] > 0


def test_a_worker_killed_mid_job_loses_nothing(results):
    got = part(results, "kill")
    assert got["killed"], "a worker was killed while it ran a task of the job"
    assert got["status"] == "completed", got["error"]
    assert got["complete"] and got["duplicates"] == 0, "every frame once"
    assert got["max_diff"] <= 1
    assert got["cluster"]["tasks_retried"] >= 1, f"no task was lost in {got['attempts']} runs"
    restarted = {w["name"]: w["pid"] for w in got["workers_after"]}
    assert restarted[got["killed"]["name"]] != got["killed"]["pid"], "Ray restarted the killed worker"


def test_cancel_stops_the_remote_tasks(results):
    got = part(results, "cancel")
    assert got["status"] == "cancelled"
    assert got["frames_sent"] < got["frames_total"]
    assert got["busy_left"] == [] and got["idle_after_s"] is not None and got["idle_after_s"] < 15
    assert not got["tasks_still_running"]


def test_stylize_command_on_the_cluster_gives_the_single_machine_frames(results):
    got = part(results, "e2e")
    assert got["frames"][0] == got["frames"][1] == 24
    assert got["max_diff"] <= 1
    assert got["status"] == "completed"
    assert got["killed"], "a worker was killed during the cluster run"
    assert got["cluster_record"]["plan"] == "spans"  # (test_a_worker_killed_mid_job_... checks the retry itself)


def test_cluster_stop_leaves_no_process(results):
    got = part(results, "stop")
    assert got["rc"] == 0, got["stderr"]
    assert got["marked_left"] == [] and got["temp_dir_procs"] == []
    assert got["address_file_removed"] and got["temp_dir_removed"]
