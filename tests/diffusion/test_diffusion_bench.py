"""``bench diffusion``: the JSON contract, and that Kino's path computes the same frames as the plain
diffusers loop it is compared with (no timing assertions)."""
from __future__ import annotations

import json

import pytest

from kino_backend.benchmarks import diffusion as bench


def test_tiny_bench_json_and_same_frames_as_the_baseline(capsys):
    rc = bench.main(["--tiny", "--frames", "1", "--steps", "4", "--size", "64", "--json"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) == {"baseline_fps", "kino_fps", "ratio", "fast_fps", "peak_mem_mb", "device", "settings"}
    assert result["device"] == "cpu" and result["baseline_fps"] > 0 and result["fast_fps"] > 0
    assert result["ratio"] == pytest.approx(result["kino_fps"] / result["baseline_fps"], rel=0.01)
    settings = result["settings"]
    assert settings["steps"] == 4 and settings["strength"] == 0.5 and settings["fast"]["decoder"] == "taesd"
    assert settings["kino_vs_baseline_mean_abs_diff_0_255"] < 0.5  # same settings, same frames


def test_full_size_without_a_gpu_exits_2(capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: the full-size benchmark would run")
    assert bench.main(["--json"]) == 2
    assert "--tiny" in capsys.readouterr().err
