"""The backend's install plan: one source of truth for scripts/setup_env.sh and Install Backend; the
torch build each device gets (CUDA / ROCm / MPS / CPU: tested by the pip command lines they would run),
the probes' parsing of nvidia-smi and rocminfo, and the preflight refusals in the artist's words."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kino_addon.core import backend_install as core
from kino_addon.core import backend_install_plan as plan
from kino_addon.core.backend_install_probe import parse_nvidia_smi, parse_rocminfo

REPO = Path(__file__).resolve().parents[2]
LINUX_CPU = plan.SystemInfo("Linux", "x86_64")
NVIDIA_SMI = """+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
|   0  NVIDIA GeForce RTX 4090        Off |   00000000:01:00.0 Off |                  Off |
"""
NVIDIA_LIST = "GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-5a1c7a4e-0b1f-4a53-9d8c-3f0d1e2a8b7c)\n"
ROCMINFO = """*******
Agent 1
*******
  Name:                    AMD Ryzen 9 7950X 16-Core Processor
  Device Type:             CPU
*******
Agent 2
*******
  Name:                    gfx1100
  Marketing Name:          Radeon RX 7900 XTX
  Device Type:             GPU
"""


def nvidia(cuda=(12, 4), driver="550.54.15"):
    return plan.SystemInfo("Linux", "x86_64", nvidia_gpus=("NVIDIA GeForce RTX 4090",), driver_version=driver,
                           cuda_driver=cuda)


def probes(info=LINUX_CPU, free=500.0, reachable=True, python=(3, 11, 7)):
    """Fake machine probes: nothing here touches the GPU, the network or a real Python."""
    return core.Probes(system=lambda: info,
                       find_python=lambda cands: ("/usr/bin/python3.11", []) if python[:2] == (3, 11) else
                       (None, [f"/usr/bin/python3: Python {python[0]}.{python[1]}"]),
                       python_version=lambda path: None, free_gb=lambda path: free,
                       reachable=lambda url, settings: (True, "") if reachable else
                       (False, f"{url} cannot be reached (Name or service not known)"),
                       pip_settings=lambda py: {})


def prepared(tmp_path, device="AUTO", **kw):
    req_kw = {k: kw.pop(k) for k in ("torch_index", "repair", "online") if k in kw}
    req = core.InstallRequest(env_dir=str(tmp_path / "env"), device=device, code_root=str(REPO), **req_kw)
    return core.prepare(req, probes(**kw))


def torch_cmd(prep):
    step = next(s for s in prep.steps if s.key == "torch")
    return list(step.argv[step.argv.index("install") + 1:])


def test_parse_nvidia_smi_and_rocminfo():
    names, driver, cuda = parse_nvidia_smi(NVIDIA_SMI, NVIDIA_LIST)
    assert names == ("NVIDIA GeForce RTX 4090",) and driver == "550.54.15" and cuda == (12, 4)
    assert parse_nvidia_smi("", "") == ((), "", None)
    assert parse_rocminfo(ROCMINFO) == ("gfx1100",)


def test_auto_detects_the_device():
    assert plan.choose_device("AUTO", nvidia())[0] == "CUDA"
    assert plan.choose_device("AUTO", plan.SystemInfo("Linux", "x86_64", rocm_gpus=("gfx1100",)))[0] == "ROCM"
    assert plan.choose_device("AUTO", plan.SystemInfo("Darwin", "arm64", mac_version=(14, 5)))[0] == "MPS"
    assert plan.choose_device("AUTO", plan.SystemInfo("Darwin", "x86_64"))[0] == "CPU"
    assert plan.choose_device("AUTO", LINUX_CPU)[0] == "CPU"


def test_cuda_rocm_mps_cpu_command_lines(tmp_path):
    py = str(tmp_path / "env" / "bin" / "python")
    assert torch_cmd(prepared(tmp_path, "CUDA", info=nvidia((12, 4)))) == [
        "--progress-bar", "raw", "-r", str(REPO / "requirements" / "torch.txt"),
        "--index-url", "https://download.pytorch.org/whl/cu126"]
    assert torch_cmd(prepared(tmp_path, "AUTO", info=nvidia((12, 9))))[-1] == "https://download.pytorch.org/whl/cu128"
    rocm = prepared(tmp_path, "ROCM", info=plan.SystemInfo("Linux", "x86_64", rocm_gpus=("gfx1100",)))
    assert torch_cmd(rocm)[-2:] == ["--index-url", "https://download.pytorch.org/whl/rocm6.4"]
    mps = prepared(tmp_path, "MPS", info=plan.SystemInfo("Darwin", "arm64", mac_version=(14, 5)))
    assert "--index-url" not in torch_cmd(mps) and mps.device == "MPS"  # Apple's default wheel from PyPI
    cpu = prepared(tmp_path, "CPU")
    assert torch_cmd(cpu)[-2:] == ["--index-url", "https://download.pytorch.org/whl/cpu"]
    # every plan: venv, pip, torch alone first, the rest, --no-deps pair, tokenizer, check; same pins files
    assert [s.key for s in cpu.steps] == ["venv", "pip", "torch", "packages", "nodeps", "tokenizer", "check"]
    assert cpu.steps[0].argv == ("/usr/bin/python3.11", "-m", "venv", str(tmp_path / "env"))
    nodeps = cpu.steps[4].argv
    assert nodeps[0] == py and "--no-deps" in nodeps and nodeps[-1].endswith("backend-nodeps.txt")
    assert cpu.steps[-1].argv[1:4] == ("-m", "kino_backend", "selfcheck") and "cpu" in cpu.steps[-1].argv


def test_old_nvidia_driver_and_wrong_devices_are_refused_with_what_to_do(tmp_path):
    with pytest.raises(core.InstallError, match=r"driver \(470.82\) supports CUDA 11.4, too old.*Update the NVIDIA "
                                                r"driver.*or install for CPU"):
        prepared(tmp_path, "CUDA", info=nvidia((11, 4), "470.82"))
    with pytest.raises(core.InstallError, match="No NVIDIA GPU was found.*choose CPU"):
        prepared(tmp_path, "CUDA")
    with pytest.raises(core.InstallError, match="Apple silicon"):
        prepared(tmp_path, "MPS")
    with pytest.raises(core.InstallError, match="ROCm needs Linux"):
        prepared(tmp_path, "ROCM", info=plan.SystemInfo("Windows", "AMD64"))
    with pytest.raises(core.InstallError, match=r"macOS 12.3 or newer"):
        prepared(tmp_path, "MPS", info=plan.SystemInfo("Darwin", "arm64", mac_version=(11, 7)))


def test_unreachable_index_cpu_falls_back_to_pip_config_gpu_says_what_to_do(tmp_path):
    cpu = prepared(tmp_path, "CPU", reachable=False)
    assert "--index-url" not in torch_cmd(cpu)
    assert any("pip's own configuration" in n for n in cpu.notes)
    with pytest.raises(core.InstallError, match=r"cannot reach the cu126 build of torch.*'Torch index'"):
        prepared(tmp_path, "CUDA", info=nvidia(), reachable=False)
    mirror = prepared(tmp_path, "CUDA", info=nvidia(), torch_index="https://mirror.studio/torch/cu126/")
    assert torch_cmd(mirror)[-2:] == ["--index-url", "https://mirror.studio/torch/cu126"]
    assert "--index-url" not in torch_cmd(prepared(tmp_path, "CUDA", info=nvidia(), torch_index="pip"))


def test_preflight_offline_no_python_no_disk(tmp_path):
    with pytest.raises(core.InstallError, match="Allow Online Access' is off.*installs nothing"):
        prepared(tmp_path, "CPU", online=False)
    with pytest.raises(core.InstallError, match=r"needs Python 3.11.*Python 3.13.*'Python for the backend'"):
        prepared(tmp_path, "CPU", python=(3, 13, 1))
    with pytest.raises(core.InstallError, match=r"Not enough disk space: the backend needs about 3.5 GB free in "
                                                r".*and 1.2 GB are free"):
        prepared(tmp_path, "CPU", free=1.2)
    with pytest.raises(core.InstallError, match=r"needs about 10.0 GB"):
        prepared(tmp_path, "CUDA", info=nvidia(), free=6.0)
    assert not (tmp_path / "env").exists()  # a refused install leaves nothing behind


def test_a_folder_with_other_files_is_never_cleared(tmp_path):
    env = tmp_path / "env"
    env.mkdir()
    (env / "thesis.txt").write_text("years of work")
    with pytest.raises(core.InstallError, match="already holds other files and is not a Python environment"):
        prepared(tmp_path, "CPU")
    assert (env / "thesis.txt").read_text() == "years of work"
    (env / "thesis.txt").unlink()
    (env / "pyvenv.cfg").write_text("home = /usr/bin\n")  # a broken environment is rebuilt with --clear
    assert prepared(tmp_path, "CPU").steps[0].argv[-2:] == ("--clear", str(env))


def test_repair_force_reinstalls_what_the_last_check_found_broken(tmp_path):
    env = tmp_path / "env"
    env.mkdir()
    report = {"imports": {"diffusers": {"dist": "diffusers", "ok": False, "error": "ImportError: x"},
                          "cv2": {"dist": "opencv-contrib-python-headless", "ok": True}},
              "pins": {"diffusers": {"want": "0.42.1", "have": "0.42.1", "ok": True}}}
    (env / core.CHECK).write_text(json.dumps(report))
    (env / "pyvenv.cfg").write_text("home = /usr/bin\n")
    prep = prepared(tmp_path, "CPU", repair=True)
    repair = next(s for s in prep.steps if s.key == "repair")
    assert repair.argv[-3:] == ("--force-reinstall", "--no-deps", "diffusers==0.42.1")
    assert [s.key for s in prep.steps][-3:] == ["repair", "tokenizer", "check"]


def test_stamp_follows_every_pin_file(tmp_path):
    req = tmp_path / "requirements"
    shutil.copytree(REPO / "requirements", req)
    before = plan.stamp(str(req))
    assert before == plan.stamp(str(req)) and len(before) == 16
    for name in ("torch.txt", "backend.txt", "backend-nodeps.txt"):
        path = req / name
        path.write_text("# a comment edit is no change\n" + path.read_text())
        assert plan.stamp(str(req)) == before, name
        path.write_text(path.read_text() + "tqdm==4.70.1\n")
        assert plan.stamp(str(req)) != before, name
        before = plan.stamp(str(req))
    assert plan.stamp(str(req), dev=True) != plan.stamp(str(req))


def test_setup_env_runs_the_same_plan():
    """scripts/setup_env.sh takes its commands and stamp from the plan module (one source of truth)."""
    text = (REPO / "scripts" / "setup_env.sh").read_text()
    assert "backend_install_plan" in text and "torch==" not in text and "requirements/backend.txt" not in text
    out = subprocess.run([sys.executable, "-m", "kino_addon.core.backend_install_plan", "commands", "--dev",
                          "--quiet", "--python", "VENV/bin/python"], capture_output=True, text=True, cwd=REPO,
                         timeout=60, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    files = [ln.split(" -r ")[-1].split()[0].rsplit("/", 1)[-1] for ln in lines if " -r " in ln]
    assert files == ["pip.txt", "torch.txt", "backend.txt", "backend-nodeps.txt", "backend-dev.txt"]
    assert all("--index-url" not in ln for ln in lines)  # the developer venv: torch from pip's own config
    assert "--no-deps" in lines[3] and "fetch-tokenizer" in lines[-1] and "|| echo" in lines[-1]
    stamp = subprocess.run([sys.executable, "-m", "kino_addon.core.backend_install_plan", "stamp", "--dev"],
                           capture_output=True, text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                           timeout=60)
    assert stamp.stdout.strip() == plan.stamp(dev=True)


def test_the_artists_install_leaves_the_test_tools_out():
    pins = plan.read_pins(str(REPO / "requirements" / "backend.txt"))
    assert not [p for p in pins if p.split("==")[0] in ("pytest", "hypothesis", "pytest-timeout")]
    assert plan.read_pins(str(REPO / "requirements" / "torch.txt")) == ["torch==2.13.0"]


def test_a_target_that_cannot_be_written_is_called_that(tmp_path):
    """A file where the folder should be, a pseudo file system: it said "not enough disk space (0.0 GB
    free)", or ended in a raw FileExistsError / PermissionError that left Install Backend "running"."""
    (tmp_path / "afile").write_text("")
    with pytest.raises(core.InstallError, match="is a file, not a folder"):
        core.prepare(core.InstallRequest(env_dir=str(tmp_path / "afile" / "env"), device="CPU", code_root=str(REPO)),
                     probes())
    with pytest.raises(core.InstallError, match="Cannot write to /proc"):
        core.prepare(core.InstallRequest(env_dir="/proc/kino-env", device="CPU", code_root=str(REPO)), probes())
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]  # the probe folder is gone


def test_a_runner_that_cannot_open_its_log_ends_failed_not_running(tmp_path, monkeypatch):
    from kino_addon.core.backend_install_run import StepRunner

    def no_log(self):
        raise PermissionError(13, "Permission denied", str(tmp_path / "env" / "backend-install.log"))
    monkeypatch.setattr(StepRunner, "start", no_log)
    req = core.InstallRequest(env_dir=str(tmp_path / "env"), device="CPU", code_root=str(REPO))
    job = core.InstallJob(req, probes()).start(threaded=False)
    assert job.poll().state == "failed" and not job.active
    assert "Cannot write to" in job.progress.message and "backend-install.log" in job.progress.message
