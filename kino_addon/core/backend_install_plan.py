"""The backend's install plan: which pinned requirements, in which order, with which torch build.

One source of truth for the developer set-up (``scripts/setup_env.sh``) and the add-on's **Install
Backend** (``kino.install_backend``, ``scripts/kino backend install``). The pins live in
``requirements/*.txt`` (the extension zip carries them); this module orders them:

1. ``pip`` (``requirements/pip.txt``),
2. ``torch`` alone (``requirements/torch.txt``) from the build that fits the device: the CUDA or ROCm
   index of download.pytorch.org, the CPU index on Linux/Windows, the default wheel on a Mac,
3. the pinned rest (``requirements/backend.txt``),
4. mediapipe and insightface with ``--no-deps`` (``requirements/backend-nodeps.txt``: one OpenCV only),
5. (developer venv only) the test tools (``requirements/backend-dev.txt``),
6. the CLIP tokenizer file (optional: a warning when offline).

pip's own configuration (index, extra indexes, find-links, proxy, certificates) always applies; the
torch step only adds ``--index-url`` for the build. Standard library only; nothing here runs pip
(``backend_install_run`` does). ``python -m kino_addon.core.backend_install_plan stamp|commands`` is
what ``scripts/setup_env.sh`` calls.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import sys
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

DEVICES = ("AUTO", "CUDA", "ROCM", "MPS", "CPU")
TORCH_INDEX_ROOT = "https://download.pytorch.org/whl"
#: CUDA builds of the pinned torch, newest first, with the CUDA version each needs from the driver.
CUDA_BUILDS: Tuple[Tuple[str, Tuple[int, int]], ...] = (("cu128", (12, 8)), ("cu126", (12, 6)))
#: CUDA 12.x builds also run on an older 12.x driver (minor version compatibility, driver 525+).
CUDA_MIN_DRIVER_MAJOR = 12
ROCM_BUILD = "rocm6.4"
MACOS_MPS_MIN = (12, 3)
PIP_SOURCE = "pip"  # torch_index value: take torch from pip's own configuration only

REQ_PIP, REQ_TORCH, REQ_BACKEND, REQ_NODEPS, REQ_DEV = (
    "pip.txt", "torch.txt", "backend.txt", "backend-nodeps.txt", "backend-dev.txt")
#: Free disk an install needs (environment + pip's unpacking), by torch build; estimates, in GB.
DISK_NEED_GB = {"CPU": 3.5, "MPS": 3.5, "CUDA": 10.0, "ROCM": 18.0}
#: Share of a cold install's time per step (measured on a 2-core machine, CPU build).
WEIGHTS = {"venv": 5, "pip": 2, "torch": 28, "packages": 56, "nodeps": 4, "dev": 1, "tokenizer": 1,
           "check": 3}


class PlanError(ValueError):
    """The chosen device cannot be installed here; the message says why and what to do."""


@dataclass(frozen=True)
class SystemInfo:
    """What the machine has, as far as the torch build is concerned (see ``backend_install_probe``)."""

    system: str = "Linux"  # platform.system()
    machine: str = "x86_64"  # platform.machine()
    nvidia_gpus: Tuple[str, ...] = ()
    driver_version: str = ""  # NVIDIA driver, e.g. "550.54.15"
    cuda_driver: Optional[Tuple[int, int]] = None  # the newest CUDA the NVIDIA driver supports
    rocm_gpus: Tuple[str, ...] = ()  # AMD GPU agents from rocminfo, e.g. "gfx1100"
    mac_version: Optional[Tuple[int, int]] = None

    @property
    def apple_silicon(self) -> bool:
        return self.system == "Darwin" and self.machine in ("arm64", "aarch64")


@dataclass(frozen=True)
class TorchSource:
    """Where torch comes from: ``index_url`` (None: pip's own configuration) and a label for people."""

    device: str
    build: str  # "cu128", "rocm6.4", "cpu", "default"
    index_url: Optional[str]
    fallback_to_pip: bool = False  # when the index cannot be reached, pip's own sources may serve
    note: str = ""


@dataclass(frozen=True)
class PlanStep:
    key: str  # venv, pip, torch, packages, nodeps, dev, tokenizer, check
    label: str  # what the artist reads while it runs
    argv: Tuple[str, ...]
    weight: float
    pip: bool = False  # pip output: parse its progress
    optional: bool = False  # a failure is a warning, the install goes on
    expected: int = 0  # top-level requirements this step names (for progress)
    env: Tuple[Tuple[str, str], ...] = field(default_factory=tuple)
    accept: Tuple[int, ...] = (0,)  # exit codes that mean the step did its job


def default_code_root() -> str:
    """The folder that holds ``kino_addon/``, ``backend/`` and ``requirements/`` (checkout or extension)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def requirements_dir(code_root: Optional[str] = None) -> str:
    return os.path.join(code_root or default_code_root(), "requirements")


def read_pins(path: str) -> List[str]:
    """Requirement lines of a file (comments and blank lines left out)."""
    with open(path, encoding="utf-8") as fh:
        lines = [ln.split("#", 1)[0].strip() for ln in fh]
    return [ln for ln in lines if ln]


def pin_files(dev: bool = False) -> List[str]:
    """The requirement files whose pins define a backend environment, in install order."""
    return [REQ_TORCH, REQ_BACKEND, REQ_NODEPS] + ([REQ_DEV] if dev else [])


def stamp(req_dir: Optional[str] = None, dev: bool = False) -> str:
    """16 hex digits that change whenever a pin or the order changes (the environment then needs an
    update); comments do not count."""
    req_dir = req_dir or requirements_dir()
    digest = hashlib.sha256()
    for name in pin_files(dev):
        digest.update(("\n".join([f"[{name}]"] + read_pins(os.path.join(req_dir, name))) + "\n").encode())
    return digest.hexdigest()[:16]


def env_python(env_dir: str, system: Optional[str] = None) -> str:
    """The Python of a virtual environment folder."""
    windows = (system or ("Windows" if os.name == "nt" else "")) == "Windows"
    return os.path.join(env_dir, "Scripts", "python.exe") if windows else os.path.join(env_dir, "bin", "python")


def site_packages(env_dir: str, system: Optional[str] = None, version: str = "3.11") -> str:
    windows = (system or ("Windows" if os.name == "nt" else "")) == "Windows"
    return os.path.join(env_dir, "Lib", "site-packages") if windows else \
        os.path.join(env_dir, "lib", f"python{version}", "site-packages")


# -- device and torch build ---------------------------------------------------------------------

def choose_device(requested: str, info: SystemInfo) -> Tuple[str, str]:
    """``(device, why)`` for a requested device (``AUTO`` detects); ``PlanError`` when it cannot work here."""
    requested = (requested or "AUTO").upper()
    if requested not in DEVICES:
        raise PlanError(f"unknown device {requested!r}; choose one of {', '.join(DEVICES)}")
    if requested == "AUTO":
        if info.nvidia_gpus:
            return "CUDA", f"NVIDIA GPU found: {info.nvidia_gpus[0]}"
        if info.rocm_gpus and info.system == "Linux":
            return "ROCM", f"AMD GPU found: {info.rocm_gpus[0]}"
        if info.apple_silicon:
            return "MPS", "Apple silicon Mac"
        return "CPU", "no supported GPU found (nvidia-smi / rocminfo list none): the processor will be used"
    if requested == "CUDA" and not info.nvidia_gpus:
        raise PlanError("No NVIDIA GPU was found (nvidia-smi is missing or lists no GPU). Install the NVIDIA "
                        "driver and try again, or choose CPU.")
    if requested == "ROCM" and (info.system != "Linux" or not info.rocm_gpus):
        raise PlanError("ROCm needs Linux with an AMD GPU that rocminfo lists. Install AMD's ROCm driver "
                        "and try again, or choose CPU.")
    if requested == "MPS" and not info.apple_silicon:
        raise PlanError("MPS is the GPU of Apple silicon Macs (M1 and newer); this machine is "
                        f"{info.system} {info.machine}. Choose CPU (or CUDA on an NVIDIA machine).")
    return requested, "as chosen"


def _cuda_build(info: SystemInfo) -> Tuple[str, str]:
    drv = info.cuda_driver
    if drv is None:
        return CUDA_BUILDS[0][0], "the driver's CUDA version could not be read; taking the newest build"
    if drv[0] < CUDA_MIN_DRIVER_MAJOR:
        oldest = CUDA_BUILDS[-1][1]
        raise PlanError(
            f"Your NVIDIA driver ({info.driver_version or 'unknown version'}) supports CUDA {drv[0]}.{drv[1]}, "
            f"too old for Kino's torch (CUDA {oldest[0]}.{oldest[1]}, driver 525 or newer; 560+ recommended). "
            "Update the NVIDIA driver (nvidia.com/drivers), restart, and press Install Backend again "
            "- or install for CPU.")
    for build, need in CUDA_BUILDS:
        if drv >= need:
            return build, f"driver supports CUDA {drv[0]}.{drv[1]}"
    return CUDA_BUILDS[-1][0], (f"driver supports CUDA {drv[0]}.{drv[1]}: runs through CUDA 12 compatibility; "
                                "a newer driver (560+) is recommended")


def torch_source(device: str, info: SystemInfo, override: Optional[str] = None) -> TorchSource:
    """The torch build for ``device`` (already chosen). ``override``: a mirror URL, or ``"pip"``."""
    if override:
        url = None if override.strip() == PIP_SOURCE else override.strip().rstrip("/")
        return TorchSource(device, "custom" if url else "pip config", url,
                           note=f"torch from {url or 'pip configuration'} (set in the preferences)")
    if device == "CUDA":
        build, why = _cuda_build(info)
        return TorchSource(device, build, f"{TORCH_INDEX_ROOT}/{build}", note=why)
    if device == "ROCM":
        return TorchSource(device, ROCM_BUILD, f"{TORCH_INDEX_ROOT}/{ROCM_BUILD}")
    if device == "MPS":
        if info.mac_version is not None and info.mac_version < MACOS_MPS_MIN:
            raise PlanError(f"The Apple GPU needs macOS {MACOS_MPS_MIN[0]}.{MACOS_MPS_MIN[1]} or newer "
                            f"(this Mac runs {info.mac_version[0]}.{info.mac_version[1]}). Update macOS, or "
                            "choose CPU.")
        return TorchSource(device, "default", None, note="Apple's default wheel (Metal/MPS built in)")
    if info.system == "Darwin":
        return TorchSource(device, "default", None, note="the default macOS wheel")
    return TorchSource(device, "cpu", f"{TORCH_INDEX_ROOT}/cpu", fallback_to_pip=True)


# -- the steps ----------------------------------------------------------------------------------

def pip_install(py: str, *args: str, quiet: bool = False, bar: str = "raw") -> Tuple[str, ...]:
    """``pip install``; ``bar`` "raw" prints "Progress N of M" lines (pip 24.1+), "off" for an older pip."""
    return (py, "-m", "pip", "install", *(("--quiet",) if quiet else ("--progress-bar", bar)), *args)


def torch_label(source: TorchSource) -> str:
    names = {"CPU": "CPU build", "CUDA": f"NVIDIA CUDA build {source.build}", "ROCM": f"AMD ROCm build {source.build}",
             "MPS": "Apple silicon build"}
    return names.get(source.device, source.build) if source.build not in ("custom", "pip config") else \
        f"{source.device} build from {source.build}"


def code_env(code_root: str) -> Tuple[Tuple[str, str], ...]:
    """Environment for commands that run Kino's backend code from ``code_root``."""
    return (("PYTHONPATH", os.pathsep.join([os.path.join(code_root, "backend"), code_root])),)


def pip_steps(py: str, source: TorchSource, *, code_root: Optional[str] = None, dev: bool = False,
              quiet: bool = False, index_url: Optional[str] = "use-source") -> List[PlanStep]:
    """The pip steps (and the tokenizer) for the environment whose Python is ``py``.

    ``index_url`` replaces the source's torch index (``None``: pip's own configuration), e.g. after the
    installer found the index unreachable and the source allows the fallback."""
    code_root = code_root or default_code_root()
    req = requirements_dir(code_root)
    url = source.index_url if index_url == "use-source" else index_url
    torch_args = ("--index-url", url) if url else ()
    steps = [
        PlanStep("pip", "Updating pip", pip_install(py, "-r", os.path.join(req, REQ_PIP), quiet=quiet, bar="off"),
                 WEIGHTS["pip"], pip=True, expected=1),
        PlanStep("torch", f"Installing torch ({torch_label(source)})",
                 pip_install(py, "-r", os.path.join(req, REQ_TORCH), *torch_args, quiet=quiet), WEIGHTS["torch"],
                 pip=True, expected=1),
        PlanStep("packages", "Installing diffusers, transformers, OpenCV and the rest",
                 pip_install(py, "-r", os.path.join(req, REQ_BACKEND), quiet=quiet), WEIGHTS["packages"], pip=True,
                 expected=len(read_pins(os.path.join(req, REQ_BACKEND)))),
        PlanStep("nodeps", "Installing mediapipe and insightface",
                 pip_install(py, "--no-deps", "-r", os.path.join(req, REQ_NODEPS), quiet=quiet), WEIGHTS["nodeps"],
                 pip=True, expected=len(read_pins(os.path.join(req, REQ_NODEPS)))),
    ]
    if dev:
        steps.append(PlanStep("dev", "Installing the test tools", pip_install(py, "-r", os.path.join(req, REQ_DEV),
                                                                       quiet=quiet), WEIGHTS["dev"], pip=True,
                              expected=len(read_pins(os.path.join(req, REQ_DEV)))))
    steps.append(PlanStep("tokenizer", "Installing the CLIP tokenizer file",
                          (py, "-m", "kino_backend", "models", "fetch-tokenizer", "--quiet"), WEIGHTS["tokenizer"],
                          optional=True, env=code_env(code_root)))
    return steps


def venv_step(base_python: str, env_dir: str, clear: bool = False) -> PlanStep:
    return PlanStep("venv", "Creating the backend's Python environment",
                    (base_python, "-m", "venv", *(("--clear",) if clear else ()), env_dir), WEIGHTS["venv"])


def check_step(py: str, device: str, code_root: str, env_dir: str) -> PlanStep:
    return PlanStep("check", "Checking the backend (imports, device, one stylized frame)",
                    (py, "-m", "kino_backend", "selfcheck", "--json", "--device", device.lower(),
                     "--requirements", requirements_dir(code_root), "--env", env_dir),
                    WEIGHTS["check"], env=code_env(code_root), accept=(0, 1))  # 1: it found problems


def shell_line(step: PlanStep) -> str:
    """The step as one POSIX shell command line (``env K=V`` prefix for its environment)."""
    argv = list(step.argv)
    if step.env:
        argv = ["env", *(f"{k}={v}" for k, v in step.env), *argv]
    line = shlex.join(argv)
    if step.optional:
        line += f" || echo {shlex.quote('kino setup: warning: ' + step.label + ' failed (offline?); rerun later')} >&2"
    return line


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kino_addon.core.backend_install_plan",
                                description="Print the backend environment's stamp or its pip commands.")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("stamp", help="hash of the pins (changes when a pin changes)")
    s.add_argument("--dev", action="store_true", help="the developer venv (with the test tools)")
    c = sub.add_parser("commands", help="the install commands, one shell line each")
    c.add_argument("--python", required=True, help="the environment's Python")
    c.add_argument("--dev", action="store_true")
    c.add_argument("--quiet", action="store_true", help="pip --quiet")
    c.add_argument("--torch-index", default=PIP_SOURCE, help="torch index URL, or 'pip' (default)")
    args = p.parse_args(argv)
    if args.cmd == "stamp":
        print(stamp(dev=args.dev))
        return 0
    source = torch_source("CPU", SystemInfo(), override=args.torch_index)
    for step in pip_steps(args.python, source, dev=args.dev, quiet=args.quiet):
        print(shell_line(step))
    return 0


if __name__ == "__main__":
    sys.exit(main())
