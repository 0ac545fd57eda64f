"""``python -m kino_backend``: dispatcher, ``looks``, ``bench protocol`` (small, numbers checked for sanity only)."""
import json
import os
import subprocess
import sys

import pytest

from backend_harness import REPO

pytestmark = pytest.mark.timeout(180)


def kino(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "backend"), str(REPO)]))
    return subprocess.run([sys.executable, "-m", "kino_backend", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=170)


def test_looks_json_is_one_object_on_the_last_line():
    proc = kino("looks", "--json")
    assert proc.returncode == 0, proc.stderr
    cat = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"looks", "stages"} <= set(cat)
    stage_names = {s["name"] for s in cat["stages"]}
    for look in cat["looks"]:
        assert set(look["stages"]) <= stage_names and {"name", "label", "help", "params"} <= set(look)
        for param in look["params"]:
            assert {"name", "kind", "default", "help"} <= set(param)


def test_looks_table_lists_every_look():
    table, data = kino("looks"), json.loads(kino("looks", "--json").stdout.strip().splitlines()[-1])
    assert table.returncode == 0
    for look in data["looks"]:
        assert look["name"] in table.stdout


def test_unknown_command_and_bench_name():
    proc = kino("frobnicate")
    assert proc.returncode == 2 and "available:" in proc.stderr and "looks" in proc.stderr
    proc = kino("bench", "nothing")
    assert proc.returncode == 2 and "protocol" in proc.stderr
    assert "output_dir" not in proc.stderr and "output_dir" not in kino("frobnicate").stderr  # a helper module
    for args in ((), ("bench",), ("train",)):  # nothing given: the usage, and not success
        proc = kino(*args)
        assert proc.returncode == 2 and "usage:" in proc.stderr, args
    assert kino("bench", "--help").returncode == 0 and kino("train", "--help").returncode == 0


def test_bench_protocol_small_run():
    proc = kino("bench", "protocol", "--json", "--frames", "4", "--width", "64", "--height", "48", "--rounds", "1")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"kino_MBps", "raw_MBps", "ratio", "frames"} <= set(result) and result["frames"] == 4
    assert result["kino_MBps"] > 0 and result["raw_MBps"] > 0
    assert result["ratio"] == pytest.approx(result["kino_MBps"] / result["raw_MBps"], rel=0.01)
