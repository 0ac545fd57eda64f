"""``kino noise CLIP --mode fixed|warped [--frames A:B] --out DIR``: one float32 (4, H/8, W/8) field per
frame, numbered from 1, plus kino.json; bad input is one clear line."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kino_addon.core.kino_command import LAUNCHER as KINO
from noise_support import footage

pytestmark = pytest.mark.slow  # real clips through a subprocess


def _noise(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "kino_backend", "noise", *map(str, args)], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


def test_cli_writes_numbered_fields(tmp_path):
    clip = footage("carphone_tiny.mp4")  # 176x144: work size 192x128, latent 24x16
    out = {}
    for mode in ("fixed", "warped"):
        r = _noise(clip, "--mode", mode, "--frames", "3:7", "--seed", 4, "--out", tmp_path / mode, "--json")
        assert r.returncode == 0, r.stderr
        record = json.loads(r.stdout.strip().splitlines()[-1])
        names = sorted(p.name for p in (tmp_path / mode).iterdir())
        assert names == ["kino.json"] + [f"noise_{i:04d}.npy" for i in range(1, 6)]
        out[mode] = [np.load(tmp_path / mode / f"noise_{i:04d}.npy") for i in range(1, 6)]
        assert all(a.dtype == np.float32 and a.shape == (4, 16, 24) for a in out[mode])
        saved = json.loads((tmp_path / mode / "kino.json").read_text())
        assert saved["frames"] == {"first": 3, "count": 5} and saved["seed"] == 4 and saved["mode"] == mode
        assert record["noise_shape"] == [4, 16, 24]
        # a command that runs from anywhere, the clip's identity, Kino's version and the status
        assert saved["command"].startswith(f"{KINO} noise {os.path.abspath(clip)} --mode {mode} --seed 4 --frames 3:7")
        assert saved["command"].endswith(f"--out {tmp_path / mode}") and saved["status"] == "completed"
        assert saved["clip_identity"]["files_digest"] and saved["versions"]["kino"]
    assert all(np.array_equal(a, out["fixed"][0]) for a in out["fixed"])  # the same noise on every frame
    assert np.array_equal(out["warped"][0], out["fixed"][0])  # warped starts from it ...
    assert not np.array_equal(out["warped"][4], out["fixed"][4])  # ... and moves with the car


def test_cli_bad_input_is_one_clear_line(tmp_path):
    clip = footage("carphone_tiny.mp4")
    r = _noise(clip, "--mode", "inverted", "--out", tmp_path / "x")
    assert r.returncode == 1 and "needs --model" in r.stderr and "Traceback" not in r.stderr
    r = _noise(tmp_path / "missing.mp4", "--mode", "fixed", "--out", tmp_path / "y")
    assert r.returncode == 1 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "y").exists()
    r = _noise(clip, "--mode", "fixed", "--frames", "9:3", "--out", tmp_path / "z")
    assert r.returncode != 0 and "START" in r.stderr


def test_cli_failing_half_way_keeps_the_earlier_fields(tmp_path):
    """Fields written before a frame that cannot be read do not stay behind without their kino.json, and
    an earlier run's fields in the same folder stay as they were."""
    import cv2
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(4):
        cv2.imwrite(str(frames / f"f_{i:02d}.png"), np.full((64, 96, 3), 40 * i, np.uint8))
    assert _noise(frames, "--mode", "warped", "--out", tmp_path / "out").returncode == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    (frames / "f_02.png").write_bytes(b"\x89PNG\r\n\x1a\n not the rest")
    r = _noise(frames, "--mode", "fixed", "--out", tmp_path / "out")
    assert r.returncode == 1 and "f_02.png" in r.stderr and "Traceback" not in r.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    r = _noise(frames, "--mode", "fixed", "--out", tmp_path / "new")
    assert r.returncode == 1 and not (tmp_path / "new").exists()
