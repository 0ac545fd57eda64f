"""``bench train``: the JSON contract on the CPU with a tiny UNet (a test-size model; the real
benchmark is SD 1.5 size on a CUDA GPU), and the clear exit 2 without a GPU."""
import json
import os
import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", "kino_backend", "bench", "train", *args], capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))


def test_tiny_json_contract():
    proc = run("--tiny", "--json", "--steps", "3", "--warmup", "1")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result) == {"steps_per_s", "peak_mem_mb", "device", "settings"}
    assert result["steps_per_s"] > 0 and result["peak_mem_mb"] > 0 and result["device"] == "cpu"
    s = result["settings"]
    assert s["unet"] == "tiny" and s["rank"] == 16 and s["batch"] == 1 and s["steps"] == 3
    assert 0 < s["lora_params"] < s["unet_params"]


def test_full_size_without_gpu_exits_2():
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: the full-size benchmark would run")
    proc = run("--json")
    assert proc.returncode == 2
    assert "no CUDA GPU" in proc.stderr and "--tiny" in proc.stderr and proc.stdout == ""


def test_sd15_config_matches_the_real_unet_size():
    """The in-code SD 1.5 UNet config builds the real 859.5M-parameter architecture (meta device: no memory)."""
    import torch
    from diffusers import UNet2DConditionModel

    from kino_backend.benchmarks.train import SD15_UNET
    with torch.device("meta"):
        unet = UNet2DConditionModel(**SD15_UNET)
    assert sum(p.numel() for p in unet.parameters()) == 859_520_964
