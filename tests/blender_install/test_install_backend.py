"""From the extension zip alone, Install Backend gives a working backend on this machine's CPU: a real
install (pip; torch from local disk here) into a fresh Blender user folder, once per session, first
killed half-way and then completed by running it again; then the preference, a stylized clip through
the installed extension, the UI path (progress, cancel), Check + Reinstall of a broken environment,
and Remove. Tests in this file run in order and share that one environment."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import types
import zipfile

import pytest
from kino_install_support import SIDE, blender_env, fresh_user_folder, run_side

pytestmark = pytest.mark.slow


def env_of(userres):
    return userres / "extensions" / ".user" / "user_default" / "kino" / "backend-env"


def _kill_leftovers(env_dir) -> list:
    """The pip that the killed Blender had started runs in its own session: stop it by its id too."""
    killed = []
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if str(env_dir) in cmd and int(pid) != os.getpid():
            try:
                os.kill(int(pid), signal.SIGKILL)
                killed.append(cmd[:120])
            except ProcessLookupError:
                pass
    return killed


def _wait_for(path, text, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.5)
    return False


@pytest.fixture(scope="session")
def installed(tmp_path_factory, kino_zip):
    userres = fresh_user_folder(tmp_path_factory, kino_zip, "installed")
    env_dir = env_of(userres)
    log = env_dir.parent / "backend-install.log"
    t0 = time.monotonic()
    first = subprocess.Popen([sys.executable, str(SIDE), "install", "CPU"], env=blender_env(userres),
                             cwd=str(userres), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
    reached = _wait_for(log, "--- packages:", first, timeout=1200)
    time.sleep(15)  # pip is downloading / unpacking the rest: the worst moment to lose Blender
    os.killpg(first.pid, signal.SIGKILL)
    leftovers = _kill_leftovers(env_dir)
    first.wait(30)
    killed_after = time.monotonic() - t0
    after_kill = run_side(userres, "check", timeout=600)
    t1 = time.monotonic()
    second = run_side(userres, "install", "CPU", timeout=2400)
    return types.SimpleNamespace(userres=userres, env=env_dir, log=log, reached=reached, leftovers=leftovers,
                                 after_kill=after_kill, second=second, first_seconds=killed_after,
                                 second_seconds=time.monotonic() - t1)


def test_an_interrupted_install_is_completed_by_running_it_again(installed):
    assert installed.reached, "the first install never reached the packages step"
    check = installed.after_kill["summary"]
    assert check["action"] == "INSTALL" and any("did not finish" in p for p in check["problems"]), check
    second = installed.second
    assert second["result"] == ["FINISHED"] and second["state"] == "done", second["error"]
    python = str(installed.env / "bin" / "python")
    assert second["python_path"] == python  # the preference "Backend Python" points at the new environment
    assert second["message"].startswith("Backend installed for CPU: Python 3.11") and "torch 2.13.0" in \
        second["message"]
    log = installed.log.read_text()
    runs = log.split("=== Kino backend ")[1:]
    assert len(runs) == 2 and "=== done" not in runs[0] and "=== done" in runs[1]
    assert (installed.env / "kino-install.json").is_file()
    print(f"\ninstall: killed after {installed.first_seconds:.0f} s, completed in {installed.second_seconds:.0f} s")


def test_the_installed_backend_stylizes_through_the_extension(installed, tmp_path):
    res = run_side(installed.userres, "stylize", tmp_path, timeout=600)
    python = str(installed.env / "bin" / "python")
    assert res["start"] == ["FINISHED"], res["start_error"]
    assert res["python_path"] == python and res["backend_python"] == python
    assert res["code_root"].startswith(str(installed.userres))  # the extension's own copy of the backend code
    assert res["result"] == ["FINISHED"], res["error"]
    assert res["frames"] == [f"frame_{i:04d}.png" for i in range(1, 5)] and res["kino_json"]
    for shape, change, spread in res["stats"]:
        assert shape == [64, 96, 3] and change > 2.0 and spread > 10.0  # toon-stylized, not a copy
    assert res["cache"] and "toon" in res["looks"]  # the hello's looks are cached for the next session
    # the environment stands alone: nothing of the checkout is importable from it
    alone = subprocess.run([python, "-c", "import sys; print(sys.prefix); import kino_backend"],
                           capture_output=True, text=True, env=blender_env(installed.userres), cwd=str(tmp_path),
                           timeout=60)
    assert alone.stdout.strip() == str(installed.env) and "No module named 'kino_backend'" in alone.stderr


def test_ui_path_shows_progress_and_cancels(installed):
    res = run_side(installed.userres, "ui-progress", timeout=900)
    assert res["check_summary"]["ok"], res["check_summary"]
    shown = res["shown"]  # the status bar: preparing (when a tick catches it), then the step
    assert any(s.startswith("Kino backend: Step 1/1 Checking the backend") for s in shown), shown
    assert all(s.startswith(("Kino backend: Preparing: looking for the GPU", "Kino backend: Step 1/1 Checking"))
               for s in shown), shown
    assert res["cleared"]  # the status bar text goes when the job ends
    assert res["state"] == "cancelled" and "Install Backend again" in res["error"]
    drawn = res["drawn"]
    assert any(c[0] == "progress" and c[2] is not None and 0 < c[2] < 1 for c in drawn)
    assert any(c[0] == "label" and re.match(r"Step 2/6: Installing torch \(CPU build\)", c[1]) for c in drawn)
    labels = res["labels"]  # in the order the steps ran
    assert labels.index("Updating pip") < labels.index("Installing torch (CPU build)") == len(labels) - 1
    assert all(lb.startswith("Preparing: looking for the GPU") for lb in labels[:labels.index("Updating pip")])
    assert (installed.env / "kino-install.json").is_file()  # a cancelled re-run leaves the backend usable


def test_check_names_what_is_broken_and_reinstall_fixes_it(installed):
    site = installed.env / "lib" / "python3.11" / "site-packages"
    import shutil
    shutil.rmtree(site / "diffusers")  # installed (metadata present) but broken
    for path in list(site.glob("safetensors*")):  # gone entirely
        shutil.rmtree(path)
    broken = run_side(installed.userres, "check", timeout=600)["summary"]
    assert broken["action"] == "REPAIR"
    text = " ".join(broken["problems"])
    assert "Missing: safetensors" in text and "Installed but broken: diffusers" in text, text
    fixed = run_side(installed.userres, "install", "CPU", "repair", timeout=1200)
    assert fixed["result"] == ["FINISHED"], fixed["error"]
    assert "--force-reinstall --no-deps diffusers==0.42.1" in installed.log.read_text()
    again = run_side(installed.userres, "check", timeout=600)["summary"]
    assert again["ok"] and again["problems"] == [], again


def test_remove_frees_the_disk(installed):
    size = sum(p.lstat().st_size for p in installed.env.rglob("*") if p.is_file() and not p.is_symlink())
    assert size > 5e8
    res = run_side(installed.userres, "remove", timeout=600)
    assert res["result"] == ["FINISHED"] and not res["exists"]
    assert res["python_before"] == str(installed.env / "bin" / "python") and res["python_after"] == ""
    freed = float(res["message"].split(": ")[1].split(" GB")[0])
    assert abs(freed * 1e9 - size) < 0.05 * size
    print(f"\nremoved: {res['message']}")


def test_the_zip_carries_the_pins_and_says_what_it_downloads(kino_zip):
    names = zipfile.ZipFile(kino_zip).namelist()
    for name in ("requirements/pip.txt", "requirements/torch.txt", "requirements/backend.txt",
                 "requirements/backend-nodeps.txt", "kino_addon/protocol/looks_catalogue.json",
                 "backend/kino_backend/selfcheck.py"):
        assert name in names
    assert "requirements/blender.txt" not in names and "requirements/backend-dev.txt" not in names
    manifest = zipfile.ZipFile(kino_zip).read("blender_manifest.toml").decode()
    assert 'network = "Local backend socket; Install Backend pip-downloads torch (2 GB)"' in manifest
