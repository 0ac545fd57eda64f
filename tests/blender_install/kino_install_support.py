"""Helpers of the Install Backend tests (a uniquely named module: several tests/blender* folders run
in one pytest session, so tests must not import from ``conftest``). Each test drives Blender (bpy, in
.venv-blender) in its own process, with a fresh Blender user folder that holds only the zip-installed
extension; ``blender_side.py`` has the actions."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
SIDE = HERE / "blender_side.py"


def blender_env(userres) -> dict:
    """The artist's environment: nothing of the checkout on the path, only the user folder set."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["BLENDER_USER_RESOURCES"] = str(userres)
    return env


def results(text: str) -> list:
    return [json.loads(line[len("RESULT "):]) for line in text.splitlines() if line.startswith("RESULT ")]


def run_side(userres, *args, timeout=300) -> dict:
    """Run one action of blender_side.py in a fresh Blender process; return its RESULT."""
    proc = subprocess.run([sys.executable, str(SIDE), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=blender_env(userres), cwd=str(userres))
    found = results(proc.stdout)
    assert proc.returncode == 0 and found, f"{args[0]} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    out = found[-1]
    out["_stdout"] = proc.stdout
    return out


def build_zip(out) -> pathlib.Path:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "build_extension.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return pathlib.Path(proc.stdout.strip().splitlines()[-1])


def fresh_user_folder(tmp_path_factory, kino_zip, name="userres"):
    """A Blender user folder with only Kino's extension, installed from the zip."""
    userres = tmp_path_factory.mktemp(name)
    res = run_side(userres, "install-zip", kino_zip)
    assert res["installed"] == ["FINISHED"] and res["file"].startswith(str(userres))
    return userres
