"""``scripts/gpu_smoke.py`` (the first step of scripts/gpu_checks.sh on a GPU machine) keeps working: here
it runs its checks in float32 on the CPU, as a real subprocess, on Kino's tiny models."""
import json
import os
import subprocess
import sys

REPO = os.path.join(os.path.dirname(__file__), "..", "..")


def test_gpu_smoke_script_runs_every_adapter_and_reports_json():
    proc = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "gpu_smoke.py")], capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in ("sd15_controlnet_lora_ipadapter_faceid", "sdxl_pulid", "sd15_animatediff_warped_noise"):
        check = result[name]
        assert check["finite"] and check["std"] > 0.5 and check["adapter_effect"] > 0.1, check
