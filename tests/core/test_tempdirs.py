"""Kino's temp folders: a later run removes what killed runs left behind, and only that."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from kino_addon.core import processes, tempdirs

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")


def folder_owned_by(base, pid, **extra):
    path = tempdirs.make("kino-bpy-", base=str(base))
    owner = {"pid": pid, "host": socket.gethostname(), **extra}
    with open(os.path.join(path, tempdirs.OWNER_FILE), "w") as fh:
        json.dump(owner, fh)
    return path


def test_own_and_live_owners_stay_dead_owners_go(tmp_path):
    mine = tempdirs.make("kino-bpy-", base=str(tmp_path))
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        theirs = folder_owned_by(tmp_path, live.pid, start=tempdirs.start_ticks(live.pid))
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        gone = folder_owned_by(tmp_path, dead.pid)
        elsewhere = folder_owned_by(tmp_path, dead.pid)
        with open(os.path.join(elsewhere, tempdirs.OWNER_FILE), "w") as fh:
            json.dump({"pid": dead.pid, "host": "another-machine"}, fh)
        other_name = tmp_path / "not-kino-1"
        other_name.mkdir()
        removed = tempdirs.sweep(base=str(tmp_path))
        assert removed == [gone]
        assert all(os.path.isdir(p) for p in (mine, theirs, elsewhere, other_name))
    finally:
        live.kill()
        live.wait()


def test_a_zombie_owner_counts_as_gone(tmp_path):
    """A killed run whose parent was killed too stays a zombie where nobody reaps orphans (a container's
    init): its folder must still be swept. Here: a child that exits and is not waited for."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 20
    while processes._proc_stat(child.pid)[:1] != [b"Z"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert processes._proc_stat(child.pid)[:1] == [b"Z"], "the child did not become a zombie"
    path = folder_owned_by(tmp_path, child.pid)
    try:
        assert not tempdirs.pid_alive(child.pid)
        assert tempdirs.sweep(base=str(tmp_path)) == [path]
    finally:
        child.wait()


def test_a_reused_pid_does_not_keep_a_folder(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = tempdirs.start_ticks(live.pid)
        assert isinstance(started, int)
        reused = folder_owned_by(tmp_path, live.pid, start=started - 1)  # the owner started earlier
        same = folder_owned_by(tmp_path, live.pid, start=started)
        assert tempdirs.sweep(base=str(tmp_path)) == [reused]
        assert os.path.isdir(same)
    finally:
        live.kill()
        live.wait()


def test_a_folder_still_written_into_keeps_its_owner_file_for_the_next_sweep(tmp_path, monkeypatch):
    """A killed run's orphaned backend writes its log into the folder until it notices: the removal
    failed half-way and, its owner file gone first, the folder looked foreign to every later sweep."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = folder_owned_by(tmp_path, dead.pid)
    os.makedirs(os.path.join(path, "userres"))
    with open(os.path.join(path, "backend.log"), "w") as fh:
        fh.write("still being written")
    real_remove = os.remove

    def busy(p, *a, **kw):
        if p.endswith("backend.log"):
            raise OSError("busy")
        return real_remove(p, *a, **kw)
    monkeypatch.setattr(os, "remove", busy)
    tempdirs.sweep(base=str(tmp_path))
    assert sorted(os.listdir(path)) == [tempdirs.OWNER_FILE, "backend.log"]
    monkeypatch.undo()
    assert tempdirs.sweep(base=str(tmp_path)) == [path] and not os.path.exists(path)
