"""The crash/resume test: real ``scripts/kino stylize`` runs (Blender + backend) on real footage, killed
mid-way at several points (SIGKILL, and Ctrl-C once), then run again to the end: the result equals the
uninterrupted run (max difference 1 level) with the temporal stage on; Ctrl-C prints one line and no
traceback, kino.json never stays "running", and temp folders of killed runs are cleaned by the next."""
import json
import os
import signal
import stat
import subprocess
import tempfile
import time

import numpy as np
import pytest

from kino_media import REPO


def footage(name):
    base = os.environ.get("KINO_FOOTAGE") or str(REPO.parent / "shared" / "footage")
    path = os.path.join(base, name)
    if not os.path.exists(path):
        pytest.skip(f"real footage not found at {path} (../shared/footage is absent)")
    return path


def command(clip, out, frames="1:40"):
    return [str(REPO / "scripts" / "kino"), "stylize", clip, "--look", "toon", "--frames", frames,
            "--param", "temporal.deflicker=true", "--out", str(out)]


def frame_count(out) -> int:
    try:
        return sum(1 for n in os.listdir(out) if n.startswith("frame_") and n.endswith(".png"))
    except OSError:
        return 0


def run_until(cmd, out, frames: int, sig, timeout=400):
    """Start the command in its own process group with default signal handling, send ``sig`` to the
    whole group once ``frames`` frames are on disk; returns (returncode, stderr, the Kino temp folders
    the run made). The folders are found by appearing during the run: the process that owns them may be
    a child of the one started (``scripts/kino`` drives Blender in a child process)."""
    before = set(kino_temp_dirs())
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if frame_count(out) >= frames:
            os.killpg(proc.pid, sig)
            break
        time.sleep(0.05)
    proc.wait(timeout)
    err.seek(0)
    return proc.returncode, err.read().decode(errors="replace"), sorted(set(kino_temp_dirs()) - before)


def kino_temp_dirs() -> list:
    """Kino's per-run temp folders (``kino-bpy-*`` with an owner record) in the temp folder now."""
    base = tempfile.gettempdir()
    return [d for d in os.listdir(base)
            if d.startswith("kino-bpy-") and os.path.exists(os.path.join(base, d, ".kino-owner"))]


def still_there(dirs) -> list:
    return [d for d in dirs if os.path.exists(os.path.join(tempfile.gettempdir(), d))]


def read_frames(png, out, n):
    return [png.read_png(os.path.join(out, f"frame_{i:04d}.png")).astype(int) for i in range(1, n + 1)]


def test_killed_runs_resume_to_the_uninterrupted_result(tmp_path, kino_mods):
    clip = footage("carphone_tiny.mp4")
    full = subprocess.run(command(clip, tmp_path / "full"), capture_output=True, text=True, timeout=600)
    assert full.returncode == 0, full.stderr[-2000:]
    out = tmp_path / "resumed"
    kills, killed_dirs = [], []
    for at, sig in ((6, signal.SIGKILL), (16, signal.SIGINT), (27, signal.SIGKILL)):
        code, err, made = run_until(command(clip, out), out, at, sig)
        if code == 0:
            continue  # finished before the signal landed (a fast machine): nothing to resume
        kills.append((signal.Signals(sig).name, frame_count(out)))
        side = json.loads((out / "kino.json").read_text())
        if sig == signal.SIGINT:
            assert code == 130 and "Traceback" not in err, err[-2000:]
            last = err.strip().splitlines()[-1]
            assert "interrupted" in last and "frames kept" in last and "run the same command again" in last
            assert side["status"] == "interrupted" and not still_there(made)
        else:
            assert code == -signal.SIGKILL and side["status"] == "running"  # nothing runs on SIGKILL
            assert still_there(made), "the killed run's temp folder should be there until the next run"
            killed_dirs += made
    assert len(kills) >= 2, f"the runs were not interrupted mid-way: {kills}"
    last = subprocess.run(command(clip, out), capture_output=True, text=True, timeout=600)
    assert last.returncode == 0, last.stderr[-2000:]
    if kills[-1][0] == "SIGKILL":  # its kino.json still said "running": the next run notices
        assert "previous run of this folder was interrupted" in last.stderr
    assert json.loads((out / "kino.json").read_text())["status"] == "completed"
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ("frame_0001.png", "frame_0040.png", "kino.json"):  # the umask's mode, not mkstemp's 0600
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o666 & ~umask, name
    assert not still_there(killed_dirs), "temp folders of killed runs were not cleaned"
    a, b = read_frames(kino_mods.png, out, 40), read_frames(kino_mods.png, tmp_path / "full", 40)
    worst = max(int(np.abs(x - y).max()) for x, y in zip(a, b))
    print(f"crash/resume: {len(kills)} interruptions {kills}, max difference {worst}")
    assert worst <= 1, f"resumed frames differ from the uninterrupted run by up to {worst} levels"
