"""Install Backend's refusals, through the zip-installed extension in a fresh Blender user folder:
online access off, a nearly full disk, a disk that fills up while pip writes (a real 150 MB tmpfs);
and the look menu before any backend has started (the shipped catalogue, then the last hello)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from kino_install_support import REPO, SIDE, blender_env, results, run_side

ENV_PARTS = ("extensions", ".user", "user_default", "kino")


def test_online_access_off_installs_nothing(user_folder):
    res = run_side(user_folder, "offline")
    assert res["result"] == ["CANCELLED"] and not res["env_exists"]
    assert "'Allow Online Access' is off" in res["error"] and "installs nothing" in res["error"]
    assert "Turn online access on" in res["drawn"]  # the preferences say it too, before anyone presses


def test_a_nearly_full_disk_is_refused_before_anything_is_written(user_folder):
    res = run_side(user_folder, "disk-preflight")
    assert res["result"] == ["CANCELLED"] and res["state"] == "failed" and not res["env_exists"]
    assert "Not enough disk space: the backend needs about 3.5 GB free" in res["error"]
    assert "1.0 GB are free. Free some space and press Install Backend again" in res["error"]


def test_the_look_menu_works_before_the_backend_started(user_folder):
    res = run_side(user_folder, "looks")
    snapshot = json.loads((REPO / "kino_addon" / "protocol" / "looks_catalogue.json").read_text())
    assert not res["running"]
    assert res["looks"] == [lk["name"] for lk in snapshot["looks"]] and "watercolor" in res["looks"]
    assert res["synced"] == "watercolor"  # picking a look fills in its stages and parameters
    assert ["watercolor", "wash_softness"] in res["params"] and ["temporal", "strength"] in res["params"]
    # the last hello (cached when a backend answered) wins over the shipped copy
    cache = user_folder.joinpath(*ENV_PARTS, "cache", "looks-from-last-hello.json")
    cache.parent.mkdir(parents=True, exist_ok=True)
    extra = dict(snapshot, looks=snapshot["looks"] + [dict(snapshot["looks"][0], name="studio_look")])
    cache.write_text(json.dumps(extra))
    assert "studio_look" in run_side(user_folder, "looks")["looks"]


def _can_mount_tmpfs() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.slow
def test_a_disk_that_fills_up_during_the_install(tmp_path, kino_zip):
    """A private 150 MB tmpfs holds the Blender user folder and pip's temp files: torch does not fit."""
    if not _can_mount_tmpfs():
        pytest.skip("cannot mount a tmpfs in a private mount namespace here (needs unshare -m and mount)")
    mnt = tmp_path / "small"
    mnt.mkdir()
    script = (f"mount -t tmpfs -o size=150m tmpfs {mnt} && mkdir -p {mnt}/tmp && export TMPDIR={mnt}/tmp && "
              f"{sys.executable} {SIDE} install-zip {kino_zip} && {sys.executable} {SIDE} disk-fills 0")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=1200,
                          env=blender_env(mnt / "userres"), cwd=str(tmp_path))
    found = results(proc.stdout)
    assert proc.returncode == 0 and len(found) == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = found[-1]
    assert res["result"] == ["CANCELLED"] and res["state"] == "failed" and not res["record"]
    assert res["error"].startswith("Error: Kino: The disk is full: the backend could not be written. Free some")
    assert "Install Backend again" in res["error"]
